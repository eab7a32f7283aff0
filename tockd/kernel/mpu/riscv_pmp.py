"""`riscv-pmp`: RISC-V PMP as Tock's `PMPUserMPU` (`arch/rv32i/src/pmp.rs`) programs it.

Hardware rules (RISC-V privileged spec, section 3.7):
- Each entry is a `pmpaddr` register (the address >> 2) plus a `pmpcfg` octet (R, W, X, the A
  mode, L). The platform's granularity G (a power of two >= 4 B) is the finest step.
- TOR: entry i matches pmpaddr[i-1] <= addr>>2 < pmpaddr[i]. Tock pairs entries: 2k is OFF
  and holds the start, 2k+1 is TOR and holds the end. So a region costs two entries and
  `MAX_REGIONS <= entries / 2`. Start and end are multiples of G, and there is no
  power-of-two rule. start == end matches nothing.
- NAPOT: one entry. The size is a power of two >= 8 B (and >= G), the base is aligned to
  the size, and pmpaddr = (base + size/2 - 1) >> 2.
- The lowest-numbered matching entry decides. In U-mode no match means no access. X without
  R is execute-only; W without R is reserved, and Tock never asks for it.

Tock's use (`PMPUserMPU` in `arch/rv32i/src/pmp.rs`, release-2.2):
- TOR only, with 4 B granularity. App RAM takes one region and flash another; the rest are
  for IPC windows.
- App RAM is [start, start + round_up(init_app, 4)), at least 4 B. Its end follows the
  rounded-up break.
- `allocate_region` lets non-writable regions stick out up to 3 bytes past the range they
  were given (issue #3544, kept for compatibility).

`mode="napot"` is tockd's own experiment, not Tock: every region must be NAPOT. The app block
is then a power of two aligned to itself, so the region up to the break can grow by
doubling. `regions` counts user regions in both modes; a NAPOT region costs one entry.
"""

from __future__ import annotations

from typing import Literal

from tockd.kernel.mpu.base import MPU, MpuConfig, MpuError, Permission, Region
from tockd.kernel.mpu.cortex_m import (
    check_permission,
    is_pow2,
    merge,
    next_pow2,
    round_up,
    subtract,
)

Mode = Literal["tor", "napot"]

#: pmpcfg octet fields
CFG_R, CFG_W, CFG_X = 0b001, 0b010, 0b100
A_OFF, A_TOR, A_NAPOT = 0, 1, 3
NAPOT_MIN = 8


def cfg_bits(perms: Permission) -> int:
    """The R/W/X bits of a pmpcfg octet (a different bit order from `Permission`)."""
    out = 0
    if perms & Permission.READ:
        out |= CFG_R
    if perms & Permission.WRITE:
        out |= CFG_W
    if perms & Permission.EXECUTE:
        out |= CFG_X
    return out


def napot_region(
    start: int,
    size: int,
    perms: Permission = Permission.READ,
    number: int = 0,
    granularity: int = 4,
    detail: str = "",
) -> Region:
    """A NAPOT region, or MpuError naming the NAPOT rule [start, start+size) breaks."""
    smallest = max(NAPOT_MIN, granularity)
    if not is_pow2(size) or size < smallest:
        raise MpuError(f"NAPOT size {size} is not a power of two >= {smallest}")
    if start % size:
        raise MpuError(f"NAPOT base {start:#x} is not aligned to its size {size}")
    return Region(start, size, perms, number, detail=detail or f"NAPOT slot {number}")


