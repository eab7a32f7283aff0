"""`accessible_ranges` is kept between calls: it must follow every change of the regions."""

from __future__ import annotations

import pytest

from tockd.kernel.mpu import MPU, IdealMPU, MpuConfig, Permission
from tockd.kernel.mpu.cortex_m import CortexM
from tockd.kernel.mpu.riscv_pmp import RiscvPmp

RAM = 0x2000_0000
RW = Permission.READ_WRITE


@pytest.mark.parametrize("mpu", [CortexM(), RiscvPmp(), IdealMPU()], ids=type)
def test_kept_ranges_follow_every_region_change(mpu: MPU) -> None:
    cfg = MpuConfig()
    mem_start, length = mpu.allocate_app_memory_region(RAM, 0x1_0000, 0x4000, 0x400, 0x400, cfg)
    seen = [mpu.accessible_ranges(cfg)]
    seen[0].append((0, 1, 7))  # a caller's list is its own: the kept answer is untouched
    assert mpu.accessible_ranges(cfg) == mpu.compute_ranges(cfg)
    mpu.update_app_memory_region(mem_start + 0x800, mem_start + length - 0x400, cfg)
    seen.append(mpu.accessible_ranges(cfg))
    window = mpu.allocate_region(RAM + 0x1_0000, 0x1000, 0x100, RW, cfg)
    seen.append(mpu.accessible_ranges(cfg))
    mpu.remove_region(window, cfg)
    seen.append(mpu.accessible_ranges(cfg))
    assert seen[-1] == seen[1] != seen[2]
    assert mpu.check(cfg, mem_start, 0x800, RW)
    assert not mpu.check(cfg, RAM + 0x1_0000, 1, Permission.READ)
    mpu.reset_config(cfg)
    assert mpu.accessible_ranges(cfg) == mpu.compute_ranges(cfg) == []
    other = type(mpu)()  # another model never takes this one's answer
    assert other.accessible_ranges(cfg) == []
