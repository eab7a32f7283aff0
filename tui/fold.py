"""Folding kernel events into a `Board`: the board right after an event, from the board
right before it.

Each rule mirrors what the kernel did when it emitted the event (tockd/kernel/kernel.py,
the capsules): a syscall counts and sets the state, a `schedule` queues an upcall, a
`function_call` delivers one, a `restart` gives a fresh ProcessId and empty counters, a
`grant_alloc` moves kernel_memory_break down. tests/tui/test_model.py checks the rules
against the kernel itself: folding the events between two snapshots of a real board
must give the second snapshot.
"""

from __future__ import annotations

from tui.board import Board, Event, Grant, ProcRow

#: Tock's IPC driver number (capsules use it as the upcall's driver)
IPC_DRIVER = 0x10000


def _settle_state(row: ProcRow) -> None:
    row.ready = row.state == "Running" or (row.state == "Yielded" and row.queue > 0)


def apply(board: Board, ev: Event) -> None:
    """Fold one event into `board` (in place): the board as it is right after `ev`."""
    board.seq = int(ev.get("seq", board.seq))
    board.t_us = int(ev.get("t", board.t_us))
    kind = ev["kind"]
    index = ev.get("index")
    row = board.proc(index) if type(index) is int else None
    if kind in ("paused", "resumed_scheduler"):
        board.sched.paused = kind == "paused"
        if board.sched.paused and board.sched.current is not None:
            # the kernel preempts the running process at its next syscall boundary
            current = board.proc(board.sched.current)
            if current is not None:
                _off_cpu(board, current)
        return
    if row is None:
        return
    mem = board.mem.get(row.index)
    if kind == "syscall":
        row.syscalls += 1
        board.sched.decisions += 1
        cls, args = ev["cls"], ev["args"]
        if cls == 0:
            which = args[0]
            if which == 1:
                row.state = "Yielded"
            elif which == 2:
                row.state = (
                    f"YieldedFor(UpcallId {{ driver_num: {args[1]:#x}, subscribe_num: {args[2]} }})"
                )
            elif row.queue:
                row.state = "Yielded"
            row.last_syscall = f"Yield {{ which: {which} }}"
        elif cls != 6:
            row.state = "Running"
        _settle_state(row)
        if not row.ready:
            _off_cpu(board, row)
    elif kind == "context_switch":
        _context_switch(board, row.index, ev)
    elif kind in ("function_call", "wait_for"):
        board.sched.decisions += 1
        row.queue = max(0, row.queue - 1)
        row.state = "Running"
        _settle_state(row)
    elif kind == "upcall_discarded":
        row.queue = max(0, row.queue - 1)
        _settle_state(row)
    elif kind == "schedule":
        if ev.get("driver") == IPC_DRIVER:
            row.queue = max(0, row.queue - 1)  # the IPC task this upcall is delivering
        if ev.get("result") == "Ok(())":
            row.queue += 1
            if row.state == "Yielded":
                row.ready = True
    elif kind == "upcall_dropped":
        if "QueueFull" in str(ev.get("reason", "")):
            row.dropped += 1
    elif kind.startswith("ipc_"):
        _ipc(board, row, ev)
    elif kind == "remove_pending_upcalls":
        row.queue = max(0, row.queue - int(ev.get("removed", 0)))
        _settle_state(row)
    elif kind == "stopped":
        row.stopped_from = row.state
        row.state = f"Stopped({row.state.split('(', 1)[0]})"
        row.ready = False
        _off_cpu(board, row)
    elif kind == "resumed":
        inner = row.state[len("Stopped(") : -1] if row.state.startswith("Stopped(") else ""
        row.state = row.stopped_from or inner or "Running"
        row.stopped_from = ""
        _settle_state(row)
    elif kind == "fault":
        row.fault_reason = str(ev.get("reason", ""))
        row.faulting = ev.get("policy") in ("stop", "panic")
        if ev.get("policy") == "panic":
            row.state = "Faulted"
            row.ready = False
    elif kind == "terminated":
        row.state = "Faulted" if row.faulting else "Terminated"
        row.faulting = False
        row.completion_code = ev.get("completion_code")
        row.queue = 0
        row.ready = False
        row.grants = []
        if mem is not None:
            mem.grants = []
        _off_cpu(board, row)
    elif kind == "restart":
        _off_cpu(board, row)
        row.process_id = int(ev["pid"])
        row.restarts = int(ev.get("restart_count", row.restarts + 1))
        row.syscalls = row.dropped = 0
        row.queue = 1  # the `_start` call, queued by the reset
        row.state = "Yielded"
        row.ready = True
        row.faulting = False
        row.fault_reason = ""
        row.completion_code = None
        row.grants = []
        row.app_break = int(ev.get("app_break", row.app_break))
        row.kernel_memory_break = int(ev.get("kernel_memory_break", row.kernel_memory_break))
        if mem is not None:
            mem.grants = []
            mem.app_break = row.app_break
            mem.kernel_memory_break = row.kernel_memory_break
            mem.allow_high_water_mark = int(
                ev.get("allow_high_water_mark", mem.allow_high_water_mark)
            )
    elif kind == "spawn":
        row.os_pid = ev.get("os_pid")
    elif kind == "grant_alloc":
        g = Grant(
            driver=int(ev["driver"]),
            capsule=board.capsules.get(int(ev["driver"]), "?"),
            address=int(ev["address"]),
            size=int(ev["size"]),
        )
        row.grants.append(g)
        row.kernel_memory_break = int(ev.get("kernel_memory_break", g.address))
        if mem is not None:
            mem.grants.append(g)
            mem.kernel_memory_break = row.kernel_memory_break
    elif kind == "mpu_change" and "app_break" in ev:
        row.app_break = int(ev["app_break"])
        if mem is not None:
            mem.app_break = row.app_break


def _ipc(board: Board, row: ProcRow, ev: Event) -> None:
    """IPC events (tockd/capsules/ipc.py). A notify queues an IPC task on its target;
    delivery pops it silently and ends in a `schedule` (counted there), a drop or a hold."""
    kind = ev["kind"]
    if kind == "ipc_notify":
        index = ev.get("target")
        target = board.proc(index) if type(index) is int else None
        if target is not None and ev.get("result") == "Success":
            target.queue += 1
            if target.state == "Yielded":
                target.ready = True
    elif kind == "ipc_dropped":
        if ev.get("counted"):
            row.dropped += 1
        reason = str(ev.get("reason", ""))
        # a drop on the delivery path lost the popped task; these two are followed by a
        # `schedule`, and a stopped callee's queue is emptied by its `terminated`
        if not reason.startswith(("null upcall", "schedule_upcall", "callee stopped")):
            row.queue = max(0, row.queue - 1)
            _settle_state(row)
    elif kind == "ipc_held":
        row.queue = max(0, row.queue - 1)
        _settle_state(row)
    elif kind == "ipc_released":
        row.queue += int(ev.get("count", 0))
        _settle_state(row)


def _off_cpu(board: Board, row: ProcRow) -> None:
    """`row` gave up the CPU (yielded with nothing to do, stopped, ended)."""
    row.current = False
    if board.sched.current == row.index:
        board.sched.current = None


def _context_switch(board: Board, index: int, ev: Event) -> None:
    """Round robin as Tock does it: the process that ran goes to the back of the queue,
    the chosen one is the first ready process in order."""
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
    slice_us = ev.get("timeslice_us")
    s.slice_us = int(slice_us) if slice_us is not None else None
    s.slice_start_us = int(ev.get("t", board.t_us))
