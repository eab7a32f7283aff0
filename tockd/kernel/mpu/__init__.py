"""MPU models behind one interface: `cortex-m`, `riscv-pmp` and `ideal`."""

from __future__ import annotations

from tockd.kernel.mpu.base import MPU, MpuConfig, MpuError, Permission, Region
from tockd.kernel.mpu.cortex_m import CortexM
from tockd.kernel.mpu.ideal import IdealMPU
from tockd.kernel.mpu.riscv_pmp import RiscvPmp

__all__ = [
    "MODELS",
    "MPU",
    "CortexM",
    "IdealMPU",
    "MpuConfig",
    "MpuError",
    "Permission",
    "Region",
    "RiscvPmp",
    "make_mpu",
]

MODELS: dict[str, type[MPU]] = {
    IdealMPU.name: IdealMPU,
    CortexM.name: CortexM,
    RiscvPmp.name: RiscvPmp,
}


def make_mpu(name: str) -> MPU:
    """Build the MPU model a board file names."""
    try:
        return MODELS[name]()
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise MpuError(f"unknown MPU model {name!r} (known: {known})") from None
