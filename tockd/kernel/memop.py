"""Memop (syscall class 5): brk, sbrk and the memory/flash queries (`kernel/src/memop.rs`).

Every brk/sbrk error reaches userspace as NOMEM, as in Tock. Each op answers with the
variant release-2.2's memop.rs gives it, so the trace prints what 2.2 prints: sbrk and
the memory and flash bounds `SuccessPtr(CapabilityPtr { ptr: 0x… })`, the grant start
`SuccessAddr(n)`, the writeable-region count `SuccessU32(n)`. On the wire all three are
SuccessU32 (129), as a 32-bit platform encodes them (utilities/arch_helpers.rs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.contract import events as ev
from tockd.contract.events import EventKind
from tockd.kernel.abi import ErrorCode, Memop
from tockd.kernel.mpu import MpuError
from tockd.kernel.syscall import (
    SUCCESS,
    SyscallReturn,
    failure,
    success_addr,
    success_ptr,
    success_u32,
)

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process


def brk(kernel: Kernel, proc: Process, new_break: int) -> str | None:
    """Move app_break; returns None on success or the rule that refused it."""
    assert proc.mpu is not None
    if new_break < proc.allow_high_water_mark:
        return f"break {new_break:#x} below the allow high-water mark"
    if new_break >= proc.mem_end:
        return f"break {new_break:#x} at or past the end of process RAM"
    if new_break > proc.kernel_memory_break:
        return f"break {new_break:#x} inside grant memory"
    try:
        kernel.mpu.update_app_memory_region(new_break, proc.kernel_memory_break, proc.mpu)
    except MpuError as e:
        return f"MPU: {e}"
    # Tock (memop.rs, process_standard.rs `brk`) does not zero memory the break
    # uncovers: whatever an earlier life or old grant memory left there is readable.
    proc.app_break = new_break
    proc.mpu_dirty = True
    if kernel.events.active:
        kernel.emit(
            ev.MpuChange(kind=EventKind.MPU_CHANGE, app_break=new_break, reason="brk"), proc
        )
    return None


def memop(kernel: Kernel, proc: Process, op: int, arg: int) -> SyscallReturn:
    """Run memop `op`; each return is the one release-2.2's `kernel/src/memop.rs` gives."""
    if op == Memop.BRK:
        return SUCCESS if brk(kernel, proc, arg) is None else failure(ErrorCode.NOMEM)
    if op == Memop.SBRK:
        delta = arg - (1 << 32) if arg & 0x8000_0000 else arg
        old = proc.app_break
        if brk(kernel, proc, old + delta) is not None:
            return failure(ErrorCode.NOMEM)
        return success_ptr(old)
    if op == Memop.MEM_START:
        return success_ptr(proc.mem_start)
    if op == Memop.MEM_END:
        return success_ptr(proc.mem_end)
    if op == Memop.FLASH_START:
        return success_ptr(proc.flash_start)
    if op == Memop.FLASH_END:
        return success_ptr(proc.flash_end)
    if op == Memop.GRANT_START:
        return success_addr(proc.kernel_memory_break)
    if op == Memop.FLASH_REGIONS:
        return success_u32(0)
    if op in (Memop.FLASH_REGION_START, Memop.FLASH_REGION_END):
        # no app has writeable flash regions: 2.2 answers FAIL for a region of size 0
        return failure(ErrorCode.FAIL)
    if op == Memop.STACK_TOP_HINT:
        if proc.mem_start <= arg < proc.mem_end:
            proc.stack_top_hint = arg
        return SUCCESS
    if op == Memop.HEAP_START_HINT:
        if proc.mem_start <= arg < proc.mem_end:
            proc.heap_start_hint = arg
        return SUCCESS
    return failure(ErrorCode.NOSUPPORT)
