"""Folding kernel events into a `Board`: the board right after an event, from the board
right before it.

Each rule mirrors what the kernel did when it emitted the event (tockd/kernel/kernel.py,
the capsules): a syscall counts and sets the state, a `schedule` queues an upcall, a
`function_call` delivers one, a `restart` gives a fresh ProcessId and empty counters, a
`grant_alloc` moves kernel_memory_break down. tests/tui/test_model.py checks the rules
against the kernel itself: folding the events between two snapshots of a real board
must give the second snapshot.

The rules are two tables keyed by event kind, one small function per kind:
`SCHEDULER_RULES` for events about the scheduler as a whole, `PROCESS_RULES` for events
about one process (the row named by the event's `index`, looked up once by `apply`, so
each rule gets it instead of looking it up again). A kind in neither table (or a process
event whose index names no row) changes nothing but the board's `seq` and clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tockd.contract import events as ev
from tockd.contract.abi import SyscallClass, YieldCall
from tockd.contract.events import Event, EventKind
from tockd.tui.board import Board, Grant, MemMap, ProcRow

#: Tock's IPC driver number (capsules use it as the upcall's driver)
IPC_DRIVER = 0x10000

#: fault policies after which the process's `terminated` means Faulted
STOPPING_POLICIES = ("stop", "panic")

#: IPC drop reasons whose popped task is accounted for elsewhere: the first two are
#: followed by a `schedule`, and a stopped callee's queue is emptied by its `terminated`
_DROPS_ACCOUNTED_ELSEWHERE = ("null upcall", "schedule_upcall", "callee stopped")

# Each rule takes its kind's TypedDict, so mypy checks the fields it reads; mypy cannot
# relate a key of these tables to its rule's argument type, hence `Any` there.
SchedulerRule = Callable[[Board, Any], None]
ProcessRule = Callable[[Board, ProcRow, Any], None]


def apply(board: Board, ev: Event) -> None:
    """Fold one event into `board` (in place): the board as it is right after `ev`."""
    board.seq = int(ev.get("seq", board.seq))
    board.t_us = int(ev.get("t", board.t_us))
    kind = ev["kind"]
    scheduler_rule = SCHEDULER_RULES.get(kind)
    if scheduler_rule is not None:
        scheduler_rule(board, ev)
        return
    process_rule = PROCESS_RULES.get(kind)
    row = _row_of(board, ev)
    if process_rule is not None and row is not None:
        process_rule(board, row, ev)


def _row_of(board: Board, ev: Event) -> ProcRow | None:
    """The process row the event names (`index`; a bool is not an index)."""
    index = ev.get("index")
    return board.proc(index) if type(index) is int else None


def _mem_of(board: Board, row: ProcRow) -> MemMap | None:
    """The row's memory map, if the board holds one for it."""
    return board.mem.get(row.index)


# ---- shared steps ----------------------------------------------------------------------


def _settle_state(row: ProcRow) -> None:
    """Ready means running, or yielded with an upcall queued."""
    row.ready = row.state == "Running" or (row.state == "Yielded" and row.queue > 0)


def _pop_task(row: ProcRow, count: int = 1) -> None:
    """`count` queued tasks left the queue (delivered, discarded, held or removed)."""
    row.queue = max(0, row.queue - count)


def _queue_task(row: ProcRow) -> None:
    """A task was queued; a yielded process becomes ready to take it."""
    row.queue += 1
    if row.state == "Yielded":
        row.ready = True


def _off_cpu(board: Board, row: ProcRow) -> None:
    """`row` gave up the CPU (yielded with nothing to do, stopped, ended)."""
    row.current = False
    if board.sched.current == row.index:
        board.sched.current = None


# ---- the scheduler ---------------------------------------------------------------------


def _scheduler_paused(board: Board, e: ev.Bare) -> None:
    """The kernel preempts the running process at its next syscall boundary."""
    board.sched.paused = True
    current = board.sched.current
    if current is not None:
        row = board.proc(current)
        if row is not None:
            _off_cpu(board, row)


def _scheduler_resumed(board: Board, e: ev.Bare) -> None:
    board.sched.paused = False


def _context_switch(board: Board, row: ProcRow, e: ev.ContextSwitch) -> None:
    """Round robin as Tock does it (kernel/src/scheduler/round_robin.rs, release-2.2):
    the process that ran goes to the back of the queue, the chosen one is the first
    ready process in order."""
    index = row.index
    s = board.sched
    q = s.run_queue
    if s.last_ran is not None and q and q[0] == s.last_ran:
        q.append(q.pop(0))
    s.last_ran = index
    if index in q:
        while q[0] != index:
            q.append(q.pop(0))
    for p in board.procs:
        p.current = p.index == index
    s.current = index
    slice_us = e.get("timeslice_us")
    s.slice_us = int(slice_us) if slice_us is not None else None
    s.slice_start_us = int(e.get("t", board.t_us))


