"""Grant allocation: a capsule's per-process memory, taken from the top of the block.

Follows `allocate_grant` and `enter_grant` of kernel/src/process_standard.rs and
`Grant::enter` of kernel/src/grant.rs (release-2.2): the kernel break moves down, the
MPU keeps the app clear of it, and the grant pointer table at the top of the block
records (driver number, address). The Grant object that reads and writes a grant is
tockd/kernel/grant.py; these are functions of the kernel, as `memop.py` is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.contract import events as ev
from tockd.contract.events import EventKind
from tockd.kernel.abi import ErrorCode
from tockd.kernel.driver import Driver
from tockd.kernel.grant import Grant, GrantError, GrantSpec
from tockd.kernel.lifecycle import GRANT_ENTRY_BYTES
from tockd.kernel.mpu import MpuError
from tockd.kernel.process import Process

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel

#: grants are word aligned
_ALIGN_MASK = ~3


def enter_grant(kernel: Kernel, proc: Process, spec: GrantSpec) -> Grant:
    """Enter `spec`'s grant for `proc`, allocating it from the top of its RAM."""
    if not proc.is_alive():
        raise GrantError(ErrorCode.FAIL, f"{proc.name} is not alive")
    kernel.touch("g", proc.index, spec.driver_num)
    num = kernel.grant_numbers[spec.driver_num]
    address = proc.grant_ptrs.get(num)
    if address is not None:
        return Grant(kernel.ram, address, spec, proc)
    kernel.touch("p", proc.index)  # a new grant moves the process's kernel break
    new_kbrk = _new_kernel_break(kernel, proc, spec)
    proc.kernel_memory_break = new_kbrk
    proc.mpu_dirty = True
    proc.grant_ptrs[num] = new_kbrk
    grant = Grant.initialise(kernel.ram, new_kbrk, spec, proc)
    table = proc.mem_end - GRANT_ENTRY_BYTES * len(kernel.grant_numbers)
    kernel.ram.pack("<II", table + GRANT_ENTRY_BYTES * num, spec.driver_num, new_kbrk)
    kernel.emit(
        ev.GrantAlloc(
            kind=EventKind.GRANT_ALLOC,
            driver=spec.driver_num,
            address=new_kbrk,
            size=spec.size,
            kernel_memory_break=new_kbrk,
        ),
        proc,
    )
    return grant


def _new_kernel_break(kernel: Kernel, proc: Process, spec: GrantSpec) -> int:
    """The kernel break below a new grant of `spec`, with the app's MPU region shrunk
    clear of it; GrantError (NOMEM) when it cannot be had."""
    assert proc.mpu is not None
    new_kbrk = (proc.kernel_memory_break - spec.size) & _ALIGN_MASK
    if "grant_fail" in proc.adversity:
        proc.adversity.discard("grant_fail")
        raise GrantError(ErrorCode.NOMEM, "adversity: grant allocation made to fail")
    if new_kbrk < proc.app_break:
        raise GrantError(ErrorCode.NOMEM, "grant would cross app_break")
    if new_kbrk < grant_floor(kernel, proc):
        raise GrantError(ErrorCode.NOMEM, "grant would cover memory another process maps")
    try:
        kernel.mpu.update_app_memory_region(proc.app_break, new_kbrk, proc.mpu)
    except MpuError as e:
        raise GrantError(ErrorCode.NOMEM, f"MPU cannot keep app clear of grant: {e}") from None
    return new_kbrk


def grant_floor(kernel: Kernel, proc: Process) -> int:
    """Hardened keep_high_water_mark: grants stay above every byte of `proc`'s memory
    that another process can still see through a window (IPC), so kernel data never
    lands where a peer reads. A restart with that switch revokes those windows, so
    the floor protects only while something is exposed: a second life is not
    starved by its first life's shares. Tock has no such floor (0)."""
    if not kernel.hardened.get("keep_high_water_mark", False):
        return 0
    return max((c.exposed_end(proc) for c in kernel.capsules.values()), default=0)


def grant_if_allocated(kernel: Kernel, proc: Process, spec: GrantSpec) -> Grant | None:
    kernel.touch("g", proc.index, spec.driver_num)
    address = proc.grant_ptrs.get(kernel.grant_numbers[spec.driver_num])
    return None if address is None else Grant(kernel.ram, address, spec, proc)


def grant_for_syscall(kernel: Kernel, proc: Process, capsule: Driver) -> Grant | None:
    """Enter the capsule's grant, asking the capsule to allocate it if needed."""
    kernel.touch("g", proc.index, capsule.driver_num)
    num = kernel.grant_numbers[capsule.driver_num]
    if num not in proc.grant_ptrs and not capsule.allocate_grant(proc):
        kernel.emit(
            ev.GrantFailed(
                kind=EventKind.GRANT_FAILED,
                driver=capsule.driver_num,
                text=f"WARN driver #{capsule.driver_num:x} did not allocate grant",
            ),
            proc,
        )
        return None
    if num not in proc.grant_ptrs:
        return None
    return Grant(kernel.ram, proc.grant_ptrs[num], capsule.grant_spec, proc)
