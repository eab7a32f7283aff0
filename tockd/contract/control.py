"""The control protocol, as its clients speak it: message shapes, framing, one client.

The daemon's control socket (tockd/control.py) answers msgpack maps. A request is
`{"op": NAME, ...}`; a reply is `{"ok": true, "result": ...}` or `{"ok": false,
"error": TEXT}`. The TypedDicts below give each op's request fields and result, so the
server, the command line and the dashboard agree on one description of them.

Two kinds of client share the framing here: the blocking `ControlClient` (the command
line, tests, benchmarks) and the dashboard's asyncio connection (tui/client.py), which
reuses `ReplyReader`, `encode_request` and `check_reply` and only brings its own I/O.
This is the one module of the contract that touches a socket (`ControlClient`): it
lives here, not beside the server, so the dashboard can use it without loading server
or kernel code (tests/tui/test_boundary.py). Like the rest of the contract it imports
only the standard library and msgpack.

Tock has no control socket; its nearest relative is the process console
(capsules/core/src/process_console.rs, release-2.2), whose `list`, `stop`, `start`,
`fault`, `terminate` and `boot` commands the command ops follow (and whose reply texts
they reuse).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

from tockd.contract import wire
from tockd.contract.events import MpuRegion

#: largest single frame a client accepts from the daemon (a snapshot of a big board)
MAX_FRAME = 16 << 20
#: largest array or map in a frame (the process list of a big board)
MAX_ITEMS = 1 << 16
#: bytes a blocking client asks the socket for at once
_RECV = 1 << 16


# ---- replies -------------------------------------------------------------------------


class OkReply(TypedDict):
    """A request that succeeded. `after` only in the reply to a packed `subscribe`: the
    seq of the last event before the stream's first frame."""

    ok: Literal[True]
    result: object
    after: NotRequired[int]


class ErrorReply(TypedDict):
    ok: Literal[False]
    error: str


Reply = OkReply | ErrorReply


def ok(result: object) -> OkReply:
    return {"ok": True, "result": result}


def error(text: str) -> ErrorReply:
    return {"ok": False, "error": text}


# ---- requests, by op (fields besides "op"; the server validates every one) ----------


class ProcessRequest(TypedDict):
    """`mem`, and the process commands (stop, start, boot, fault, terminate, restart):
    `name` is a process name or index."""

    op: str
    name: str | int


class StepRequest(TypedDict):
    op: Literal["step"]
    count: NotRequired[int]  # default 1


class ButtonRequest(TypedDict):
    op: Literal["button"]
    index: int
    pressed: NotRequired[bool]  # default True


class ConsoleRequest(TypedDict):
    op: Literal["console"]
    name: str | int
    text: str


class SnapshotRequest(TypedDict):
    op: Literal["snapshot"]
    mem: NotRequired[str | int]  # "all", a process name or index; absent: no maps


class SubscribeRequest(TypedDict):
    op: Literal["subscribe"]
    kinds: NotRequired[list[str]]  # event kinds to keep; absent: all
    interval_ms: NotRequired[int]  # 0..1000, default 0
    packed: NotRequired[bool]  # one `{"log": ...}` frame per interval


# ---- results, by op ------------------------------------------------------------------


class ProcessRow(TypedDict):
    """One row of `ps` (the process console's `list`, with more columns)."""

    index: int
    name: str
    pid: int | None
    process_id: int
    state: str
    syscalls: int
    queue: int
    dropped_upcalls: int
    restarts: int
    timeslice_expirations: int
    grants: int
    grants_total: int
    current: bool
    ready: bool
    fault_reason: str
    completion_code: int | None
    last_syscall: str


class GrantRow(TypedDict):
    driver: int
    capsule: str
    address: int
    size: int


class MapGrant(TypedDict):
    driver: int
    address: int
    size: int


class RegionRow(MpuRegion):
    """An MPU region and the address ranges it covers (more than one with subregions)."""

    ranges: list[list[int]]


class MemoryMap(TypedDict):
    """The result of `mem`: a process's layout and its MPU regions."""

    name: str
    flash_start: int
    flash_end: int
    mem_start: int
    mem_end: int
    app_break: int
    kernel_memory_break: int
    allow_high_water_mark: int
    grants: list[MapGrant]
    mpu_model: str
    regions: list[RegionRow]


class IndexedMemoryMap(MemoryMap):
    index: int


class CapsuleName(TypedDict):
    driver: int
    name: str


class BoardInfo(TypedDict):
    board: str
    mpu: str
    scheduler: str
    timeslice_us: int
    kernel_mode: str
    hardened: dict[str, bool]
    ram_base: int
    ram_size: int
    daemon_pid: int
    paused: bool


class SchedInfo(TypedDict):
    kind: str
    paused: bool
    current: int | None
    run_queue: list[int]
    decisions: int
    steps_pending: int
    timeslice_us: int


class ProcessGrants(TypedDict):
    index: int
    name: str
    grants: list[GrantRow]


class GrantsResult(TypedDict):
    capsules: list[CapsuleName]
    processes: list[ProcessGrants]


class SnapshotProcess(ProcessRow):
    grant_list: list[GrantRow]
    app_break: int
    kernel_memory_break: int


class IpcClient(TypedDict):
    client: int
    service: int


class IpcWindow(TypedDict):
    """A buffer of `owner` that `holder` sees, and the MPU region it is mapped with."""

    holder: int
    owner: int
    ptr: int
    length: int
    region_start: int
    region_size: int