# ---- syscalls and upcalls --------------------------------------------------------------


def _syscall(board: Board, row: ProcRow, e: ev.Syscall) -> None:
    """A syscall is a scheduler decision; yield sets the state, exit leaves it to the
    `terminated` or `restart` that follows, any other class means the process runs.
    Class and yield numbers: Tock's kernel/src/syscall.rs, release-2.2."""
    row.syscalls += 1
    board.sched.decisions += 1
    cls, args = e["cls"], e["args"]
    if cls == SyscallClass.YIELD:
        _yield(row, args)
    elif cls != SyscallClass.EXIT:
        row.state = "Running"
    _settle_state(row)
    if not row.ready:
        _off_cpu(board, row)


def _yield(row: ProcRow, args: list[int]) -> None:
    """The state after a yield, named as Tock's `ProcessState` prints it; a no-wait
    yield with upcalls queued is a yield too."""
    which = args[0]
    if which == YieldCall.WAIT:
        row.state = "Yielded"
    elif which == YieldCall.WAIT_FOR:
        row.state = f"YieldedFor(UpcallId {{ driver_num: {args[1]:#x}, subscribe_num: {args[2]} }})"
    elif row.queue:
        row.state = "Yielded"
    row.last_syscall = f"Yield {{ which: {which} }}"


def _upcall_delivered(board: Board, row: ProcRow, e: ev.FunctionCall | ev.WaitFor) -> None:
    """`function_call` / `wait_for`: a queued upcall ran; a scheduler decision."""
    board.sched.decisions += 1
    _pop_task(row)
    row.state = "Running"
    _settle_state(row)


def _upcall_discarded(board: Board, row: ProcRow, e: ev.UpcallLost) -> None:
    _pop_task(row)
    _settle_state(row)


def _schedule(board: Board, row: ProcRow, e: ev.Schedule) -> None:
    """An upcall scheduled; an IPC upcall is the delivery of an IPC task already queued."""
    if e.get("driver") == IPC_DRIVER:
        _pop_task(row)  # the IPC task this upcall is delivering
    if e.get("result") == "Ok(())":
        _queue_task(row)


def _upcall_dropped(board: Board, row: ProcRow, e: ev.UpcallLost) -> None:
    if "QueueFull" in str(e.get("reason", "")):
        row.dropped += 1


def _remove_pending_upcalls(board: Board, row: ProcRow, e: ev.RemovePendingUpcalls) -> None:
    _pop_task(row, int(e.get("removed", 0)))
    _settle_state(row)


# ---- IPC (tockd/capsules/ipc.py) ---------------------------------------------------------
# A notify queues an IPC task on its target; delivery pops it silently and ends in a
# `schedule` (counted there), a drop or a hold.


def _ipc_notify(board: Board, row: ProcRow, e: ev.IpcNotify) -> None:
    index = e.get("target")
    target = board.proc(index) if type(index) is int else None
    if target is not None and e.get("result") == "Success":
        _queue_task(target)


def _ipc_dropped(board: Board, row: ProcRow, e: ev.IpcDropped) -> None:
    """A drop on the delivery path lost the popped task, unless it is accounted for
    elsewhere (see `_DROPS_ACCOUNTED_ELSEWHERE`)."""
    if e.get("counted"):
        row.dropped += 1
    if not str(e.get("reason", "")).startswith(_DROPS_ACCOUNTED_ELSEWHERE):
        _pop_task(row)
        _settle_state(row)


def _ipc_held(board: Board, row: ProcRow, e: ev.IpcHeld) -> None:
    _pop_task(row)
    _settle_state(row)


def _ipc_released(board: Board, row: ProcRow, e: ev.IpcReleased) -> None:
    row.queue += int(e.get("count", 0))
    _settle_state(row)


# ---- the process's life ----------------------------------------------------------------


def _stopped(board: Board, row: ProcRow, e: ev.Bare) -> None:
    """Stopped keeps the state it interrupted, for `resumed` to restore."""
    row.stopped_from = row.state
    row.state = f"Stopped({row.state.split('(', 1)[0]})"
    row.ready = False
    _off_cpu(board, row)


def _resumed(board: Board, row: ProcRow, e: ev.Bare) -> None:
    inner = row.state[len("Stopped(") : -1] if row.state.startswith("Stopped(") else ""
    row.state = row.stopped_from or inner or "Running"
    row.stopped_from = ""
    _settle_state(row)


