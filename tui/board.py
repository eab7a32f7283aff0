"""The board as the dashboard shows it, as plain data: no sockets, no widgets.

A `Board` is the kernel's state right after one event: the process table, the
scheduler, grants and memory maps. The daemon gives a whole `Board` in a `snapshot`
reply (a keyframe, stamped with the `seq` of the last event before it); `tockd.tui.fold`
folds events into a board, so the board after any later event is rebuilt from the
nearest earlier keyframe (see `tockd.tui.history`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from tockd.contract.control import (
    BoardInfo,
    GrantRow,
    IpcView,
    MapGrant,
    MemoryMap,
    Snapshot,
)
from tockd.contract.events import Event

__all__ = ["Board", "Event", "Grant", "MemMap", "ProcRow", "Region", "Sched"]


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
    #: the daemon is gone, and this process with it (`Board.ended`)
    gone: bool = False

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
    info: BoardInfo
    sched: Sched
    procs: list[ProcRow]
    capsules: dict[int, str]
    mem: dict[int, MemMap] = field(default_factory=dict)
    #: syscalls/s of each process over the interval that ended at this keyframe
    rates: dict[int, float] = field(default_factory=dict)
    #: CPU% and RSS bytes by OS pid, sampled by the dashboard (psutil)
    os_stats: dict[int, tuple[float, int]] = field(default_factory=dict)
    #: IPC services, clients and shared buffers (None: the board has no IPC capsule),
    #: as at event `ipc_seq`: the keyframe's, not folded forward
    ipc: IpcView | None = None
    ipc_seq: int = 0
    #: why the daemon is gone (None: it is there); see `ended`
    gone: str | None = None

    def copy(self) -> Board:
        return replace(
            self,
            sched=self.sched.copy(),
            procs=[p.copy() for p in self.procs],
            mem={i: m.copy() for i, m in self.mem.items()},
            rates=dict(self.rates),
            os_stats=dict(self.os_stats),
        )

    def ended(self, reason: str) -> Board:
        """The board as the dashboard shows it once its daemon is gone (`reason`): every
        app died with it, so no process is on the CPU, ready or has an OS pid, and
        nothing is queued to run; each row keeps the state it was last seen in."""
        board = self.copy()
        board.gone = reason
        board.os_stats = {}
        board.sched.current = None
        board.sched.run_queue = []
        for p in board.procs:
            p.gone, p.current, p.ready, p.os_pid = True, False, False, None
        return board

    def proc(self, index: int) -> ProcRow | None:
        return self.procs[index] if 0 <= index < len(self.procs) else None

    def timeslice_left_us(self) -> int | None:
        s = self.sched
        if s.current is None or s.slice_us is None or s.slice_start_us is None:
            return None
        return max(0, s.slice_us - (self.t_us - s.slice_start_us))


def _grants(rows: Iterable[GrantRow | MapGrant], names: dict[int, str]) -> list[Grant]:
    return [
        Grant(
            driver=int(g["driver"]),
            capsule=str(g.get("capsule") or names.get(int(g["driver"]), "?")),
            address=int(g["address"]),
            size=int(g["size"]),
        )
        for g in rows
    ]


def mem_from_reply(m: MemoryMap, index: int, seq: int, names: dict[int, str]) -> MemMap:
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


def board_from_snapshot(snap: Snapshot) -> Board:
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
        info=BoardInfo(**snap["info"]),
        sched=sched,
        procs=procs,
        capsules=names,
    )
    ipc = snap.get("ipc")
    if isinstance(ipc, dict):
        board.ipc, board.ipc_seq = ipc, seq
    maps = snap.get("mem")
    for m in maps if isinstance(maps, list) else [maps] if maps else []:
        index = int(m["index"])
        board.mem[index] = mem_from_reply(m, index, seq, names)
    return board
