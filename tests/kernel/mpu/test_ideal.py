"""The `ideal` model: byte-exact, no limits, for experiments without hardware artefacts."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tockd.kernel.mpu import MODELS, IdealMPU, MpuConfig, MpuError, Permission, make_mpu
from tockd.kernel.mpu.cortex_m import CortexM
from tockd.kernel.mpu.riscv_pmp import RiscvPmp

RAM = 0x2000_0000
RW = Permission.READ_WRITE


@given(ptr=st.integers(RAM, RAM + 0x1_0000), length=st.integers(1, 4096))
def test_ideal_accepts_any_window(ptr: int, length: int) -> None:
    mpu, cfg = IdealMPU(), MpuConfig()
    region = mpu.allocate_region(ptr, length, length, RW, cfg)
    assert region.opened() == ((ptr, ptr + length),)
    assert mpu.check(cfg, ptr, length, RW)
    assert not mpu.check(cfg, ptr - 1, 1, Permission.READ)
    assert not mpu.check(cfg, ptr + length, 1, Permission.READ)


@given(brk=st.integers(0, 0x2000), kbrk=st.integers(0, 0x2000))
def test_ideal_break_is_exact(brk: int, kbrk: int) -> None:
    mpu, cfg = IdealMPU(), MpuConfig()
    mem_start, _ = mpu.allocate_app_memory_region(RAM + 3, 0x4000, 0x2000, 0, 0x100, cfg)
    assert mem_start == RAM + 3  # no alignment at all
    before = copy.deepcopy(cfg)
    try:
        mpu.update_app_memory_region(mem_start + brk, mem_start + kbrk, cfg)
    except MpuError:
        assert brk > kbrk
        assert cfg == before
        return
    assert mpu.accessible_ranges(cfg) == ([(mem_start, mem_start + brk, int(RW))] if brk else [])


def test_ideal_refuses_overlap_and_oversize() -> None:
    mpu, cfg = IdealMPU(), MpuConfig()
    mpu.allocate_region(RAM, 100, 100, RW, cfg)
    with pytest.raises(MpuError, match="overlaps"):
        mpu.allocate_region(RAM + 99, 10, 10, RW, cfg)
    with pytest.raises(MpuError, match="does not fit"):
        mpu.allocate_region(RAM + 200, 10, 11, RW, cfg)


def test_board_names_build_each_model() -> None:
    assert set(MODELS) == {"ideal", "cortex-m", "riscv-pmp"}
    assert isinstance(make_mpu("cortex-m"), CortexM)
    assert isinstance(make_mpu("riscv-pmp"), RiscvPmp)
    with pytest.raises(MpuError, match="unknown MPU model"):
        make_mpu("mips")
