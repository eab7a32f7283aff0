"""The board as the dashboard shows it, as plain data: no sockets, no widgets.

A `Board` is the kernel's state right after one event: the process table, the
scheduler, grants and memory maps. The daemon gives a whole `Board` in a `snapshot`
reply (a keyframe, stamped with the `seq` of the last event before it); `apply` folds
one event into a board, so the board after any later event is rebuilt from the nearest
earlier keyframe (see `tui.history`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

Event = dict[str, Any]

#: Tock's IPC driver number (capsules use it as the upcall's driver)
IPC_DRIVER = 0x10000


@dataclass
class Grant:
    """One allocated grant: a capsule's per-process block in the process's RAM."""

    driver: int
    capsule: str
    address: int
    size: int


@dataclass
class Region:
    """One MPU region (or PMP entry) of a process."""

    number: int
    start: int
    size: int
    perms: int
    detail: str

    @property
    def perms_text(self) -> str:
        return "".join(c if self.perms & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))


@dataclass
class MemMap:
    """A process's flash and RAM as the kernel laid them out (the `mem` reply)."""

    index: int
    flash_start: int
    flash_end: int
    mem_start: int
    mem_end: int
    app_break: int
    kernel_memory_break: int
    allow_high_water_mark: int
    mpu_model: str
    grants: list[Grant]
    regions: list[Region]
    #: seq of the snapshot the MPU regions come from (events do not carry them)
    regions_seq: int = 0

    def copy(self) -> MemMap:
        return replace(self, grants=list(self.grants), regions=list(self.regions))


@dataclass
class ProcRow:
    """One process slot as the process table shows it."""

    index: int
    name: str
    process_id: int  # Tock's ProcessId identifier: what the trace prints in brackets
    os_pid: int | None
    state: str
    current: bool = False
    ready: bool = False
    syscalls: int = 0
    queue: int = 0
    dropped: int = 0
    restarts: int = 0
    grants: list[Grant] = field(default_factory=list)
    app_break: int = 0
    kernel_memory_break: int = 0
    fault_reason: str = ""
    completion_code: int | None = None
    last_syscall: str = ""
    #: a fault whose policy stops the process: the `terminated` that follows means Faulted
    faulting: bool = False
    #: the state a `stopped` event interrupted, restored by `resumed`
    stopped_from: str = ""

    def copy(self) -> ProcRow:
        return replace(self, grants=list(self.grants))


@dataclass
class Sched:
    """The scheduler pane."""

    kind: str
    paused: bool
    current: int | None
    run_queue: list[int]
    decisions: int
    timeslice_us: int
    #: the timeslice handed out at the last context switch, and when (kernel µs)
    slice_us: int | None = None
    slice_start_us: int | None = None
    #: the process of the last context switch (round robin rotates it to the back)
    last_ran: int | None = None

    def copy(self) -> Sched:
        return replace(self, run_queue=list(self.run_queue))


@dataclass
class Board:
    """The board as it was right after event `seq` (kernel clock `t_us`)."""

    seq: int
    t_us: int
    name: str
    info: dict[str, Any]
    sched: Sched
    procs: list[ProcRow]
    capsules: dict[int, str]
    mem: dict[int, MemMap] = field(default_factory=dict)
    #: syscalls/s of each process over the interval that ended at this keyframe
    rates: dict[int, float] = field(default_factory=dict)
    #: CPU% and RSS bytes by OS pid, sampled by the dashboard (psutil)
    os_stats: dict[int, tuple[float, int]] = field(default_factory=dict)

    def copy(self) -> Board:
        return replace(
            self,
            sched=self.sched.copy(),
            procs=[p.copy() for p in self.procs],
            mem={i: m.copy() for i, m in self.mem.items()},
            rates=dict(self.rates),
            os_stats=dict(self.os_stats),
        )

    def proc(self, index: int) -> ProcRow | None:
        return self.procs[index] if 0 <= index < len(self.procs) else None

    def timeslice_left_us(self) -> int | None:
        s = self.sched
        if s.current is None or s.slice_us is None or s.slice_start_us is None:
            return None
        return max(0, s.slice_us - (self.t_us - s.slice_start_us))


def _grants(rows: Iterable[dict[str, Any]], names: dict[int, str]) -> list[Grant]:
    return [
        Grant(
            driver=int(g["driver"]),
            capsule=str(g.get("capsule") or names.get(int(g["driver"]), "?")),
            address=int(g["address"]),
            size=int(g["size"]),
        )
        for g in rows
    ]


def mem_from_reply(m: dict[str, Any], index: int, seq: int, names: dict[int, str]) -> MemMap:
    """A MemMap from a `mem` reply (or the `mem` field of a snapshot)."""
    return MemMap(
        index=index,
        flash_start=int(m["flash_start"]),
        flash_end=int(m["flash_end"]),
        mem_start=int(m["mem_start"]),
        mem_end=int(m["mem_end"]),
        app_break=int(m["app_break"]),
        kernel_memory_break=int(m["kernel_memory_break"]),
        allow_high_water_mark=int(m["allow_high_water_mark"]),
        mpu_model=str(m.get("mpu_model", "")),
        grants=_grants(m.get("grants", []), names),
        regions=[
            Region(
                number=int(r["number"]),
                start=int(r["start"]),
                size=int(r["size"]),
                perms=int(r["perms"]),
                detail=str(r.get("detail", "")),
            )
            for r in m.get("regions", [])
        ],
        regions_seq=seq,
    )


def board_from_snapshot(snap: dict[str, Any]) -> Board:
    """A keyframe from a `snapshot` reply."""
    names = {int(c["driver"]): str(c["name"]) for c in snap.get("capsules", [])}
    s = snap["sched"]
    sched = Sched(
        kind=str(s["kind"]),
        paused=bool(s["paused"]),
        current=s.get("current"),
        run_queue=[int(i) for i in s.get("run_queue", [])],
        decisions=int(s.get("decisions", 0)),
        timeslice_us=int(s.get("timeslice_us", 0)),
    )
    procs = [
        ProcRow(
            index=int(r["index"]),
            name=str(r["name"]),
            process_id=int(r["process_id"]),
            os_pid=r.get("pid"),
            state=str(r["state"]),
            current=bool(r["current"]),
            ready=bool(r["ready"]),
            syscalls=int(r["syscalls"]),
            queue=int(r["queue"]),
            dropped=int(r["dropped_upcalls"]),
            restarts=int(r["restarts"]),
            grants=_grants(r.get("grant_list", []), names),
            app_break=int(r.get("app_break", 0)),
            kernel_memory_break=int(r.get("kernel_memory_break", 0)),
            fault_reason=str(r.get("fault_reason") or ""),
            completion_code=r.get("completion_code"),
            last_syscall=str(r.get("last_syscall") or ""),
        )
        for r in snap["processes"]
    ]
    seq = int(snap["seq"])
    board = Board(
        seq=seq,
        t_us=int(snap["now_us"]),
        name=str(snap["info"]["board"]),
        info=dict(snap["info"]),
        sched=sched,
        procs=procs,
        capsules=names,
    )
    maps = snap.get("mem")
    for m in maps if isinstance(maps, list) else [maps] if maps else []:
        index = int(m["index"])
        board.mem[index] = mem_from_reply(m, index, seq, names)
    return board


# ---- folding events ----------------------------------------------------------------


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
