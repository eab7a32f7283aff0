"""The `cortex-m` model against ARMv7-M rules and Tock's arithmetic
(`arch/cortex-m/src/mpu.rs`, release-2.2).

The property tests read the hardware view (`registers`: RBAR/RASR per slot) and decode it
independently: the slot rules hold, and `check()` answers exactly what an MPU programmed
with those registers would answer (highest enabled region wins, disabled subregions fall
through).
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tockd.kernel.mpu import MpuConfig, MpuError, Permission
from tockd.kernel.mpu.cortex_m import TOCK_PERMISSIONS, CortexM

RAM = 0x2000_0000
RW = Permission.READ_WRITE
R = Permission.READ
ACCESSES = (Permission.READ, Permission.WRITE, Permission.EXECUTE)
perms_st = st.sampled_from(sorted(TOCK_PERMISSIONS))


def pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def next_pow2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


# ---- an independent decoder of RBAR/RASR ---------------------------------------------


def hw_access(regs: list[tuple[int, int]], addr: int) -> Permission:
    """What an unprivileged access to `addr` may do on an MPU holding `regs`."""
    for rbar, rasr in reversed(regs):  # the highest region number wins
        if not rasr & 1:
            continue
        size = 2 << ((rasr >> 1) & 0x1F)
        base = rbar & ~0x1F
        if not base <= addr < base + size:
            continue
        if (rasr >> 8) >> ((addr - base) // (size // 8)) & 1:
            continue  # a disabled subregion falls through to lower regions
        ap, xn = (rasr >> 24) & 0b111, (rasr >> 28) & 1
        if ap == 0b011:
            out = Permission.READ_WRITE
        elif ap in (0b010, 0b110, 0b111):
            out = Permission.READ
        else:
            return Permission.NONE
        return out if xn else out | Permission.EXECUTE
    return Permission.NONE


def assert_hardware_rules(mpu: CortexM, cfg: MpuConfig) -> None:
    regs = mpu.registers(cfg)
    assert len(regs) == mpu.regions
    for number, (rbar, rasr) in enumerate(regs):
        assert rbar & 0x1F == 0x10 | number  # VALID + region number
        if not rasr & 1:
            continue
        size = 2 << ((rasr >> 1) & 0x1F)
        assert mpu.min_region_size <= size <= 1 << 32
        assert (rbar & ~0x1F) % size == 0, "base aligned to size"
        if (rasr >> 8) & 0xFF:
            assert size >= 256, "subregions only in regions of 256 B or more"
    numbers = [r.number for r in cfg.regions()]
    assert len(numbers) == len(set(numbers)) <= mpu.regions
    for region in cfg.regions():
        assert pow2(region.size)
        assert region.start % region.size == 0
        assert (region.number < 2) == (region in cfg.app_regions)
        sub = region.size // 8
        for lo, hi in region.opened():
            assert region.start <= lo <= hi <= region.end
            assert (lo - region.start) % sub == 0
            assert (hi - region.start) % sub == 0


def probe_addresses(mpu: CortexM, cfg: MpuConfig, extra: list[int]) -> set[int]:
    points = set(extra)
    for region in cfg.regions():
        for lo, hi in ((region.start, region.end), *region.opened()):
            points.update((lo - 1, lo, hi - 1, hi))
    for lo, hi, _ in mpu.accessible_ranges(cfg):
        points.update((lo - 1, lo, hi - 1, hi))
    return {p for p in points if p >= 0}


def assert_check_matches_hardware(
    mpu: CortexM, cfg: MpuConfig, probes: list[int], spans: list[tuple[int, int]]
) -> None:
    regs = mpu.registers(cfg)
    for addr in probe_addresses(mpu, cfg, probes):
        allowed = hw_access(regs, addr)
        for access in ACCESSES:
            assert mpu.check(cfg, addr, 1, access) == bool(allowed & access), (hex(addr), access)
    for addr, length in spans:
        for access in ACCESSES:
            want = all(hw_access(regs, a) & access for a in range(addr, addr + length))
            assert mpu.check(cfg, addr, length, access) == want


# ---- allocate_app_memory_region ------------------------------------------------------


@given(
    start=st.integers(0, 0x1_0000).map(lambda k: RAM + k),
    avail=st.integers(0, 0x4_0000),
    min_total=st.integers(0, 0x1_0000),
    init_app=st.integers(0, 0x1000),
    init_kernel=st.integers(0, 0x2000),
)
def test_app_block_is_tocks_power_of_two(
    start: int, avail: int, min_total: int, init_app: int, init_kernel: int
) -> None:
    """Tock's numbers (arch/cortex-m/src/mpu.rs, release-2.2), restated: the block is P,
    never more; when the first subregions would reach kernel memory the two regions
    double (region 0 = the whole block, start aligned to P) but P is what is returned and
    what must fit. (This test used to expect a doubled block of 2P: tockd did that, Tock
    does not.)"""
    mpu, cfg = CortexM(), MpuConfig()
    wanted = max(min_total, init_app + init_kernel)
    p = max(512, next_pow2(wanted))
    half = p // 2
    first_start = -(-start // half) * half
    first_end = (init_app * 8 // half + 1) * (half // 8)
    doubled = first_end > p - init_kernel
    region = p if doubled else half
    tock_start = -(-start // region) * region
    try:
        mem_start, size = mpu.allocate_app_memory_region(
            start, avail, min_total, init_app, init_kernel, cfg
        )
    except MpuError:
        assert tock_start + p > start + avail
        assert cfg.app_block is None
        assert not cfg.app_regions
        return
    assert (mem_start, size) == (tock_start, p)
    assert doubled or mem_start == first_start
    assert mem_start + p <= start + avail
    assert cfg.app_regions[0].size == region
    opened_end = max(hi for r in cfg.app_regions for _, hi in r.opened())
    assert opened_end == mem_start + (init_app * 8 // region + 1) * (region // 8)
    assert opened_end >= mem_start + init_app
    if not doubled:
        assert opened_end <= mem_start + p - init_kernel
    assert_hardware_rules(mpu, cfg)


@settings(deadline=None)
@given(
    min_total=st.integers(0, 0x8000),
    init_kernel=st.integers(0, 0x1000),
    steps=st.lists(st.tuples(st.integers(-64, 0x1_0100), st.integers(0, 0x1_0000)), max_size=12),
)
def test_break_updates_never_reach_kernel_memory(
    min_total: int, init_kernel: int, steps: list[tuple[int, int]]
) -> None:
    mpu, cfg = CortexM(), MpuConfig()
    mem_start, p = mpu.allocate_app_memory_region(RAM, 1 << 20, min_total, 32, init_kernel, cfg)
    sub = cfg.app_regions[0].size // 8  # P/16, or P/8 if the regions doubled
    for brk_off, kbrk_off in steps:
        brk, kbrk = mem_start + brk_off, mem_start + min(kbrk_off, p)
        before = copy.deepcopy(cfg)
        try:
            mpu.update_app_memory_region(brk, kbrk, cfg)
        except MpuError:
            assert cfg == before
            rounded = mem_start + -(-(brk - mem_start) // sub) * sub
            assert brk > kbrk or brk < mem_start or rounded > kbrk
            continue
        opened = sorted(rng for r in cfg.app_regions for rng in r.opened() if rng[1] > rng[0])
        end = opened[-1][1] if opened else mem_start
        assert end == mem_start + -(-(brk - mem_start) // sub) * sub, "P/16 granularity"
        assert end <= kbrk
        assert mpu.check(cfg, mem_start, brk - mem_start, RW)
        assert not mpu.check(cfg, kbrk, 1, Permission.READ)
        assert_hardware_rules(mpu, cfg)


# ---- allocate_region -----------------------------------------------------------------


def tock_ipc_ok(ptr: int, length: int) -> bool:
    """Which IPC buffers Tock's Cortex-M MPU can expose (`allocate_region` in
    `arch/cortex-m/src/mpu.rs`, release-2.2), restated independently."""
    if ptr % 32 or length < 32:
        return False
    if pow2(length) and ptr % length == 0:
        return True
    sub = ptr & -ptr
    if length % sub:
        return False
    region = 8 * sub
    return ptr + length <= ptr - ptr % region + region


@given(
    ptr=st.one_of(
        st.integers(1, 0x800).map(lambda k: RAM + 32 * k), st.integers(RAM, RAM + 0x1_0000)
    ),
    length=st.one_of(st.integers(1, 64).map(lambda k: 32 * k), st.integers(1, 2048)),
)
def test_ipc_window_succeeds_exactly_when_tock_can(ptr: int, length: int) -> None:
    mpu, cfg = CortexM(), MpuConfig()
    try:
        region = mpu.allocate_region(ptr, length, length, RW, cfg)
    except MpuError:
        assert not tock_ipc_ok(ptr, length)
        assert not cfg.extra
        return
    assert tock_ipc_ok(ptr, length)
    assert region.opened() == ((ptr, ptr + length),)
    assert cfg.extra == [region]
    assert region.number == 2


op_st = st.one_of(
    st.tuples(
        st.just("alloc"),
        st.integers(0, 0x1_0000).map(lambda k: RAM + k),
        st.integers(0, 0x2000),
        st.integers(0, 0x1000),
        perms_st,
    ),
    st.tuples(st.just("brk"), st.integers(0, 0x4000), st.just(0), st.just(0), perms_st),
    st.tuples(st.just("remove"), st.integers(0, 7), st.just(0), st.just(0), perms_st),
)


@settings(deadline=None, max_examples=150)
@given(
    regions=st.sampled_from([8, 16]),
    min_region=st.sampled_from([32, 256]),
    ops=st.lists(op_st, max_size=14),
    probes=st.lists(st.integers(RAM, RAM + 0x1_4000), max_size=20),
    spans=st.lists(st.tuples(st.integers(RAM, RAM + 0x1_4000), st.integers(1, 300)), max_size=4),
)
def test_granted_regions_obey_hardware_and_check_is_exact(
    regions: int,
    min_region: int,
    ops: list[tuple[str, int, int, int, Permission]],
    probes: list[int],
    spans: list[tuple[int, int]],
) -> None:
    mpu, cfg = CortexM(regions, min_region), MpuConfig()
    mem_start, p = mpu.allocate_app_memory_region(RAM + 0x4000, 0x1_0000, 0x4000, 32, 0x600, cfg)
    mpu.allocate_flash_region(0x4_0000, 0x1000, cfg)
    for kind, a, b, c, perms in ops:
        try:
            if kind == "alloc":
                region = mpu.allocate_region(a, b, c, perms, cfg)
                assert a <= region.opened()[0][0]
                assert region.opened()[0][1] <= a + b
                assert region.opened()[0][1] - region.opened()[0][0] >= c
            elif kind == "brk":
                mpu.update_app_memory_region(mem_start + a, mem_start + p - 0x600, cfg)
            elif cfg.extra:
                mpu.remove_region(cfg.extra[a % len(cfg.extra)], cfg)
        except MpuError:
            pass
        assert_hardware_rules(mpu, cfg)
    assert_check_matches_hardware(mpu, cfg, probes, spans)


# ---- Tock's numbers ------------------------------------------------------------------


def test_worked_example_from_tock_md() -> None:
    """R = 8192, K ~ 1.4 KiB -> P = 16 KiB, 8 KiB aligned, 1 KiB subregions."""
    mpu, cfg = CortexM(), MpuConfig()
    k = 1434
    mem_start, p = mpu.allocate_app_memory_region(RAM + 0x1234, 0x1_0000, 8192 + k, 32, k, cfg)
    assert (mem_start, p) == (RAM + 0x2000, 16 * 1024)
    assert [r.detail for r in cfg.app_regions] == ["RAM 0 SRD 0b11111110"]
    assert cfg.app_regions[0].opened() == ((mem_start, mem_start + 1024),)
    kbrk = mem_start + p - k
    mpu.update_app_memory_region(mem_start + 5000, kbrk, cfg)
    assert cfg.app_regions[0].opened() == ((mem_start, mem_start + 5 * 1024),)
    assert cfg.app_regions[0].detail == "RAM 0 SRD 0b11100000"
    assert mpu.check(cfg, mem_start + 5119, 1, RW)  # subregion granularity: a bit more
    assert not mpu.check(cfg, mem_start + 5120, 1, Permission.READ)
    mpu.update_app_memory_region(mem_start + 9000, kbrk, cfg)
    assert [r.detail for r in cfg.app_regions] == ["RAM 0 SRD 0b00000000", "RAM 1 SRD 0b11111110"]
    assert mpu.accessible_ranges(cfg) == [(mem_start, mem_start + 9 * 1024, int(RW))]
    rbar, rasr = mpu.registers(cfg)[0]
    assert rbar == mem_start | 0x10
    assert rasr == 1 | 12 << 1 | 0x00 << 8 | 0b011 << 24 | 1 << 28  # 8 KiB, RW, XN


def test_break_failure_changes_nothing() -> None:
    mpu, cfg = CortexM(), MpuConfig()
    mem_start, _ = mpu.allocate_app_memory_region(RAM, 0x1_0000, 8192 + 1434, 32, 1434, cfg)
    before = copy.deepcopy(cfg)
    with pytest.raises(MpuError, match=r"rounds up to .* past the kernel break"):
        mpu.update_app_memory_region(mem_start + 5000, mem_start + 5100, cfg)
    with pytest.raises(MpuError, match="above kernel break"):
        mpu.update_app_memory_region(mem_start + 5000, mem_start + 4000, cfg)
    assert cfg == before


def test_block_doubles_when_first_subregion_reaches_kernel_memory() -> None:
    """Tock's own arithmetic: 480 + 32 = 512 -> P = 512, regions of 256; 480 * 8 / 256 + 1
    = 16 subregions of 32 B end at 512 > 512 - 32, so region_size doubles to 512 (8
    subregions of 64 B, 480 * 8 / 512 + 1 = 8 enabled) and the start is re-aligned to
    512. The block returned stays 512: region 0 covers it whole, kernel memory included
    (Tock does not re-check; `update_app_memory_region` does)."""
    mpu, cfg = CortexM(), MpuConfig()
    assert mpu.allocate_app_memory_region(RAM, 4096, 0, 480, 32, cfg) == (RAM, 512)
    assert [(r.start, r.size) for r in cfg.app_regions] == [(RAM, 512)]
    assert cfg.app_regions[0].opened() == ((RAM, RAM + 512),)
    with pytest.raises(MpuError, match="past the kernel break"):
        mpu.update_app_memory_region(RAM + 480, RAM + 480, cfg)
    mpu.update_app_memory_region(RAM + 100, RAM + 480, cfg)
    assert cfg.app_regions[0].opened() == ((RAM, RAM + 128),), "64-byte granularity"
    # 32 + 100 -> P = 512; 32 * 8 / 256 + 1 = 2 subregions of 32 B end at 64, under 412:
    # no doubling, the start rounds up to 256
    cfg = MpuConfig()
    assert mpu.allocate_app_memory_region(RAM + 4, 4096, 0, 32, 100, cfg) == (RAM + 256, 512)
    assert cfg.app_regions[0].size == 256
    # 32 + 460 -> P = 512; 64 > 512 - 460 = 52: the regions double to 512 and the start,
    # RAM + 0x104, is aligned to 512 (not 256), while only 512 bytes must fit
    cfg = MpuConfig()
    assert mpu.allocate_app_memory_region(RAM + 0x104, 0x3FC, 0, 32, 460, cfg) == (
        RAM + 0x200,
        512,
    )
    assert cfg.app_regions[0].opened() == ((RAM + 0x200, RAM + 0x240),)


def test_block_that_does_not_fit_fails() -> None:
    with pytest.raises(MpuError, match="does not fit"):
        CortexM().allocate_app_memory_region(RAM + 1, 1024, 600, 32, 64, MpuConfig())


IPC = 0x2000_4040  # 64-aligned, not 128-aligned


def test_ipc_64_byte_buffer_at_64_aligned_address_works() -> None:
    mpu, cfg = CortexM(), MpuConfig()
    region = mpu.allocate_region(IPC, 64, 64, RW, cfg)
    assert (region.start, region.size, region.number) == (IPC, 64, 2)
    assert region.detail == "slot 2 SRD 0b00000000"


@pytest.mark.parametrize(("length", "rounded"), [(100, 128), (48, 64), (96, 128), (65, 128)])
def test_ipc_buffer_not_multiple_of_64_fails(length: int, rounded: int) -> None:
    mpu, cfg = CortexM(), MpuConfig()
    with pytest.raises(MpuError, match=f"size {length} .*rounds to {rounded} .*past the buffer"):
        mpu.allocate_region(IPC, length, length, RW, cfg)
    assert not cfg.extra


def test_ipc_128_bytes_at_64_aligned_address_uses_subregions() -> None:
    # lowest set bit of 0x20004040 is 64: a 512 B region at 0x20004000 with
    # subregions 1 and 2 enabled covers exactly [0x20004040, 0x200040c0).
    mpu, cfg = CortexM(), MpuConfig()
    region = mpu.allocate_region(IPC, 128, 128, RW, cfg)
    assert (region.start, region.size) == (0x2000_4000, 512)
    assert region.opened() == ((IPC, IPC + 128),)
    assert region.detail == "slot 2 SRD 0b11111001"
    assert mpu.check(cfg, IPC, 128, RW)
    assert not mpu.check(cfg, IPC - 1, 1, Permission.READ)
    assert not mpu.check(cfg, IPC + 128, 1, Permission.READ)


def test_ipc_128_bytes_past_the_enclosing_region_fails() -> None:
    # at 0x200041c0 the 512 B region ends at 0x20004200 < end: a power of two
    # aligned to itself would start at 0x20004200, past the buffer.
    with pytest.raises(MpuError, match=r"rounds to 128 at 0x20004200"):
        CortexM().allocate_region(0x2000_41C0, 128, 128, RW, MpuConfig())


def test_m0plus_minimum_region_refuses_small_buffers() -> None:
    mpu = CortexM(min_region_size=256)
    with pytest.raises(MpuError, match="rounds to 256"):
        mpu.allocate_region(0x2000_4000, 64, 64, RW, MpuConfig())
    assert mpu.allocate_region(0x2000_4000, 256, 256, RW, MpuConfig()).size == 256


def test_slots_run_out_after_flash_and_five_windows() -> None:
    mpu, cfg = CortexM(), MpuConfig()
    mpu.allocate_app_memory_region(RAM, 0x1_0000, 4096, 32, 1024, cfg)
    mpu.allocate_flash_region(0x4_0000, 0x1000, cfg)
    windows = [mpu.allocate_region(RAM + 0x2_0000 + 64 * i, 64, 64, RW, cfg) for i in range(5)]
    assert [w.number for w in windows] == [3, 4, 5, 6, 7]
    with pytest.raises(MpuError, match=r"no free MPU region \(8 in use"):
        mpu.allocate_region(RAM + 0x3_0000, 64, 64, RW, cfg)
    mpu.remove_region(windows[1], cfg)
    assert mpu.allocate_region(RAM + 0x3_0000, 64, 64, RW, cfg).number == 4


def test_overlapping_requests_are_refused() -> None:
    mpu, cfg = CortexM(), MpuConfig()
    mem_start, _ = mpu.allocate_app_memory_region(RAM, 0x1_0000, 4096, 32, 1024, cfg)
    mpu.allocate_region(RAM + 0x2_0000, 64, 64, RW, cfg)
    with pytest.raises(MpuError, match="overlaps MPU region 2"):
        mpu.allocate_region(RAM + 0x2_0020, 64, 64, RW, cfg)
    # region 0's whole extent counts, enabled subregions or not
    with pytest.raises(MpuError, match="overlaps MPU region 0"):
        mpu.allocate_region(mem_start + 1024, 64, 64, R, cfg)
    with pytest.raises(MpuError, match="already allocated"):
        mpu.allocate_app_memory_region(RAM + 0x3_0000, 0x1_0000, 4096, 32, 1024, cfg)


def test_highest_slot_wins_where_the_break_grows_over_a_window() -> None:
    mpu, cfg = CortexM(), MpuConfig()
    mem_start, p = mpu.allocate_app_memory_region(RAM, 0x1_0000, 4096, 32, 256, cfg)
    # region 1 is unused while the break is low, so Tock lets a window in there
    window = mpu.allocate_region(mem_start + p // 2, 256, 256, R, cfg)
    mpu.update_app_memory_region(mem_start + p - 512, mem_start + p - 256, cfg)
    assert mpu.check(cfg, window.start, 256, R)
    assert not mpu.check(cfg, window.start, 1, Permission.WRITE)  # slot 2 beats slot 1
    assert mpu.check(cfg, window.start + 256, 16, RW)


def test_execute_only_gives_a_process_nothing() -> None:
    mpu, cfg = CortexM(), MpuConfig()
    mpu.allocate_region(RAM, 64, 64, Permission.EXECUTE, cfg)
    assert mpu.accessible_ranges(cfg) == []
    assert (mpu.registers(cfg)[2][1] >> 24) & 0b111 == 0b001  # PrivilegedOnly


def test_permissions_outside_tocks_five_are_refused() -> None:
    with pytest.raises(MpuError, match="mpu::Permissions"):
        CortexM().allocate_region(RAM, 64, 64, Permission.WRITE, MpuConfig())


def test_constructor_rejects_impossible_hardware() -> None:
    with pytest.raises(ValueError, match="regions"):
        CortexM(regions=2)
    with pytest.raises(ValueError, match="power of two"):
        CortexM(min_region_size=48)
