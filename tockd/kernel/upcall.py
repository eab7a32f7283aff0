"""Upcalls: a capsule schedules one, the kernel queues it, a yielded process gets it.

Scheduling follows `GrantKernelData::schedule_upcall` (kernel/src/grant.rs) and
`Upcall::schedule` (kernel/src/upcall.rs); the queue is the process's task queue
(`enqueue_task` in kernel/src/process_standard.rs); delivery follows the `Yielded` and
`YieldedFor` arms of `do_process` (kernel/src/kernel.rs), all at release-2.2. These are
functions of the kernel, as `memop.py` is; `Kernel` calls them.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from tockd.contract import events as ev
from tockd.contract.events import EventKind
from tockd.kernel.abi import UPCALL_QUEUE_CAPACITY
from tockd.kernel.footprint import READ
from tockd.kernel.grant import ForgedGrant, GrantSpec
from tockd.kernel.process import Process, State, Task, TaskKind

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel

#: what `next_delivery` hands a yielded process: ("upcall", (fnptr, a0, a1, a2,
#: appdata)), ("return", (r0, r1, r2, r3)) for a yield-wait-for, `AGAIN`, or None (it
#: sleeps)
Delivery = tuple[str, tuple[int, ...]] | None
#: a task was taken that hands the process nothing (an IPC task, a null upcall's
#: return value) and more are queued: ask again. One task per call, as Tock's
#: do_process takes one per turn of its loop; the lab's steps end between them
AGAIN: Delivery = ("again", ())

_QUEUE_FULL_REASON = "upcall queue full (QueueFull)"
_NOT_ALIVE_REASON = "process not alive (KernelError)"


class UpcallResult(Enum):
    """Tock's `Result<(), UpcallError>` from scheduling an upcall (kernel/src/upcall.rs,
    release-2.2). The value is the Rust `Debug` text the trace shows."""

    OK = "Ok(())"
    QUEUE_FULL = "Err(QueueFull)"
    INVALID_SUBSCRIBE_NUM = "Err(InvalidSubscribeNum)"
    KERNEL_ERROR = "Err(KernelError)"

    def debug(self) -> str:
        """The text Rust's `{:?}` prints for this result, as events and traces carry it."""
        return self.value

    @property
    def ok(self) -> bool:
        return self is UpcallResult.OK


def schedule_upcall(
    kernel: Kernel, proc: Process, spec: GrantSpec, subscribe: int, args: tuple[int, int, int]
) -> UpcallResult:
    """A capsule schedules upcall `subscribe` of its driver on `proc`.

    As in grant.rs (2.2), a process whose grant is not allocated (or that is not alive)
    gets KernelError, and a subscribe number past the driver's count InvalidSubscribeNum,
    before the queue is looked at."""
    driver = spec.driver_num
    grant = kernel.grant_if_allocated(proc, spec) if proc.is_alive() else None
    if grant is None:
        return _dropped(kernel, proc, driver, subscribe, args, _NOT_ALIVE_REASON)
    if subscribe >= spec.upcalls:
        kernel.emit(
            ev.ScheduleInvalid(kind=EventKind.SCHEDULE_INVALID, driver=driver, subscribe=subscribe),
            proc,
        )
        return UpcallResult.INVALID_SUBSCRIBE_NUM
    try:
        fnptr, appdata = grant.upcall(subscribe)
    except ForgedGrant as e:
        kernel.forged_grant(e)
        return _dropped(kernel, proc, driver, subscribe, args, e.reason)
    kind = TaskKind.FUNCTION_CALL if fnptr else TaskKind.RETURN_VALUE
    a0, a1, a2 = (a & 0xFFFF_FFFF for a in args)
    task = Task(kind, driver, subscribe, fnptr, a0, a1, a2, appdata)
    queued = enqueue_task(kernel, proc, task)
    result = UpcallResult.OK if queued else UpcallResult.QUEUE_FULL
    if kernel.events.active:
        kernel.emit(
            ev.Schedule(
                kind=EventKind.SCHEDULE,
                driver=driver,
                subscribe=subscribe,
                fnptr=fnptr,
                args=list(task[4:7]),
                appdata=appdata,
                result=result.debug(),
            ),
            proc,
        )
    if not queued:
        kernel.emit(
            ev.UpcallLost(
                kind=EventKind.UPCALL_DROPPED,
                driver=driver,
                subscribe=subscribe,
                args=list(task[4:7]),
                reason=_QUEUE_FULL_REASON,
            ),
            proc,
        )
    return result


def _dropped(
    kernel: Kernel,
    proc: Process,
    driver: int,
    subscribe: int,
    args: tuple[int, int, int],
    reason: str,
) -> UpcallResult:
    """An upcall that cannot be scheduled (KernelError): recorded, and Tock's result."""
    kernel.emit(
        ev.UpcallLost(
            kind=EventKind.UPCALL_DROPPED,
            driver=driver,
            subscribe=subscribe,
            args=list(args),
            reason=reason,
        ),
        proc,
    )
    return UpcallResult.KERNEL_ERROR