def napot_pmpaddr(start: int, size: int) -> int:
    """The pmpaddr value that encodes a NAPOT region."""
    return (start + (size - 1) // 2) >> 2


class RiscvPmp(MPU):
    """RISC-V PMP: TOR regions at `granularity`, as Tock's PMPUserMPU (or NAPOT, opt-in)."""

    name = "riscv-pmp"
    initial_app_brk_size = 0

    def __init__(self, regions: int = 4, granularity: int = 4, mode: Mode = "tor") -> None:
        if regions < 2:
            raise ValueError(f"PMPUserMPU needs at least 2 regions (RAM, flash), not {regions}")
        if not is_pow2(granularity) or granularity < 4:
            raise ValueError(f"PMP granularity {granularity} is not a power of two >= 4")
        if mode not in ("tor", "napot"):
            raise ValueError(f"PMP mode {mode!r} is neither 'tor' nor 'napot'")
        self.region_count = regions
        self.regions = regions
        self.granularity = granularity
        self.mode: Mode = mode

    @property
    def napot_min(self) -> int:
        return max(NAPOT_MIN, self.granularity)

    def _region(self, start: int, end: int, perms: Permission, number: int, what: str) -> Region:
        if self.mode == "napot" and end > start:
            return napot_region(
                start, end - start, perms, number, self.granularity, f"{what} NAPOT slot {number}"
            )
        mode = "TOR" if self.mode == "tor" else "off (empty)"
        return Region(start, end - start, perms, number, detail=f"{what} {mode} slot {number}")

    # ---- app RAM -----------------------------------------------------------------------

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
        number = self._free_slot(cfg)
        g = self.granularity
        if self.mode == "tor":
            start = round_up(unallocated_start, g)
            app_size = max(round_up(initial_app_size, g), g)
            length = max(min_memory_size, app_size + initial_kernel_size)
            how = f"{g}-byte aligned"
        else:
            # The region up to the break must stay NAPOT as it grows: a power-of-two block
            # aligned to itself lets it double in place, never past the block.
            app_size = max(next_pow2(initial_app_size), self.napot_min)
            length = next_pow2(max(min_memory_size, app_size + initial_kernel_size))
            start = round_up(unallocated_start, length)
            how = f"aligned to its size {length:#x}"
        if start + length > unallocated_start + unallocated_size:
            raise MpuError(
                f"process block of {length} bytes {how} at {start:#x} does not fit in "
                f"{unallocated_size} bytes at {unallocated_start:#x}"
            )
        self._refuse_overlap(start, start + length, cfg)
        cfg.app_block = (start, length)
        cfg.app_regions = [
            self._region(start, start + app_size, Permission.READ_WRITE, number, "app RAM")
        ]
        return start, length

    def update_app_memory_region(self, app_break: int, kernel_break: int, cfg: MpuConfig) -> None:
        if cfg.app_block is None or not cfg.app_regions:
            raise MpuError("no app memory region allocated")
        start, _ = cfg.app_block
        if app_break < start:
            raise MpuError(f"break {app_break:#x} below memory start {start:#x}")
        if self.mode == "tor":
            end = round_up(app_break, self.granularity)
            how = f"{self.granularity}-byte granularity"
        else:
            size = app_break - start
            end = start + (max(next_pow2(size), self.napot_min) if size else 0)
            how = "NAPOT power of two"
        if end > kernel_break:
            raise MpuError(
                f"break {app_break:#x} rounds up to {end:#x} ({how}), past the kernel break "
                f"{kernel_break:#x}"
            )
        number = cfg.app_regions[0].number
        cfg.app_regions = [self._region(start, end, Permission.READ_WRITE, number, "app RAM")]

    # ---- flash and IPC windows ---------------------------------------------------------

    def allocate_region(
        self,
        unallocated_start: int,
        unallocated_size: int,
        min_region_size: int,
        perms: Permission,
        cfg: MpuConfig,
    ) -> Region:
        check_permission(perms)
        number = self._free_slot(cfg)
        limit = unallocated_start + unallocated_size
        if self.mode == "tor":
            g = self.granularity
            start = round_up(unallocated_start, g)
            size = max(round_up(min_region_size, g), g)
            # Tock's #3544 leniency: a region without write access may end up to 3 bytes
            # (granularity - 1) past the range.
            slack = 0 if perms & Permission.WRITE else g - 1
            how = f"{g}-byte granularity"
        else:
            size = max(next_pow2(min_region_size), self.napot_min)
            start = round_up(unallocated_start, size)
            slack = 0
            how = "NAPOT: power of two aligned to its size"
        if start + size > limit + slack:
            raise MpuError(
                f"size {min_region_size} at {unallocated_start:#x} not representable: rounds "
                f"to {size} at {start:#x} ({how}), past the buffer end {limit:#x}"
            )
        self._refuse_overlap(start, start + size, cfg)
        region = self._region(start, start + size, perms, number, "extra")
        cfg.extra.append(region)
        return region

    def _refuse_overlap(self, start: int, end: int, cfg: MpuConfig) -> None:
        """Tock compares against each configured region's current extent."""
        for region in cfg.regions():
            if region.size and start < end and region.start < end and start < region.end:
                raise MpuError(
                    f"[{start:#x}, {end:#x}) overlaps PMP region {region.number} at "
                    f"[{region.start:#x}, {region.end:#x})"
                )

    def _free_slot(self, cfg: MpuConfig) -> int:
        used = {r.number for r in cfg.regions()}
        for number in range(self.regions):
            if number not in used:
                return number
        raise MpuError(f"no free PMP region ({self.regions} in use)")

    # ---- what the hardware does --------------------------------------------------------

    def compute_ranges(self, cfg: MpuConfig) -> list[tuple[int, int, int]]:
        """Ranges a process may touch. The lowest slot wins where regions overlap (a break
        grown over an IPC window can make them overlap)."""
        claimed: list[tuple[int, int]] = []
        out: list[tuple[int, int, int]] = []
        for region in sorted(cfg.regions(), key=lambda r: r.number):
            lo, hi = region.start, region.end
            if hi <= lo:
                continue
            if region.perms:
                out.extend((a, b, int(region.perms)) for a, b in subtract(lo, hi, claimed))
            claimed.append((lo, hi))
        return merge(out)

    def entries(self, cfg: MpuConfig) -> list[tuple[int, int]]:
        """(pmpcfg octet, pmpaddr) for every user entry, as `configure_pmp` would write
        them: two per region in TOR mode, one in NAPOT mode."""
        by_number = {r.number: r for r in cfg.regions()}
        out: list[tuple[int, int]] = []
        for number in range(self.regions):
            region = by_number.get(number)
            if self.mode == "tor":
                if region is None:
                    out += [(A_OFF, 0), (A_OFF, 0)]
                else:
                    octet = cfg_bits(region.perms) | A_TOR << 3
                    out += [(A_OFF, region.start >> 2), (octet, region.end >> 2)]
            elif region is None or region.size == 0:
                out.append((A_OFF, 0))
            else:
                octet = cfg_bits(region.perms) | A_NAPOT << 3
                out.append((octet, napot_pmpaddr(region.start, region.size)))
        return out
