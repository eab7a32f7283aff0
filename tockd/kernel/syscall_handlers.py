"""The syscall classes the kernel answers itself: yield, exit, subscribe and the allows.

`Kernel._handle_syscall` (kernel.py) dispatches each call, in the order of
`handle_syscall` in kernel/src/kernel.rs (release-2.2); memop is memop.py's and command
the capsule's, and the other four are here, with their checks in Tock's order
(docs/conformance.md lists each rule). These are functions of the kernel, as upcall.py
and lifecycle.py are. Not to be confused with syscall.py, which holds the return values
(`SyscallReturn`) these produce.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.contract import events as ev
from tockd.contract.events import EventKind
from tockd.kernel import grant_alloc, tracing
from tockd.kernel.abi import ErrorCode, ExitCall, SyscallClass, YieldCall
from tockd.kernel.footprint import READ
from tockd.kernel.process import State
from tockd.kernel.syscall import (
    SyscallReturn,
    allow_failure,
    allow_success,
    failure,
    subscribe_failure,
    subscribe_success,
)
from tockd.kernel.tracing import Registers

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process


def yield_call(kernel: Kernel, proc: Process, which: int, r1: int, r2: int) -> Registers | None:
    """Yield `which` (0 no-wait, 1 wait, 2 wait-for (driver r1, subscribe r2)): the reply,
    or None when `proc` now sleeps until `Kernel.next_delivery` hands it something."""
    if kernel.events.tracing:
        tracing.trace_syscall(kernel, proc, None)
    if which not in (0, 1, 2):
        # kernel.rs (2.2): "Only 0, 1, and 2 are valid ... just return control to
        # the process." Tock sets no return value; tockd answers as it does for a
        # Yield-NoWait that finds nothing queued.
        return (0, 0, 0, 0)
    if which == YieldCall.NO_WAIT:
        kernel.touch("q", proc.index, mode=READ)  # is anything queued?
        has_tasks = bool(proc.queue)
        if r1 != 0 and proc.in_ram(r1, 1):
            kernel.ram.write(r1, b"\x01" if has_tasks else b"\x00")
        if not has_tasks:
            return (0, 0, 0, 0)
        proc.state = State.YIELDED
    elif which == YieldCall.WAIT:
        proc.state = State.YIELDED
    else:
        proc.state = State.YIELDED_FOR
        proc.wait_for = (r1, r2)
    return None


def exit_call(kernel: Kernel, proc: Process, which: int, code: int) -> Registers | None:
    """Exit `which` (0 terminate, 1 restart) with completion `code`: neither returns
    (None); any other number is answered Failure(NOSUPPORT)."""
    traced = kernel.events.tracing
    if which == ExitCall.TERMINATE:
        if traced:
            tracing.trace_syscall(kernel, proc, None)
        kernel.terminate(proc, code)
        return None
    if which == ExitCall.RESTART:
        if traced:
            tracing.trace_syscall(kernel, proc, None)
        kernel.try_restart(proc, code)
        return None
    rv = failure(ErrorCode.NOSUPPORT)
    if traced:
        tracing.trace_syscall(kernel, proc, rv.registers())
    return rv.registers()


def subscribe_call(
    kernel: Kernel, proc: Process, driver: int, num: int, fnptr: int, appdata: int
) -> SyscallReturn:
    """Store upcall `num` of `driver` in `proc`'s grant and purge its pending calls."""
    if fnptr != 0 and not (proc.in_flash(fnptr, 4) or proc.in_ram(fnptr, 4)):
        return subscribe_failure(ErrorCode.INVAL, fnptr, appdata)
    capsule = kernel.capsules.get(driver)
    if capsule is None:
        return subscribe_failure(ErrorCode.NODEVICE, fnptr, appdata)
    grant = grant_alloc.grant_for_syscall(kernel, proc, capsule)
    if grant is None:
        return subscribe_failure(ErrorCode.NOMEM, fnptr, appdata)
    if num >= capsule.grant_spec.upcalls:
        return subscribe_failure(ErrorCode.NOSUPPORT, fnptr, appdata)
    old_fn, old_data = grant.raw_upcall(num)  # handed back to the owner only
    kernel.touch("u", proc.index, f"{driver}.{num}")  # its pending upcalls are purged
    kernel.touch("l", proc.index)  # the queue's length changes
    grant.set_upcall(num, fnptr, appdata)
    removed = proc.remove_pending_upcalls(driver, num)
    if kernel.events.active:
        kernel.emit(
            ev.RemovePendingUpcalls(
                kind=EventKind.REMOVE_PENDING_UPCALLS, driver=driver, subscribe=num, removed=removed
            ),
            proc,
        )
    capsule.subscribed(proc, num, fnptr)
    return subscribe_success(old_fn, old_data)


def allow_call(
    kernel: Kernel, proc: Process, cls: int, driver: int, num: int, addr: int, size: int
) -> SyscallReturn:
    """A read-write, read-only or userspace-readable allow (`cls`) of [addr, addr+size)."""
    capsule = kernel.capsules.get(driver)
    if capsule is None:
        return allow_failure(cls, ErrorCode.NODEVICE, addr, size)
    if size != 0:
        in_ram = proc.in_ram(addr, size)
        if not in_ram and not (cls == SyscallClass.ALLOW_RO and proc.in_flash(addr, size)):
            return allow_failure(cls, ErrorCode.INVAL, addr, size)
        if in_ram:
            proc.allow_high_water_mark = max(proc.allow_high_water_mark, addr + size)
    if cls == SyscallClass.ALLOW_USERSPACE_READABLE:
        return capsule.allow_userspace_readable(proc, num, addr, size)
    grant = grant_alloc.grant_for_syscall(kernel, proc, capsule)
    if grant is None:
        return allow_failure(cls, ErrorCode.NOMEM, addr, size)
    spec = capsule.grant_spec
    if cls == SyscallClass.ALLOW_RW:
        if num >= spec.allow_rw:
            return allow_failure(cls, ErrorCode.NOSUPPORT, addr, size)
        refused = capsule.check_allow_rw(proc, num, addr, size)
        if refused is not None:
            return allow_failure(cls, refused, addr, size)
        old = grant.raw_allow_rw(num)  # handed back to the owner only
        grant.set_allow_rw(num, addr, size)
    else:
        if num >= spec.allow_ro:
            return allow_failure(cls, ErrorCode.NOSUPPORT, addr, size)
        old = grant.raw_allow_ro(num)
        grant.set_allow_ro(num, addr, size)
    return allow_success(cls, old[0], old[1])


def failed_call(cls: int, r2: int, r3: int) -> SyscallReturn:
    """FAIL, in the variant a syscall of class `cls` returns its failures in."""
    if cls == SyscallClass.SUBSCRIBE:
        return subscribe_failure(ErrorCode.FAIL, r2, r3)
    if cls in (SyscallClass.COMMAND, SyscallClass.MEMOP):
        return failure(ErrorCode.FAIL)
    return allow_failure(cls, ErrorCode.FAIL, r2, r3)


__all__ = ["allow_call", "exit_call", "failed_call", "subscribe_call", "yield_call"]