class IpcView(TypedDict):
    """What the IPC capsule says of itself: services, clients, shared buffers."""

    services: list[int]
    clients: list[IpcClient]
    windows: list[IpcWindow]


class ReplayDecision(TypedDict):
    """A decision of a schedule: its number (from 1), kind (a DecisionKind), options,
    the one the schedule takes and the default one (tockd/lab/shrink.py)."""

    step: int
    kind: str
    options: list[str]
    choice: int
    default: int


class ReplayOutcome(TypedDict):
    """A run judged as `tockd replay` judges it; `violated` names the checks that failed
    (property names, "invariants")."""

    verdict: str  # "ok" | "violation"
    digest: str
    violations: list[str]
    violated: list[str]


class ReplayView(TypedDict):
    """The result of `replay`, on a board following a schedule file: the file's record
    (`recorded_*` is what plain `tockd replay` reproduces), `taken` of its `total`
    decisions, the `next` one (None once all are taken or the run left the schedule,
    `divergence` says where), the numbers of those off the default path (the first 64
    of `essential`), and the run's `outcome` once it is over (every process waits with
    nothing pending)."""

    file: str
    board: str
    board_changed: bool
    properties: list[str]
    recorded_verdict: str
    recorded_digest: str
    recorded_violations: list[str]
    total: int
    taken: int
    essential: int
    off_default: list[int]
    next: ReplayDecision | None
    divergence: str
    outcome: ReplayOutcome | None


class Snapshot(TypedDict):
    """The result of `snapshot`: `seq` is the last event before it, `now_us` the kernel
    clock on the events' scale; `ipc` only on a board with the IPC capsule."""

    seq: int
    now_us: int
    info: BoardInfo
    sched: SchedInfo
    capsules: list[CapsuleName]
    processes: list[SnapshotProcess]
    mem: list[IndexedMemoryMap]
    ipc: NotRequired[IpcView]


# ---- framing, for any client -----------------------------------------------------------


class ControlFailed(Exception):
    """The daemon answered a request with an error; the message is the daemon's."""

    def __init__(self, op: str, error: str) -> None:
        super().__init__(f"{op}: {error}")
        self.op = op
        self.error = error


class Disconnected(Exception):
    """The daemon closed the control connection, or sent what is not a frame."""


def encode_request(op: str, **fields: object) -> bytes:
    """One request frame, `{"op": op, **fields}`."""
    return wire.encode({"op": op, **fields})


class ReplyReader:
    """The daemon's frames out of the bytes a client reads, whatever their cut: feed
    what the socket gave, then take the frames it completed. Bounded by `MAX_FRAME` and
    `MAX_ITEMS`, with the decoder the kernel uses for apps."""

    def __init__(self) -> None:
        self._decoder = wire.FrameDecoder(max_frame=MAX_FRAME, max_items=MAX_ITEMS)
        self._frames: list[object] = []

    def feed(self, data: bytes) -> None:
        """Add bytes read from the socket; empty bytes mean the daemon closed it."""
        if not data:
            raise Disconnected("the daemon closed the control connection")
        try:
            self._decoder.feed(data)
            self._frames.extend(self._decoder.frames())
        except wire.WireError as e:
            raise Disconnected(f"the daemon sent a bad frame: {e}") from None

    def has_frame(self) -> bool:
        return bool(self._frames)

    def take_one(self) -> object:
        """The oldest whole frame not yet taken (check `has_frame` first)."""
        return self._frames.pop(0)

    def take_all(self) -> list[object]:
        """Every whole frame not yet taken, oldest first."""
        frames, self._frames = self._frames, []
        return frames


def check_reply(op: str, reply: object) -> OkReply:
    """`reply` if it is a success; raise ControlFailed with the daemon's reason if it is
    an error, Disconnected if it is not a reply at all."""
    if type(reply) is not dict:
        raise Disconnected(f"{op}: the daemon answered with {type(reply).__name__}")
    if not reply.get("ok"):
        raise ControlFailed(op, str(reply.get("error")))
    checked = ok(reply.get("result"))
    after = reply.get("after")
    if type(after) is int:
        checked["after"] = after
    return checked


# ---- the blocking client -------------------------------------------------------------


def open_socket(path: str | Path) -> socket.socket:
    """A stream connection to the control socket at `path` (OSError if none listens)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        raise
    return sock


class ControlClient:
    """A blocking client on one connection: requests are answered in order, one at a
    time. Errors are exceptions (ControlFailed, Disconnected); the command line turns
    them into its exit message (tockd/cli/common.py `Client`)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = ReplyReader()

    @classmethod
    def connect(cls, path: str | Path) -> ControlClient:
        return cls(open_socket(path))

    def send(self, op: str, **fields: object) -> None:
        """Send one request without waiting for its reply (`subscribe`, then `recv`)."""
        self.sock.sendall(encode_request(op, **fields))

    def recv(self) -> Any:
        """The next frame from the daemon (a reply, or a streamed event or log): a
        msgpack value, whose shape the caller knows from what it asked (`Any`: the one
        place the protocol's dynamic values meet typed callers)."""
        reader = self._reader
        while not reader.has_frame():
            reader.feed(self.sock.recv(_RECV))
        return reader.take_one()

    def exchange(self, op: str, **fields: object) -> OkReply:
        """Send a request and return its whole reply, if it says ok."""
        self.send(op, **fields)
        return check_reply(op, self.recv())

    def request(self, op: str, **fields: object) -> Any:
        """Send a request and return its result (shaped as the op's result TypedDict)."""
        return self.exchange(op, **fields)["result"]

    def close(self) -> None:
        self.sock.close()
