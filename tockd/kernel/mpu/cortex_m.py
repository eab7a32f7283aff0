"""`cortex-m`: the ARMv7-M MPU as Tock's `arch/cortex-m/src/mpu.rs` programs it.

Hardware rules (ARMv7-M ARM B3.5; M0+ is ARMv6-M with a 256 B minimum):
- `regions` regions: 8 on M3/M4/M0+, 16 on M7.
- A region's size is a power of two, at least `min_region_size` (32 B, 256 B on M0+) and at
  most 4 GiB. Its base is aligned to its size.
- Each region has 8 equal subregions; a set SRD bit disables one. Tock uses subregions only
  when a subregion is at least 32 B, i.e. for regions of 256 B or more.
- An address in a disabled subregion falls through to lower-numbered regions. Where enabled
  regions overlap, the highest region number wins. No match means no user access.
- AP/XN give unprivileged code ReadWrite, ReadOnly or nothing (PrivilegedOnly), plus execute
  when XN is clear. An instruction fetch needs read access, so Tock's ExecuteOnly
  (PrivilegedOnly, XN clear) leaves a process no access at all.

Tock's use (`arch/cortex-m/src/mpu.rs`, release-2.2; docs/conformance.md):
- Slots 0 and 1 hold app RAM: two adjacent regions of P/2. Their subregions are enabled from
  the bottom as the break grows, so the break is exposed at P/16 granularity. When the first
  subregions would reach kernel memory Tock doubles the regions but not the block P it
  returns (`_doubled_regions`): then region 0 is the whole block, the granularity P/8.
- Flash and IPC windows take the lowest free slot >= 2.
- `allocate_region` never lets rounding push a region past the range it was given.

`Region.perms` keeps the Tock permission that was asked for. `accessible_ranges` reports
what the hardware lets a process do, with the priority rule applied.
"""

from __future__ import annotations

from tockd.kernel.mpu.base import MPU, MpuConfig, MpuError, Permission, Region

SUBREGIONS = 8
#: slots 0 and 1 are app RAM (Tock's APP_MEMORY_REGION_MAX_NUM = 1)
APP_SLOTS = 2
#: two regions of at least 256 B, the smallest size whose subregions Tock uses
MIN_APP_BLOCK = 512
#: smallest subregion Tock will use (so the smallest region with subregions is 256 B)
MIN_SUBREGION = 32
MAX_REGION_SIZE = 1 << 32

#: RASR.AP values Tock programs
AP_READ_WRITE = 0b011
AP_UNPRIV_READ_ONLY = 0b010
AP_PRIVILEGED_ONLY = 0b001

#: the five `mpu::Permissions` Tock knows; anything else has no encoding
TOCK_PERMISSIONS = frozenset(
    {
        Permission.READ_WRITE_EXECUTE,
        Permission.READ_WRITE,
        Permission.READ_EXECUTE,
        Permission.READ,
        Permission.EXECUTE,
    }
)


def next_pow2(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1), like Tock's `closest_power_of_two`."""
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def check_permission(perms: Permission) -> None:
    if perms not in TOCK_PERMISSIONS:
        raise MpuError(f"permission {perms!r} is not one of Tock's five mpu::Permissions")


def ap_xn(perms: Permission) -> tuple[int, int]:
    """The RASR (AP, XN) fields Tock writes for `perms` (`CortexMRegion::new`)."""
    if perms & Permission.WRITE:
        ap = AP_READ_WRITE
    elif perms & Permission.READ:
        ap = AP_UNPRIV_READ_ONLY
    else:
        ap = AP_PRIVILEGED_ONLY
    return ap, 0 if perms & Permission.EXECUTE else 1


def user_access(perms: Permission) -> Permission:
    """What unprivileged code may do in a region programmed with Tock permission `perms`."""
    ap, xn = ap_xn(perms)
    if ap == AP_READ_WRITE:
        out = Permission.READ_WRITE
    elif ap == AP_UNPRIV_READ_ONLY:
        out = Permission.READ
    else:
        return Permission.NONE  # an instruction fetch needs read access too
    return out | Permission.EXECUTE if not xn else out


def srd_mask(first: int, end: int) -> int:
    """SRD bits with subregions [first, end) enabled (a set bit disables one)."""
    mask = 0xFF
    for i in range(first, end):
        mask &= ~(1 << i)
    return mask


def region_srd(region: Region) -> int:
    """The SRD bits of a region, derived from the bytes it opens."""
    sub = region.size // SUBREGIONS
    mask = 0
    for i in range(SUBREGIONS):
        lo = region.start + i * sub
        if not any(start <= lo and lo + sub <= end for start, end in region.opened()):
            mask |= 1 << i
    return mask


