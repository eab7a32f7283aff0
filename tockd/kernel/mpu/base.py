"""The MPU interface every model implements (Tock's `kernel/src/platform/mpu.rs`).

A model owns the arithmetic of one kind of hardware: which regions it can express, how
it rounds, how many it has. The kernel keeps one `MpuConfig` per process and asks the
model to change it. What a process may touch is `accessible_ranges(cfg)`: byte ranges
with permissions, which the kernel sends to the app runtime on every context switch and
which `check` answers from. Models are pure: no I/O, no trio.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import IntFlag


class Permission(IntFlag):
    """Access rights of a region, and the kind of a single access."""

    NONE = 0
    EXECUTE = 1
    WRITE = 2
    READ = 4
    READ_WRITE = READ | WRITE
    READ_EXECUTE = READ | EXECUTE
    READ_WRITE_EXECUTE = READ | WRITE | EXECUTE


class MpuError(Exception):
    """A request the hardware cannot express; the message says which rule refused it."""


@dataclass(frozen=True)
class Region:
    """One hardware region as the model programmed it.

    `start`/`size` are the region's hardware extent; `ranges` are the bytes it actually
    opens (a Cortex-M region with disabled subregions opens less than its extent).
    `number` is the hardware slot, `detail` is model-specific text for display.
    """

    start: int
    size: int
    perms: Permission
    number: int = 0
    ranges: tuple[tuple[int, int], ...] = ()
    detail: str = ""

    @property
    def end(self) -> int:
        return self.start + self.size

    def opened(self) -> tuple[tuple[int, int], ...]:
        """The [start, end) byte ranges this region grants access to."""
        return self.ranges or ((self.start, self.end),)


@dataclass
class MpuConfig:
    """The MPU state of one process: its app-memory region(s) and extra regions.

    `app_regions` describe the process's own RAM (up to the break); `flash` its code;
    `extra` the regions added with `allocate_region` (IPC windows). `app_block` is the
    (mem_start, memory_len) chosen by `allocate_app_memory_region`, kept so that updates
    can recompute.
    """

    app_regions: list[Region] = field(default_factory=list)
    flash: Region | None = None
    extra: list[Region] = field(default_factory=list)
    app_block: tuple[int, int] | None = None
    #: the last `MPU.accessible_ranges` answer: (model, the regions it was computed
    #: from, the ranges); regions are immutable, so the same regions give the same ranges
    ranges_memo: tuple[MPU, tuple[Region, ...], tuple[tuple[int, int, int], ...]] | None = field(
        default=None, repr=False, compare=False
    )

    def regions(self) -> list[Region]:
        out = list(self.app_regions)
        if self.flash is not None:
            out.append(self.flash)
        out.extend(self.extra)
        return out


class MPU(ABC):
    """A memory protection unit model."""

    #: name used in board files
    name: str = ""
    #: bytes of app RAM accessible right after (re)start: Tock's
    #: `initial_process_app_brk_size` (32 on Cortex-M for the SVC frame, 0 on RISC-V)
    initial_app_brk_size: int = 0
    #: how many regions the hardware has in total, None for unlimited
    region_count: int | None = None

    def new_config(self) -> MpuConfig:
        return MpuConfig()

    def reset_config(self, cfg: MpuConfig) -> None:
        """Drop every region (a restart); the app block must then be re-allocated."""
        cfg.app_regions.clear()
        cfg.extra.clear()
        cfg.flash = None
        cfg.app_block = None

    @abstractmethod
    def allocate_app_memory_region(
        self,
        unallocated_start: int,
        unallocated_size: int,
        min_memory_size: int,
        initial_app_size: int,
        initial_kernel_size: int,
        cfg: MpuConfig,
    ) -> tuple[int, int]:
        """Choose the process memory block inside the unallocated range.

        Covers the first `initial_app_size` bytes with a read-write region, leaves the
        last `initial_kernel_size` uncovered. Returns (mem_start, memory_len).
        Raises MpuError when it does not fit.
        """

    @abstractmethod
    def update_app_memory_region(self, app_break: int, kernel_break: int, cfg: MpuConfig) -> None:
        """Cover [mem_start, app_break) and nothing at or above kernel_break.

        Raises MpuError (and changes nothing) when the hardware cannot do it.
        """

    @abstractmethod
    def allocate_region(
        self,
        unallocated_start: int,
        unallocated_size: int,
        min_region_size: int,
        perms: Permission,
        cfg: MpuConfig,
    ) -> Region:
        """Add a region of at least `min_region_size` bytes lying entirely inside
        [unallocated_start, unallocated_start + unallocated_size). Used for flash and
        for IPC shared buffers. Raises MpuError with the rule that refused it."""

    def allocate_flash_region(self, start: int, size: int, cfg: MpuConfig) -> Region:
        """Cover the process flash, read and execute."""
        region = self.allocate_region(start, size, size, Permission.READ_EXECUTE, cfg)
        cfg.extra.remove(region)
        cfg.flash = region
        return region

    def remove_region(self, region: Region, cfg: MpuConfig) -> None:
        """Remove an extra region (exact match). Raises MpuError if it is not there."""
        try:
            cfg.extra.remove(region)
        except ValueError:
            raise MpuError(f"no region at {region.start:#x}+{region.size} to remove") from None

    def accessible_ranges(self, cfg: MpuConfig) -> list[tuple[int, int, int]]:
        """Flattened [start, end, perms] triples of everything the process may touch.

        Asked after every kernel step (the lab's invariants, every context switch),
        while the regions change only at a break move or an IPC window: the answer is
        kept in `cfg` and given again (a fresh list) while its regions are the same
        objects."""
        regions = cfg.regions()
        memo = cfg.ranges_memo
        if (
            memo is not None
            and memo[0] is self
            and len(memo[1]) == len(regions)
            and all(a is b for a, b in zip(memo[1], regions, strict=True))
        ):
            return list(memo[2])
        ranges = self.compute_ranges(cfg)
        cfg.ranges_memo = (self, tuple(regions), tuple(ranges))
        return list(ranges)

    def compute_ranges(self, cfg: MpuConfig) -> list[tuple[int, int, int]]:
        """`accessible_ranges`, computed (what a model overrides)."""
        out: list[tuple[int, int, int]] = []
        for region in cfg.regions():
            for start, end in region.opened():
                if end > start:
                    out.append((start, end, int(region.perms)))
        out.sort()
        return out

    def check(self, cfg: MpuConfig, address: int, length: int, access: Permission) -> bool:
        """May the process make `access` on [address, address+length)?

        Every byte must be covered by some range with all the bits of `access`.
        """
        if length <= 0:
            return True
        need_end = address + length
        pos = address
        need = int(access)  # int arithmetic: IntFlag's operators cost more than the check
        ranges = [r for r in self.accessible_ranges(cfg) if (r[2] & need) == need]
        progressed = True
        while pos < need_end and progressed:
            progressed = False
            for start, end, _ in ranges:
                if start <= pos < end:
                    pos = end
                    progressed = True
        return pos >= need_end