def _fault(board: Board, row: ProcRow, e: ev.Fault) -> None:
    """A fault; under a stopping policy the `terminated` that follows means Faulted,
    and a panic faults the process at once."""
    policy = e.get("policy")
    row.fault_reason = str(e.get("reason", ""))
    row.faulting = policy in STOPPING_POLICIES
    if policy == "panic":
        row.state = "Faulted"
        row.ready = False


def _terminated(board: Board, row: ProcRow, e: ev.Terminated) -> None:
    """The process ended: its queue and grants are gone."""
    row.state = "Faulted" if row.faulting else "Terminated"
    row.faulting = False
    row.completion_code = e.get("completion_code")
    row.queue = 0
    row.ready = False
    row.grants = []
    mem = _mem_of(board, row)
    if mem is not None:
        mem.grants = []
    _off_cpu(board, row)


def _restart(board: Board, row: ProcRow, e: ev.Restart) -> None:
    """A fresh ProcessId and empty counters; the reset queues the `_start` call."""
    _off_cpu(board, row)
    row.process_id = int(e["pid"])
    row.restarts = int(e.get("restart_count", row.restarts + 1))
    row.syscalls = row.dropped = 0
    row.queue = 1  # the `_start` call, queued by the reset
    row.state = "Yielded"
    row.ready = True
    row.faulting = False
    row.fault_reason = ""
    row.completion_code = None
    row.grants = []
    row.app_break = int(e.get("app_break", row.app_break))
    row.kernel_memory_break = int(e.get("kernel_memory_break", row.kernel_memory_break))
    mem = _mem_of(board, row)
    if mem is not None:
        mem.grants = []
        mem.app_break = row.app_break
        mem.kernel_memory_break = row.kernel_memory_break
        mem.allow_high_water_mark = int(e.get("allow_high_water_mark", mem.allow_high_water_mark))


def _spawn(board: Board, row: ProcRow, e: ev.Spawn) -> None:
    row.os_pid = e.get("os_pid")


# ---- memory ------------------------------------------------------------------------------


def _grant_alloc(board: Board, row: ProcRow, e: ev.GrantAlloc) -> None:
    """A grant is carved from the top of the process's RAM: kernel_memory_break moves
    down to it (Tock's kernel/src/process_standard.rs, release-2.2)."""
    driver = int(e["driver"])
    g = Grant(
        driver=driver,
        capsule=board.capsules.get(driver, "?"),
        address=int(e["address"]),
        size=int(e["size"]),
    )
    row.grants.append(g)
    row.kernel_memory_break = int(e.get("kernel_memory_break", g.address))
    mem = _mem_of(board, row)
    if mem is not None:
        mem.grants.append(g)
        mem.kernel_memory_break = row.kernel_memory_break


def _mpu_change(board: Board, row: ProcRow, e: ev.MpuChange) -> None:
    """The app break moved (a brk or sbrk); a malformed event moves nothing."""
    app_break: object = e.get("app_break")
    if not isinstance(app_break, int):
        return
    row.app_break = app_break
    mem = _mem_of(board, row)
    if mem is not None:
        mem.app_break = row.app_break


SCHEDULER_RULES: dict[EventKind, SchedulerRule] = {
    EventKind.PAUSED: _scheduler_paused,
    EventKind.RESUMED_SCHEDULER: _scheduler_resumed,
}

PROCESS_RULES: dict[EventKind, ProcessRule] = {
    EventKind.SYSCALL: _syscall,
    EventKind.CONTEXT_SWITCH: _context_switch,
    EventKind.FUNCTION_CALL: _upcall_delivered,
    EventKind.WAIT_FOR: _upcall_delivered,
    EventKind.UPCALL_DISCARDED: _upcall_discarded,
    EventKind.SCHEDULE: _schedule,
    EventKind.UPCALL_DROPPED: _upcall_dropped,
    EventKind.IPC_NOTIFY: _ipc_notify,
    EventKind.IPC_DROPPED: _ipc_dropped,
    EventKind.IPC_HELD: _ipc_held,
    EventKind.IPC_RELEASED: _ipc_released,
    EventKind.REMOVE_PENDING_UPCALLS: _remove_pending_upcalls,
    EventKind.STOPPED: _stopped,
    EventKind.RESUMED: _resumed,
    EventKind.FAULT: _fault,
    EventKind.TERMINATED: _terminated,
    EventKind.RESTART: _restart,
    EventKind.SPAWN: _spawn,
    EventKind.GRANT_ALLOC: _grant_alloc,
    EventKind.MPU_CHANGE: _mpu_change,
}