def subtract(lo: int, hi: int, claimed: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [lo, hi) not covered by any of `claimed`."""
    pieces = [(lo, hi)]
    for c_lo, c_hi in claimed:
        rest: list[tuple[int, int]] = []
        for p_lo, p_hi in pieces:
            if c_hi <= p_lo or p_hi <= c_lo:
                rest.append((p_lo, p_hi))
                continue
            if p_lo < c_lo:
                rest.append((p_lo, c_lo))
            if c_hi < p_hi:
                rest.append((c_hi, p_hi))
        pieces = rest
    return pieces


def merge(ranges: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Sort [start, end, perms] triples and join touching ones with equal perms."""
    out: list[tuple[int, int, int]] = []
    for lo, hi, perms in sorted(ranges):
        if out and out[-1][1] == lo and out[-1][2] == perms:
            out[-1] = (out[-1][0], hi, perms)
        else:
            out.append((lo, hi, perms))
    return out


class CortexM(MPU):
    """ARMv7-M MPU: power-of-two regions with 8 subregions, app RAM in slots 0 and 1."""

    name = "cortex-m"
    initial_app_brk_size = 32  # room for the SVC exception frame

    def __init__(self, regions: int = 8, min_region_size: int = 32) -> None:
        if regions <= APP_SLOTS or regions > 16:
            raise ValueError(f"an ARMv7-M MPU has 3 to 16 regions here, not {regions}")
        if not is_pow2(min_region_size) or min_region_size < 32:
            raise ValueError(f"minimum region size {min_region_size} is not a power of two >= 32")
        self.region_count = regions
        self.regions = regions
        self.min_region_size = min_region_size

    # ---- app RAM: slots 0 and 1 -------------------------------------------------------

    def allocate_app_memory_region(
        self,
        unallocated_start: int,
        unallocated_size: int,
        min_memory_size: int,
        initial_app_size: int,
        initial_kernel_size: int,
        cfg: MpuConfig,
    ) -> tuple[int, int]:
        if cfg.app_block is not None:
            raise MpuError("app memory region already allocated for this process")
        self._refuse_overlap(unallocated_start, unallocated_size, cfg)
        wanted = max(min_memory_size, initial_app_size + initial_kernel_size)
        total = max(MIN_APP_BLOCK, next_pow2(wanted))
        if total > MAX_REGION_SIZE:
            raise MpuError(f"process block of {wanted} bytes rounds to {total}, above 4 GiB")
        half = total // 2
        start = round_up(unallocated_start, half)
        enabled = initial_app_size * SUBREGIONS // half + 1
        if start + enabled * (half // SUBREGIONS) > start + total - initial_kernel_size:
            half, start, enabled = self._doubled_regions(start, half, initial_app_size)
        if start + total > unallocated_start + unallocated_size:
            raise MpuError(
                f"process block of {total} bytes aligned to {half:#x} at {start:#x} does not "
                f"fit in {unallocated_size} bytes at {unallocated_start:#x}"
            )
        cfg.app_block = (start, total)
        cfg.app_regions = self._app_regions(start, half, enabled)
        return start, total

    @staticmethod
    def _doubled_regions(start: int, half: int, initial_app_size: int) -> tuple[int, int, int]:
        """The last enabled subregion would reach kernel memory: Tock doubles the two MPU
        regions (each now as large as the whole block), re-aligns the start to the new
        region size, and counts subregions again, but keeps the block it returns, and
        fits into the unallocated memory, at the original power of two P
        (arch/cortex-m/src/mpu.rs, `allocate_app_memory_region`, release-2.2). So region
        0 alone covers the block, region 1 lies past it, and the break is exposed at P/8
        granularity. Tock does not check the enabled end against the kernel break again:
        with a block nearly all kernel memory, region 0 may open the bottom of it. The
        kernel narrows the regions to the real break right after (`_reset_memory`), where
        `update_app_memory_region` does check. Returns (region size, start, enabled)."""
        half *= 2
        start = round_up(start, half)
        return half, start, initial_app_size * SUBREGIONS // half + 1

    def update_app_memory_region(self, app_break: int, kernel_break: int, cfg: MpuConfig) -> None:
        if cfg.app_block is None:
            raise MpuError("no app memory region allocated")
        # Tock sizes subregions from region 0 (`config.regions[0].location()`), which is
        # half the block, or all of it when allocation doubled the regions
        start, half = cfg.app_block[0], cfg.app_regions[0].size
        if app_break > kernel_break:
            raise MpuError(f"break {app_break:#x} above kernel break {kernel_break:#x}")
        if app_break < start:
            raise MpuError(f"break {app_break:#x} below memory start {start:#x}")
        sub = half // SUBREGIONS
        enabled = -(-(app_break - start) // sub)
        end = start + enabled * sub
        if end > kernel_break:
            raise MpuError(
                f"break {app_break:#x} rounds up to {end:#x} ({sub}-byte subregions), past "
                f"the kernel break {kernel_break:#x}"
            )
        if enabled > 2 * SUBREGIONS:
            raise MpuError(f"break {app_break:#x} beyond MPU regions 0 and 1 at {start:#x}")
        cfg.app_regions = self._app_regions(start, half, enabled)

    @staticmethod
    def _app_regions(start: int, half: int, enabled: int) -> list[Region]:
        """Regions 0 and 1 with `enabled` subregions on from the bottom. Tock leaves
        region 1 unused while none of its subregions is needed."""
        sub = half // SUBREGIONS
        out: list[Region] = []
        for number in range(APP_SLOTS):
            count = min(max(enabled - number * SUBREGIONS, 0), SUBREGIONS)
            if number > 0 and count == 0:
                break
            base = start + number * half
            out.append(
                Region(
                    base,
                    half,
                    Permission.READ_WRITE,
                    number,
                    ranges=((base, base + count * sub),),
                    detail=f"RAM {number} SRD 0b{srd_mask(0, count):08b}",
                )
            )
        return out

    # ---- flash and IPC windows: slots >= 2 --------------------------------------------

    def allocate_region(
        self,
        unallocated_start: int,
        unallocated_size: int,
        min_region_size: int,
        perms: Permission,
        cfg: MpuConfig,
    ) -> Region:
        check_permission(perms)
        limit = unallocated_start + unallocated_size
        self._refuse_overlap(unallocated_start, unallocated_size, cfg)
        number = self._free_slot(cfg)
        floor = self.min_region_size
        start = round_up(unallocated_start, floor)
        size = max(min_region_size, floor)
        region_start, region_size, srd = start, size, 0
        how = "a power-of-two region"
        if not is_pow2(size) or start % size:
            # Try a bigger region aligned below `start`, whose subregions are as large as
            # the biggest power of two dividing `start`, with only the needed ones enabled.
            # (start 0 is divisible by anything: Tock then sizes the region from `size`.)
            sub = start & -start if start else max(256, next_pow2(size)) // SUBREGIONS
            under = sub * SUBREGIONS
            under_start = start - start % under
            size = round_up(size, sub)
            if sub >= MIN_SUBREGION and under_start + under >= start + size:
                first = (start - under_start) // sub
                srd = srd_mask(first, first + size // sub)
                region_start, region_size = under_start, under
                how = f"{sub}-byte subregions of a {under}-byte region at {under_start:#x}"
            else:
                # No subregion fit: a power of two aligned to itself, further up.
                size = next_pow2(size)
                start += size - start % size
                region_start, region_size = start, size
        if start + size > limit:
            raise MpuError(
                f"size {min_region_size} at {unallocated_start:#x} not representable: rounds "
                f"to {size} at {start:#x} ({how}), past the buffer end {limit:#x}"
            )
        if region_size > MAX_REGION_SIZE:
            raise MpuError(f"region of {region_size} bytes is above the 4 GiB maximum")
        region = Region(
            region_start,
            region_size,
            perms,
            number,
            ranges=((start, start + size),),
            detail=f"slot {number} SRD 0b{srd:08b}",
        )
        cfg.extra.append(region)
        return region

    def _refuse_overlap(self, start: int, size: int, cfg: MpuConfig) -> None:
        """Tock refuses a range overlapping any region's location: the whole P/2 extent for
        app RAM regions, the logical (requested) range for the others."""
        for region in cfg.regions():
            app = region.number < APP_SLOTS
            lo, hi = (region.start, region.end) if app else region.opened()[0]
            if lo < start + size and start < hi:
                raise MpuError(
                    f"[{start:#x}, {start + size:#x}) overlaps MPU region {region.number} at "
                    f"[{lo:#x}, {hi:#x})"
                )

    def _free_slot(self, cfg: MpuConfig) -> int:
        used = {r.number for r in cfg.regions() if r.number >= APP_SLOTS}
        for number in range(APP_SLOTS, self.regions):
            if number not in used:
                return number
        raise MpuError(
            f"no free MPU region ({self.regions} in use: {APP_SLOTS} app RAM, {len(used)} "
            "flash/IPC)"
        )

    # ---- what the hardware does -------------------------------------------------------

    def compute_ranges(self, cfg: MpuConfig) -> list[tuple[int, int, int]]:
        """Ranges a process may touch, resolving overlaps as the hardware does: the highest
        slot wins (a break grown into region 1 can overlap an IPC window)."""
        claimed: list[tuple[int, int]] = []
        out: list[tuple[int, int, int]] = []
        for region in sorted(cfg.regions(), key=lambda r: r.number, reverse=True):
            access = int(user_access(region.perms))
            for lo, hi in region.opened():
                if hi <= lo:
                    continue
                if access:
                    out.extend((a, b, access) for a, b in subtract(lo, hi, claimed))
                claimed.append((lo, hi))
        return merge(out)

    def registers(self, cfg: MpuConfig) -> list[tuple[int, int]]:
        """(RBAR, RASR) for every slot, as `configure_mpu` would write them."""
        by_number = {r.number: r for r in cfg.regions()}
        out: list[tuple[int, int]] = []
        for number in range(self.regions):
            rbar = 0x10 | number  # VALID: the region number comes from RBAR
            region = by_number.get(number)
            if region is None:
                out.append((rbar, 0))
                continue
            ap, xn = ap_xn(region.perms)
            size_field = region.size.bit_length() - 2  # size = 2^(SIZE+1)
            rasr = 1 | size_field << 1 | region_srd(region) << 8 | ap << 24 | xn << 28
            out.append((rbar | (region.start & ~0x1F), rasr))
        return out