def enqueue_task(kernel: Kernel, proc: Process, task: Task) -> bool:
    """Queue `task` on `proc` and wake the daemon; False (counted as a dropped upcall)
    when the queue is full, or when the lab's adversity makes it look full."""
    if not proc.is_alive():
        return False
    if "queue_full" in proc.adversity:
        proc.adversity.discard("queue_full")
        proc.dropped_upcall_count += 1
        return False
    if kernel.footprint is not None:
        proc.queued += 1
        task = task._replace(serial=proc.queued)
        _touch_enqueue(kernel, proc, task)
    if not proc.enqueue(task):
        proc.dropped_upcall_count += 1
        return False
    if kernel.os is not None:
        kernel.os.wake()
    return True


def _touch_enqueue(kernel: Kernel, proc: Process, task: Task) -> None:
    """The footprint of queueing `task` on `proc` (tockd/kernel/footprint.py): the
    queue's order, the new task and its upcall's pending set (a subscribe to it
    purges it); the queue's length too when it is (nearly) full, as then whether this
    task fits depends on what `proc` took before."""
    kernel.touch("q", proc.index)
    kernel.touch("q", proc.index, task.serial)
    if task.kind is TaskKind.FUNCTION_CALL:  # the only kind a subscribe purges
        kernel.touch("u", proc.index, f"{task.driver}.{task.subscribe}")
    if len(proc.queue) >= UPCALL_QUEUE_CAPACITY - 1:
        kernel.touch("l", proc.index, mode=READ)


def _touch_take(kernel: Kernel, proc: Process, task: Task) -> None:
    """The footprint of `proc` taking `task` from its queue: that task, and the
    queue's length. Not the queue's order: taking one task commutes with queueing
    another behind it."""
    kernel.touch("q", proc.index, task.serial)
    kernel.touch("l", proc.index)


def next_delivery(kernel: Kernel, proc: Process, one_task: bool = False) -> Delivery:
    """What to hand a Yielded process now (see `Delivery`); `AGAIN` only with
    `one_task`, else the tasks that hand it nothing are taken until one does."""
    delivery = _take_task(kernel, proc)
    while delivery is AGAIN and not one_task:
        delivery = _take_task(kernel, proc)
    return delivery


def _take_task(kernel: Kernel, proc: Process) -> Delivery:
    if proc.state is State.YIELDED_FOR:
        return _deliver_awaited(kernel, proc)
    if proc.state is State.YIELDED and proc.queue:
        t = proc.queue.popleft()
        _touch_take(kernel, proc, t)
        if t.kind is TaskKind.FUNCTION_CALL:
            proc.state = State.RUNNING
            if kernel.events.active:
                kernel.emit(
                    ev.FunctionCall(
                        kind=EventKind.FUNCTION_CALL,
                        fnptr=t.fnptr,
                        args=[t.arg0, t.arg1, t.arg2, t.appdata],
                        driver=t.driver,
                        subscribe=t.subscribe,
                    ),
                    proc,
                )
            return "upcall", (t.fnptr, t.arg0, t.arg1, t.arg2, t.appdata)
        if t.kind is TaskKind.IPC:
            if not _run_ipc_task(kernel, proc, t):
                return None
        elif kernel.events.active:
            # a ReturnValue for a null upcall: discarded, the process stays asleep
            kernel.emit(
                ev.UpcallLost(
                    kind=EventKind.UPCALL_DISCARDED,
                    driver=t.driver,
                    subscribe=t.subscribe,
                    args=[t.arg0, t.arg1, t.arg2],
                    reason="null upcall",
                ),
                proc,
            )
        if proc.state is State.YIELDED and proc.queue:
            return AGAIN
    return None


def _deliver_awaited(kernel: Kernel, proc: Process) -> Delivery:
    """kernel.rs do_process, YieldedFor: remove the first task for the awaited upcall
    wherever it is in the queue; anything else stays queued."""
    i = proc.waited_task()
    if i is None:
        return None
    t = proc.queue[i]
    del proc.queue[i]
    _touch_take(kernel, proc, t)
    if kernel.events.active and t.kind is TaskKind.RETURN_VALUE:
        kernel.emit(
            ev.WaitFor(kind=EventKind.WAIT_FOR, null=True, args=[t.arg0, t.arg1, t.arg2]), proc
        )
    elif kernel.events.active:
        kernel.emit(
            ev.WaitFor(
                kind=EventKind.WAIT_FOR,
                null=False,
                fnptr=t.fnptr,
                args=[t.arg0, t.arg1, t.arg2, t.appdata],
            ),
            proc,
        )
    proc.state = State.RUNNING
    proc.wait_for = None
    return "return", (t.arg0, t.arg1, t.arg2, 0)


def _run_ipc_task(kernel: Kernel, proc: Process, task: Task) -> bool:
    """Hand a queued IPC task to the IPC capsule (Tock's `IPC::schedule_upcall`).
    False when the capsule raised: `proc` was faulted and gets nothing now."""
    ipc = kernel.ipc
    if ipc is None:
        return True
    try:
        ipc.deliver_ipc_task(proc, task)
    except ForgedGrant as e:  # the capsule did not catch it itself
        kernel.forged_grant(e)
    except Exception as e:  # contain any capsule bug
        kernel.kernel_error(proc, "IPC delivery", e)
        return False
    return True
