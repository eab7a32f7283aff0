"""The `riscv-pmp` model against PMP rules and Tock's PMPUserMPU arithmetic
(`arch/rv32i/src/pmp.rs`, release-2.2).

The property tests decode the hardware view (`entries`: pmpcfg octet and pmpaddr per
entry) independently and check that `check()` answers what a PMP holding those entries
would answer in U-mode (lowest matching entry wins, no match means no access).
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tockd.kernel.mpu import MpuConfig, MpuError, Permission
from tockd.kernel.mpu.cortex_m import TOCK_PERMISSIONS
from tockd.kernel.mpu.riscv_pmp import Mode, RiscvPmp, napot_pmpaddr, napot_region

RAM = 0x8000_0000
RW = Permission.READ_WRITE
R = Permission.READ
ACCESSES = (Permission.READ, Permission.WRITE, Permission.EXECUTE)
perms_st = st.sampled_from(sorted(TOCK_PERMISSIONS))
modes: list[Mode] = ["tor", "napot"]


def pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def up4(n: int) -> int:
    return (n + 3) // 4 * 4


# ---- an independent decoder of pmpcfg / pmpaddr --------------------------------------


def entry_range(entries: list[tuple[int, int]], i: int) -> tuple[int, int] | None:
    octet, pmpaddr = entries[i]
    mode = (octet >> 3) & 0b11
    if mode == 1:  # TOR: pmpaddr[i-1] <= a >> 2 < pmpaddr[i]
        return (entries[i - 1][1] << 2 if i else 0), pmpaddr << 2
    if mode == 3:  # NAPOT: trailing ones encode the size
        ones = (pmpaddr ^ (pmpaddr + 1)).bit_length() - 1
        base = (pmpaddr & ~((1 << ones) - 1)) << 2
        return base, base + (8 << ones)
    return None


def hw_access(entries: list[tuple[int, int]], addr: int) -> Permission:
    for i, (octet, _) in enumerate(entries):  # the lowest matching entry decides
        rng = entry_range(entries, i)
        if rng is not None and rng[0] <= addr < rng[1]:
            out = Permission.NONE
            if octet & 0b001:
                out |= Permission.READ
            if octet & 0b010:
                out |= Permission.WRITE
            if octet & 0b100:
                out |= Permission.EXECUTE
            return out
    return Permission.NONE


def assert_hardware_rules(mpu: RiscvPmp, cfg: MpuConfig) -> None:
    entries = mpu.entries(cfg)
    assert len(entries) == mpu.regions * (2 if mpu.mode == "tor" else 1)
    numbers = [r.number for r in cfg.regions()]
    assert len(numbers) == len(set(numbers)) <= mpu.regions
    for region in cfg.regions():
        assert region.start % 4 == 0
        assert region.end % 4 == 0
        assert region.opened() == ((region.start, region.end),)
        if mpu.mode == "napot" and region.size:
            assert pow2(region.size)
            assert region.size >= 8
            assert region.start % region.size == 0
    for i, (octet, _) in enumerate(entries):
        assert not octet & 0x80, "never locked"
        assert not (octet & 0b010 and not octet & 0b001), "W without R is reserved"
        rng = entry_range(entries, i)
        if mpu.mode == "napot":
            assert (octet >> 3) & 0b11 in (0, 3)
        elif i % 2 == 0:
            assert (octet >> 3) & 0b11 == 0, "even entries only hold a TOR start"
        if rng is not None:
            assert rng[0] <= rng[1]


def assert_check_matches_hardware(mpu: RiscvPmp, cfg: MpuConfig, probes: list[int]) -> None:
    entries = mpu.entries(cfg)
    points = set(probes)
    for region in cfg.regions():
        points.update((region.start - 1, region.start, region.end - 1, region.end))
    for addr in points:
        allowed = hw_access(entries, addr)
        for access in ACCESSES:
            assert mpu.check(cfg, addr, 1, access) == bool(allowed & access), (hex(addr), access)


# ---- allocate_app_memory_region / update ---------------------------------------------


@given(
    start=st.integers(RAM, RAM + 0x1000),
    avail=st.integers(0, 0x8000),
    min_total=st.integers(0, 0x4000),
    init_app=st.integers(0, 0x800),
    init_kernel=st.integers(0, 0x1000),
)
def test_app_block_is_tocks_tor_arithmetic(
    start: int, avail: int, min_total: int, init_app: int, init_kernel: int
) -> None:
    mpu, cfg = RiscvPmp(), MpuConfig()
    mem_start = up4(start)
    app_size = max(up4(init_app), 4)
    length = max(min_total, app_size + init_kernel)
    if mem_start + length > start + avail:
        with pytest.raises(MpuError, match="does not fit"):
            mpu.allocate_app_memory_region(start, avail, min_total, init_app, init_kernel, cfg)
        assert cfg.app_block is None
        return
    got = mpu.allocate_app_memory_region(start, avail, min_total, init_app, init_kernel, cfg)
    assert got == (mem_start, length)
    assert [r.opened() for r in cfg.app_regions] == [((mem_start, mem_start + app_size),)]
    assert_hardware_rules(mpu, cfg)


@settings(deadline=None)
@given(
    mode=st.sampled_from(modes),
    min_total=st.integers(0, 0x4000),
    init_kernel=st.integers(0, 0x800),
    steps=st.lists(st.tuples(st.integers(-16, 0x4100), st.integers(0, 0x4000)), max_size=12),
)
def test_break_updates_never_reach_kernel_memory(
    mode: Mode, min_total: int, init_kernel: int, steps: list[tuple[int, int]]
) -> None:
    mpu, cfg = RiscvPmp(mode=mode), MpuConfig()
    mem_start, length = mpu.allocate_app_memory_region(RAM, 1 << 20, min_total, 0, init_kernel, cfg)
    for brk_off, kbrk_off in steps:
        brk, kbrk = mem_start + brk_off, mem_start + min(kbrk_off, length)
        before = copy.deepcopy(cfg)
        try:
            mpu.update_app_memory_region(brk, kbrk, cfg)
        except MpuError:
            assert cfg == before
            continue
        (region,) = cfg.app_regions
        assert region.start == mem_start
        assert mem_start <= brk <= region.end <= kbrk
        if mode == "tor":
            assert region.end == up4(brk), "4-byte granularity, nothing more"
        assert mpu.check(cfg, mem_start, brk - mem_start, RW)
        assert not mpu.check(cfg, kbrk, 1, Permission.READ)
        assert_hardware_rules(mpu, cfg)


@given(brk_off=st.integers(0, 0x2000), kbrk_off=st.integers(0, 0x2000))
def test_tor_break_fails_exactly_when_rounding_passes_kernel_break(
    brk_off: int, kbrk_off: int
) -> None:
    mpu, cfg = RiscvPmp(), MpuConfig()
    mem_start, _ = mpu.allocate_app_memory_region(RAM, 0x4000, 0x4000, 0, 0x400, cfg)
    ok = up4(mem_start + brk_off) <= mem_start + kbrk_off
    try:
        mpu.update_app_memory_region(mem_start + brk_off, mem_start + kbrk_off, cfg)
    except MpuError:
        assert not ok
    else:
        assert ok


# ---- allocate_region -----------------------------------------------------------------


@given(
    start=st.integers(RAM, RAM + 0x1000),
    avail=st.integers(0, 0x400),
    size=st.integers(0, 0x400),
    perms=perms_st,
)
def test_tor_region_succeeds_exactly_when_tock_can(
    start: int, avail: int, size: int, perms: Permission
) -> None:
    mpu, cfg = RiscvPmp(), MpuConfig()
    slack = 0 if perms & Permission.WRITE else 3  # Tock issue #3544
    rounded = max(up4(size), 4)
    ok = up4(start) + rounded <= start + avail + slack
    try:
        region = mpu.allocate_region(start, avail, size, perms, cfg)
    except MpuError:
        assert not ok
        return
    assert ok
    assert (region.start, region.size) == (up4(start), rounded)


@given(
    ptr=st.one_of(st.integers(RAM, RAM + 0x1000), st.integers(0, 0x200).map(lambda k: RAM + 8 * k)),
    length=st.one_of(st.integers(1, 0x400), st.integers(0, 10).map(lambda e: 1 << e)),
)
def test_napot_window_needs_a_naturally_aligned_power_of_two(ptr: int, length: int) -> None:
    mpu, cfg = RiscvPmp(mode="napot"), MpuConfig()
    ok = pow2(length) and length >= 8 and ptr % length == 0
    try:
        region = mpu.allocate_region(ptr, length, length, RW, cfg)
    except MpuError:
        assert not ok
        return
    assert ok
    assert (region.start, region.size) == (ptr, length)
    assert mpu.entries(cfg)[0][1] == napot_pmpaddr(ptr, length)


op_st = st.one_of(
    st.tuples(
        st.just("alloc"),
        st.integers(RAM, RAM + 0x3000),
        st.integers(0, 0x800),
        st.integers(0, 0x400),
        perms_st,
    ),
    # naturally aligned powers of two, so that NAPOT mode gets some regions too
    st.builds(
        lambda k, e, perms: ("alloc", RAM + (k << e), 1 << e, 1 << e, perms),
        st.integers(0, 0x20),
        st.integers(2, 9),
        perms_st,
    ),
    st.tuples(st.just("brk"), st.integers(0, 0x2000), st.just(0), st.just(0), perms_st),
    st.tuples(st.just("remove"), st.integers(0, 7), st.just(0), st.just(0), perms_st),
)


@settings(deadline=None, max_examples=150)
@given(
    mode=st.sampled_from(modes),
    regions=st.sampled_from([2, 4, 8]),
    ops=st.lists(op_st, max_size=14),
    probes=st.lists(st.integers(RAM, RAM + 0x4000), max_size=20),
)
def test_granted_regions_obey_hardware_and_check_is_exact(
    mode: Mode,
    regions: int,
    ops: list[tuple[str, int, int, int, Permission]],
    probes: list[int],
) -> None:
    mpu, cfg = RiscvPmp(regions, mode=mode), MpuConfig()
    mem_start, length = mpu.allocate_app_memory_region(RAM + 0x1000, 0x2000, 0x800, 0, 0x100, cfg)
    mpu.allocate_flash_region(0x2000_0000, 0x1000, cfg)
    for kind, a, b, c, perms in ops:
        try:
            if kind == "alloc":
                region = mpu.allocate_region(a, b, c, perms, cfg)
                assert a <= region.start
                assert region.size >= c
                assert region.end <= a + b + (0 if perms & Permission.WRITE else 3)
            elif kind == "brk":
                mpu.update_app_memory_region(mem_start + a, mem_start + length - 0x100, cfg)
            elif cfg.extra:
                mpu.remove_region(cfg.extra[a % len(cfg.extra)], cfg)
        except MpuError:
            pass
        assert_hardware_rules(mpu, cfg)
    assert_check_matches_hardware(mpu, cfg, probes)


# ---- Tock's numbers ------------------------------------------------------------------


def test_app_region_starts_at_four_bytes_and_follows_the_break() -> None:
    mpu, cfg = RiscvPmp(), MpuConfig()
    assert mpu.allocate_app_memory_region(RAM + 2, 0x4000, 0x1000, 0, 0x300, cfg) == (
        RAM + 4,
        0x1000,
    )
    assert cfg.app_regions[0].opened() == ((RAM + 4, RAM + 8),)
    mpu.update_app_memory_region(RAM + 4 + 1001, RAM + 0x800, cfg)
    assert cfg.app_regions[0].opened() == ((RAM + 4, RAM + 4 + 1004),)
    assert mpu.entries(cfg)[:2] == [(0, (RAM + 4) >> 2), (0b01_011, (RAM + 1008) >> 2)]


def test_ipc_buffers_of_any_four_byte_multiple_work() -> None:
    mpu, cfg = RiscvPmp(), MpuConfig()
    assert mpu.allocate_region(0x8000_4040, 100, 100, RW, cfg).size == 100
    assert mpu.allocate_region(0x8000_4104, 100, 100, RW, cfg).size == 100
    assert mpu.allocate_region(0x8000_4200, 48, 48, RW, cfg).size == 48


def test_odd_lengths_fail_when_writable_and_stick_out_when_not() -> None:
    mpu, cfg = RiscvPmp(), MpuConfig()
    with pytest.raises(MpuError, match=r"size 101 .*rounds to 104 .*past the buffer end"):
        mpu.allocate_region(0x8000_4040, 101, 101, RW, cfg)
    # Tock's #3544 leniency: a read-only window may reach 3 bytes further
    region = mpu.allocate_region(0x8000_4040, 101, 101, R, cfg)
    assert region.opened() == ((0x8000_4040, 0x8000_4040 + 104),)


def test_regions_run_out() -> None:
    mpu, cfg = RiscvPmp(), MpuConfig()
    mpu.allocate_app_memory_region(RAM, 0x4000, 0x1000, 0, 0x300, cfg)
    mpu.allocate_flash_region(0x2000_0000, 0x1000, cfg)
    windows = [mpu.allocate_region(RAM + 0x8000 + 64 * i, 64, 64, RW, cfg) for i in range(2)]
    assert [w.number for w in windows] == [2, 3]
    with pytest.raises(MpuError, match=r"no free PMP region \(4 in use\)"):
        mpu.allocate_region(RAM + 0x9000, 64, 64, RW, cfg)
    mpu.remove_region(windows[0], cfg)
    assert mpu.allocate_region(RAM + 0x9000, 64, 64, RW, cfg).number == 2


def test_adjacent_regions_are_fine_overlapping_ones_are_not() -> None:
    mpu, cfg = RiscvPmp(), MpuConfig()
    mpu.allocate_region(RAM, 64, 64, RW, cfg)
    assert mpu.allocate_region(RAM + 64, 64, 64, R, cfg).start == RAM + 64
    with pytest.raises(MpuError, match="overlaps PMP region 0"):
        mpu.allocate_region(RAM + 60, 8, 8, R, cfg)


def test_lowest_slot_wins_where_the_break_grows_over_a_window() -> None:
    mpu, cfg = RiscvPmp(), MpuConfig()
    mem_start, length = mpu.allocate_app_memory_region(RAM, 0x4000, 0x1000, 0, 0x300, cfg)
    window = mpu.allocate_region(mem_start + 0x100, 64, 64, R, cfg)
    mpu.update_app_memory_region(mem_start + 0x400, mem_start + length - 0x300, cfg)
    assert mpu.check(cfg, window.start, 64, RW)  # the app region (slot 0) decides


def test_napot_mode() -> None:
    mpu, cfg = RiscvPmp(mode="napot"), MpuConfig()
    mem_start, length = mpu.allocate_app_memory_region(RAM + 4, 0x8000, 3000, 0, 0x300, cfg)
    assert (mem_start, length) == (RAM + 0x1000, 0x1000)
    assert cfg.app_regions[0].opened() == ((mem_start, mem_start + 8),)
    mpu.update_app_memory_region(mem_start + 100, mem_start + length - 0x300, cfg)
    assert cfg.app_regions[0].opened() == ((mem_start, mem_start + 128),)
    with pytest.raises(MpuError, match=r"rounds up to .*NAPOT"):
        mpu.update_app_memory_region(mem_start + 0xA00, mem_start + length - 0x300, cfg)
    with pytest.raises(MpuError, match=r"size 100 .*not representable"):
        mpu.allocate_region(0x8000_4040, 100, 100, RW, cfg)
    with pytest.raises(MpuError, match="rounds to 128 at 0x80004080"):
        mpu.allocate_region(0x8000_4040, 128, 128, RW, cfg)
    assert mpu.allocate_region(0x8000_4080, 128, 128, RW, cfg).size == 128


def test_napot_region_helper() -> None:
    assert napot_region(0x8000_0100, 256).opened() == ((0x8000_0100, 0x8000_0200),)
    with pytest.raises(MpuError, match="power of two >= 8"):
        napot_region(0x8000_0000, 4)
    with pytest.raises(MpuError, match="power of two"):
        napot_region(0x8000_0000, 96)
    with pytest.raises(MpuError, match="not aligned"):
        napot_region(0x8000_0040, 128)
    with pytest.raises(MpuError, match="power of two >= 16"):
        napot_region(0x8000_0000, 8, granularity=16)


@given(exp=st.integers(3, 20), k=st.integers(0, 1000))
def test_napot_encoding_decodes_back(exp: int, k: int) -> None:
    size = 1 << exp
    start = k * size
    entries = [(0b11_001, napot_pmpaddr(start, size))]
    assert entry_range(entries, 0) == (start, start + size)


def test_coarser_granularity_rounds_further() -> None:
    mpu, cfg = RiscvPmp(granularity=64), MpuConfig()
    assert mpu.allocate_region(RAM + 64, 100, 100, R, cfg).size == 128
    with pytest.raises(MpuError, match="64-byte granularity"):
        mpu.allocate_region(RAM + 0x400, 100, 100, RW, cfg)


def test_constructor_rejects_impossible_hardware() -> None:
    with pytest.raises(ValueError, match="granularity"):
        RiscvPmp(granularity=6)
    with pytest.raises(ValueError, match="at least 2 regions"):
        RiscvPmp(regions=1)
    with pytest.raises(ValueError, match="mode"):
        RiscvPmp(mode="na4")  # type: ignore[arg-type]
