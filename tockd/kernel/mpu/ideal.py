"""`ideal`: a byte-exact MPU with no region limit, for experiments without hardware artefacts."""

from __future__ import annotations

from tockd.kernel.mpu.base import MPU, MpuConfig, MpuError, Permission, Region


class IdealMPU(MPU):
    """Regions of any size at any address; the app region ends exactly at the break."""

    name = "ideal"
    initial_app_brk_size = 0

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
        length = max(min_memory_size, initial_app_size + initial_kernel_size)
        if length > unallocated_size:
            raise MpuError(
                f"process needs {length} bytes, only {unallocated_size} left at "
                f"{unallocated_start:#x}"
            )
        cfg.app_block = (unallocated_start, length)
        cfg.app_regions = [
            Region(unallocated_start, initial_app_size, Permission.READ_WRITE, 0, detail="app RAM")
        ]
        return unallocated_start, length

    def update_app_memory_region(self, app_break: int, kernel_break: int, cfg: MpuConfig) -> None:
        if cfg.app_block is None:
            raise MpuError("no app memory region allocated")
        start, _ = cfg.app_block
        if app_break > kernel_break:
            raise MpuError(f"break {app_break:#x} above kernel break {kernel_break:#x}")
        if app_break < start:
            raise MpuError(f"break {app_break:#x} below memory start {start:#x}")
        cfg.app_regions = [
            Region(start, app_break - start, Permission.READ_WRITE, 0, detail="app RAM")
        ]

    def allocate_region(
        self,
        unallocated_start: int,
        unallocated_size: int,
        min_region_size: int,
        perms: Permission,
        cfg: MpuConfig,
    ) -> Region:
        if min_region_size > unallocated_size:
            raise MpuError(f"region of {min_region_size} bytes does not fit in {unallocated_size}")
        end = unallocated_start + min_region_size
        for other in cfg.extra:
            if other.start < end and unallocated_start < other.end:
                raise MpuError(f"overlaps the region at {other.start:#x}+{other.size}")
        region = Region(
            unallocated_start, min_region_size, perms, 2 + len(cfg.extra), detail="extra"
        )
        cfg.extra.append(region)
        return region
