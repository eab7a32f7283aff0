"""The control socket: queries, commands and event subscription over msgpack.

Only the owner gets in: the socket lives in a private directory (0700, under
`$XDG_RUNTIME_DIR` when set), is itself 0600, and every connection's peer credentials
(SO_PEERCRED) must match the daemon's uid. A connection that sends `{"op": "readonly"}`
may only query and watch from then on. Every request is validated; a bad one gets an
error reply, never a dead daemon.

Request: a msgpack map `{"op": NAME, ...}`. Reply: `{"ok": true, "result": ...}` or
`{"ok": false, "error": TEXT}`. After `{"op": "subscribe"}` the daemon streams
`{"event": {...}}` maps until the client closes (or, with `"packed": true`, one
`{"log": ...}` map per interval: see `_stream_packed` and tockd/records.py).

For dashboards: `{"op": "snapshot", "mem": "all" | NAME | INDEX}` answers everything
the panes show at one instant, stamped with the `seq` of the last event before it, so
it lines up with the event stream; `{"op": "grants"}` lists each process's grants.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack
import trio

from tockd.contract import wire
from tockd.kernel.abi import DriverNum
from tockd.kernel.process import Process

if TYPE_CHECKING:
    from tockd.daemon import Daemon

COMMANDS = (
    "stop",
    "start",
    "boot",
    "fault",
    "terminate",
    "restart",
    "button",
    "console",
    "pause",
    "resume",
    "step",
)
QUERIES = (
    "ps",
    "info",
    "mem",
    "sched",
    "grants",
    "snapshot",
    "ipc",
    "subscribe",
    "readonly",
    "ping",
)
#: the longest a subscriber may ask events to gather before a batch is sent
MAX_INTERVAL_MS = 1000
#: buffer (and largest batch) of a coalescing subscriber, in events
COALESCED_BUFFER = 65536
#: the shortest time a packed stream lets events gather (its `interval_ms` at 0)
PACKED_FLUSH_MS = 20
#: frames queued for a slow packed subscriber; while they are all queued, new events
#: wait in the log and go out in a later, larger frame (none is dropped)
PACKED_QUEUE = 16
#: the most log entries one frame of a packed stream may carry, and so the most a
#: subscriber that stopped reading makes the daemon hold; beyond, the log's events are
#: given up, and the next frame says so (see `_stream_packed`)
PACKED_MOST = 1 << 20


class ControlError(Exception):
    pass


def run_dir() -> Path:
    """The private directory holding control sockets."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = Path(base) / "tockd" if base else Path(f"/tmp/tockd-{os.getuid()}")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise ControlError(f"{path} is not a directory owned by uid {os.getuid()}")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def default_socket_path(board: str) -> Path:
    return run_dir() / f"{board}-{os.getpid()}.sock"


def find_socket() -> Path:
    """The newest control socket in the run directory that accepts a connection."""
    candidates = sorted(run_dir().glob("*.sock"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in candidates:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(str(path))
            except OSError:
                with contextlib.suppress(OSError):
                    path.unlink()  # a stale socket of a daemon that died
                continue
            return path
    raise ControlError(f"no running tockd daemon (no live socket in {run_dir()})")


def process_row(daemon: Daemon, p: Process) -> dict[str, Any]:
    return {
        "index": p.index,
        "name": p.name,
        "pid": p.pid if p.os is not None else None,
        "process_id": p.identifier,
        "state": p.state_debug(),
        "syscalls": p.syscall_count,
        "queue": len(p.queue),
        "dropped_upcalls": p.dropped_upcall_count,
        "restarts": p.restart_count,
        "timeslice_expirations": p.timeslice_expirations,
        "grants": len(p.grant_ptrs),
        "grants_total": len(daemon.kernel.grant_numbers),
        "current": daemon.current is p,
        "ready": p.ready(),
        "fault_reason": p.fault_reason,
        "completion_code": p.completion_code,
        "last_syscall": p.last_syscall,
    }


def memory_map(daemon: Daemon, p: Process) -> dict[str, Any]:
    kernel = daemon.kernel
    grants = []
    for driver, num in kernel.grant_numbers.items():
        address = p.grant_ptrs.get(num)
        if address is not None:
            grants.append(
                {
                    "driver": driver,
                    "address": address,
                    "size": kernel.capsules[driver].grant_spec.size,
                }
            )
    assert p.mpu is not None
    regions = [
        {
            "number": r.number,
            "start": r.start,
            "size": r.size,
            "perms": int(r.perms),
            "detail": r.detail,
            "ranges": [list(x) for x in r.opened()],
        }
        for r in p.mpu.regions()
    ]
    return {
        "name": p.name,
        "flash_start": p.flash_start,
        "flash_end": p.flash_end,
        "mem_start": p.mem_start,
        "mem_end": p.mem_end,
        "app_break": p.app_break,
        "kernel_memory_break": p.kernel_memory_break,
        "allow_high_water_mark": p.allow_high_water_mark,
        "grants": grants,
        "mpu_model": kernel.mpu.name,
        "regions": regions,
    }


def capsule_names(daemon: Daemon) -> list[dict[str, Any]]:
    """Driver number and capsule class name of every capsule of the board (a list:
    msgpack map keys must be strings)."""
    return [
        {"driver": driver, "name": type(c).__name__} for driver, c in daemon.kernel.capsules.items()
    ]


def grant_rows(daemon: Daemon, p: Process) -> list[dict[str, Any]]:
    """The grants `p` has allocated: driver, capsule, address and bytes, by driver."""
    kernel = daemon.kernel
    rows = []
    for driver, num in kernel.grant_numbers.items():
        address = p.grant_ptrs.get(num)
        if address is not None:
            capsule = kernel.capsules[driver]
            rows.append(
                {
                    "driver": driver,
                    "capsule": type(capsule).__name__,
                    "address": address,
                    "size": capsule.grant_spec.size,
                }
            )
    return rows


def board_info(daemon: Daemon) -> dict[str, Any]:
    cfg = daemon.cfg
    return {
        "board": cfg.name,
        "mpu": cfg.mpu,
        "scheduler": cfg.scheduler,
        "timeslice_us": cfg.timeslice_us,
        "kernel_mode": cfg.kernel_mode,
        "hardened": cfg.hardened,
        "ram_base": cfg.ram_base,
        "ram_size": cfg.ram_size,
        "daemon_pid": os.getpid(),
        "paused": daemon.paused,
    }


def snapshot(daemon: Daemon, mem: list[Process]) -> dict[str, Any]:
    """Everything a dashboard shows, taken at one instant between two kernel steps.

    `seq` is the sequence number of the last event emitted before the snapshot, so a
    subscriber can line the snapshot up with its event stream exactly; `now_us` is the
    kernel clock on the scale of the events' `t`. `mem` holds the memory maps of the
    processes asked for; `ipc`, on a board with the IPC capsule, its services, clients
    and shared buffers.
    """
    kernel = daemon.kernel
    processes = []
    for p in kernel.processes:
        row = process_row(daemon, p)
        row["grant_list"] = grant_rows(daemon, p)
        row["app_break"] = p.app_break
        row["kernel_memory_break"] = p.kernel_memory_break
        processes.append(row)
    snap = {
        "seq": kernel.events.seq,
        "now_us": round(kernel.clock() * 1e6),
        "info": board_info(daemon),
        "sched": sched_info(daemon),
        "capsules": capsule_names(daemon),
        "processes": processes,
        "mem": [{"index": p.index, **memory_map(daemon, p)} for p in mem],
    }
    describe = getattr(kernel.capsules.get(DriverNum.IPC), "describe", None)
    if describe is not None:
        snap["ipc"] = describe()  # what the `ipc` op answers, at the same instant
    return snap


def sched_info(daemon: Daemon) -> dict[str, Any]:
    return {
        "kind": daemon.scheduler.name,
        "paused": daemon.paused,
        "current": daemon.current.index if daemon.current else None,
        "run_queue": daemon.scheduler.run_queue(),
        "decisions": daemon.decisions,
        "steps_pending": daemon.steps,
        "timeslice_us": daemon.cfg.timeslice_us,
    }


class ControlServer:
    """Serves the control protocol for one daemon."""

    def __init__(self, daemon: Daemon, path: Path) -> None:
        self.daemon = daemon
        self.path = path

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self.path.exists():
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()
            else:
                raise ControlError(f"{self.path} exists and is not a socket")
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # bind under a temporary name and rename into place once listening, so a client
        # never sees a socket file that refuses connections (nor removes it as stale)
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        old = os.umask(0o177)
        try:
            await sock.bind(str(staging))
        finally:
            os.umask(old)
        os.chmod(staging, 0o600)
        sock.listen(16)
        os.rename(staging, self.path)
        listener = trio.SocketListener(sock)
        try:
            async with trio.open_nursery() as nursery:
                task_status.started()
                while True:
                    stream = await listener.accept()
                    nursery.start_soon(self._connection, stream)
        finally:
            with contextlib.suppress(OSError):
                self.path.unlink()
            await listener.aclose()

    async def _connection(self, stream: trio.SocketStream) -> None:
        # a handler's exception must never reach the nursery (it would stop the daemon)
        try:
            async with stream:
                creds = stream.socket.getsockopt(
                    socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
                )
                _pid, uid, _gid = struct.unpack("3i", creds)
                if uid != os.getuid():
                    await stream.send_all(
                        wire.encode(
                            {"ok": False, "error": "permission denied: not the daemon's user"}
                        )
                    )
                    return
                await self._session(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass

    async def _session(self, stream: trio.SocketStream) -> None:
        decoder = wire.FrameDecoder()
        readonly = False
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            try:
                decoder.feed(data)
                requests = list(decoder.frames())
            except wire.WireError as e:
                await stream.send_all(wire.encode({"ok": False, "error": str(e)}))
                return
            for req in requests:
                if type(req) is dict and req.get("op") == "subscribe":
                    await self._stream_events(stream, req)
                    return
                if type(req) is dict and req.get("op") == "readonly":
                    readonly = True
                    reply: dict[str, Any] = {"ok": True, "result": "read-only"}
                else:
                    reply = await self.handle(req, readonly=readonly)
                await stream.send_all(wire.encode(reply))

    async def handle(self, req: Any, *, readonly: bool = False) -> dict[str, Any]:
        """Validate and answer one request."""
        if type(req) is not dict or type(req.get("op")) is not str:
            return {"ok": False, "error": "a request is a map with a string 'op'"}
        op = req["op"]
        if op not in COMMANDS and op not in QUERIES:
            return {
                "ok": False,
                "error": f"unknown op {op!r} (known: {', '.join(QUERIES + COMMANDS)})",
            }
        if op in COMMANDS and readonly:
            return {"ok": False, "error": f"{op}: this connection is read-only"}
        try:
            if op in COMMANDS:
                result = await self._command(op, req)
            else:
                result = self._query(op, req)
        except ControlError as e:
            return {"ok": False, "error": str(e)}
        return {"ok": True, "result": result}

    async def _stream_events(self, stream: trio.SocketStream, req: dict[str, Any]) -> None:
        await _stream_events_impl(self.daemon, stream, req)

    def _proc(self, req: dict[str, Any], field: str = "name") -> Process:
        name = req.get(field)
        kernel = self.daemon.kernel
        if type(name) is int:
            if 0 <= name < len(kernel.processes):
                return kernel.processes[name]
            raise ControlError(f"no process at index {name}")
        if type(name) is not str:
            raise ControlError(f"{field!r} must be a process name or index")
        proc = kernel.find(name)
        if proc is None:
            names = ", ".join(p.name for p in kernel.processes)
            raise ControlError(f"no process named {name!r} (processes: {names})")
        return proc

    def _query(self, op: str, req: dict[str, Any]) -> Any:
        d = self.daemon
        if op == "ping":
            return "pong"
        if op == "ps":
            return [process_row(d, p) for p in d.kernel.processes]
        if op == "info":
            return board_info(d)
        if op == "mem":
            return memory_map(d, self._proc(req))
        if op == "sched":
            return sched_info(d)
        if op == "ipc":
            ipc = d.kernel.capsules.get(DriverNum.IPC)
            describe = getattr(ipc, "describe", None)
            if describe is None:
                raise ControlError("this board has no IPC capsule")
            return describe()
        if op == "grants":
            return {
                "capsules": capsule_names(d),
                "processes": [
                    {"index": p.index, "name": p.name, "grants": grant_rows(d, p)}
                    for p in d.kernel.processes
                ],
            }
        if op == "snapshot":
            # `mem`: "all", or the index or name of one process, or absent: which
            # memory maps to include
            which = req.get("mem")
            if which is None:
                maps = []
            elif which == "all":
                maps = list(d.kernel.processes)
            else:
                maps = [self._proc(req, "mem")]
            return snapshot(d, maps)
        raise ControlError(f"unhandled query {op}")

    async def _command(self, op: str, req: dict[str, Any]) -> Any:
        d = self.daemon
        kernel = d.kernel
        action: Callable[[], Any]
        if op in ("pause", "resume"):

            def action() -> Any:
                d.paused = op == "pause"
                kernel.emit("paused" if d.paused else "resumed_scheduler")
                return d.paused
        elif op == "step":
            count = req.get("count", 1)
            if type(count) is not int or count < 1:
                raise ControlError("step needs a positive integer 'count'")

            def action() -> Any:
                if not d.paused:
                    raise ControlError("step: pause the scheduler first")
                d.steps += count
                d.wake()
                return d.decisions
        elif op == "button":
            index, pressed = req.get("index"), req.get("pressed", True)
            if type(index) is not int or type(pressed) is not bool:
                raise ControlError("button needs an integer 'index' and a bool 'pressed'")
            button = kernel.capsules.get(DriverNum.BUTTON)

            def action() -> Any:
                try:
                    return button.set_button(index, pressed)  # type: ignore[union-attr]
                except ValueError as e:
                    raise ControlError(str(e)) from None
        elif op == "console":
            proc = self._proc(req)
            text = req.get("text")
            if type(text) is not str:
                raise ControlError("console needs a string 'text'")
            console = kernel.capsules[DriverNum.CONSOLE]

            def action() -> Any:
                console.feed_input(proc, text.encode())  # type: ignore[attr-defined]
                return len(text)
        else:
            proc = self._proc(req)
            action = _process_action(d, op, proc)
        return await _in_kernel(d, action)


def _process_action(d: Daemon, op: str, proc: Process) -> Callable[[], Any]:
    kernel = d.kernel

    def action() -> Any:
        if op == "stop":
            ok = kernel.stop(proc)
            return f"Process {proc.name} stopped" if ok else f"{proc.name} is {proc.state_debug()}"
        if op == "start":
            ok = kernel.resume(proc)
            return f"Process {proc.name} resumed." if ok else f"{proc.name} is not stopped"
        if op == "boot":
            if not kernel.start(proc):
                raise ControlError(f"{proc.name} is {proc.state_debug()}; boot needs Terminated")
            return f"Process {proc.name} booted"
        if op == "fault":
            if not proc.is_alive():
                raise ControlError(f"{proc.name} is {proc.state_debug()}")
            kernel.fault(proc, "faulted from the process console")
            return f"Process {proc.name} now faulted"
        if op == "terminate":
            kernel.terminate(proc, None)
            return f"Process {proc.name} terminated"
        if op == "restart":
            if proc.state.name == "TERMINATED":
                kernel.start(proc)
            else:
                kernel.try_restart(proc, None)
            return f"Process {proc.name} restarted"
        raise ControlError(f"unhandled command {op}")

    return action


async def _in_kernel(d: Daemon, action: Callable[[], Any]) -> Any:
    """Run `action` inside the kernel loop and wait for its result."""
    done = trio.Event()
    box: list[Any] = []

    def work() -> None:
        try:
            box.append((True, action()))
        except ControlError as e:
            box.append((False, e))
        done.set()

    d.post(work)
    with trio.move_on_after(10):
        await done.wait()
    if not box:
        raise ControlError("the kernel did not answer in 10 s")
    ok, value = box[0]
    if not ok:
        raise value
    return value


async def _stream_events_impl(
    daemon: Daemon, stream: trio.SocketStream, req: dict[str, Any]
) -> None:
    """Stream events to one subscriber until it goes away.

    Optional fields: `kinds`, a list of event kind names to keep (default: all);
    `interval_ms` (0..1000, default 0), how long to let events gather after the first
    one before sending them, so a dashboard gets a few large writes a second instead of
    one per scheduler round; `packed` (default false): send one `{"log": ...}` frame per
    interval instead of one `{"event": {...}}` frame per event (see `_stream_packed`).
    A slow subscriber never blocks the kernel: events that do not fit its buffer are
    dropped (its `seq` shows the gap).
    """
    kinds = req.get("kinds")
    if kinds is not None and (type(kinds) is not list or any(type(k) is not str for k in kinds)):
        error = "subscribe: 'kinds' must be a list of event kind names"
        await stream.send_all(wire.encode({"ok": False, "error": error}))
        return
    interval = req.get("interval_ms", 0)
    if type(interval) is not int or not 0 <= interval <= MAX_INTERVAL_MS:
        error = f"subscribe: 'interval_ms' must be an integer 0..{MAX_INTERVAL_MS}"
        await stream.send_all(wire.encode({"ok": False, "error": error}))
        return
    packed = req.get("packed", False)
    if type(packed) is not bool:
        await stream.send_all(wire.encode({"ok": False, "error": "subscribe: 'packed' is a bool"}))
        return
    wanted = set(kinds) if kinds is not None else None
    if packed:
        await _stream_packed(daemon, stream, wanted, interval)
        return
    depth = 4096 if interval == 0 else COALESCED_BUFFER
    send, recv = trio.open_memory_channel[dict[str, Any]](depth)
    dropped = [0]

    def sink(ev: dict[str, Any]) -> None:
        if wanted is None or ev["kind"] in wanted:
            try:
                send.send_nowait(ev)
            except trio.WouldBlock:
                dropped[0] += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the subscriber is leaving; its sink is being removed

    remove = daemon.kernel.events.subscribe(sink)
    try:
        await stream.send_all(wire.encode({"ok": True, "result": "subscribed"}))
        async for ev in recv:
            if interval:
                await trio.sleep(interval / 1000)
            batch = [ev]
            while len(batch) < depth:
                try:
                    batch.append(recv.receive_nowait())
                except trio.WouldBlock:
                    break
            await stream.send_all(b"".join([_pack_frame({"event": e}) for e in batch]))
    finally:
        # remove the sink before closing the channel, with no checkpoint in between: a
        # kernel event in that window would otherwise raise into the kernel loop
        remove()
        send.close()
        recv.close()


async def _stream_packed(
    daemon: Daemon, stream: trio.SocketStream, wanted: set[str] | None, interval: int
) -> None:
    """The `packed` stream: every `interval` ms (`PACKED_FLUSH_MS` at the least) one
    frame `{"log": {"first": SEQ, "last": SEQ, "entries": BIN}}` with the events since
    the last (tockd/records.py says what the entries are). The kernel's share is kept to
    the least: a syscall is two appends of bytes the daemon holds anyway, the call as
    the app sent it and the reply (no call of ours, no dict, nothing packed); another
    event is packed at once and only its bytes are kept (a dict held until the batch
    goes out would survive into the older GC generations, and the collector's work over
    them cost more than the packing); a log is sent as the join of its entries. A second
    loop sends the frames. A subscriber that falls behind never costs the kernel's time
    and loses nothing: while `PACKED_QUEUE` frames wait for it, the log is not cut and
    its events go out in the next frame. Only one that stays behind until the log holds
    `PACKED_MOST` entries loses them: the log is emptied down to one integer entry, the
    seq of the last event given up (tockd/records.py reads it as events not sent), so
    the next frame still covers every seq and the subscriber sees what it missed (a
    dashboard counts and shows it). The subscribe reply's `"after"` is the seq of the
    last event before the first frame: with it a client knows where its stream starts,
    even on a board that is quiet for a while. A frame has `"names"`, the process names
    by index, when they changed."""
    kernel = daemon.kernel
    log: list[Any] = []
    append = log.append
    pack = _packer.pack

    def sink(ev: dict[str, Any]) -> None:
        append(pack(ev) if wanted is None or ev["kind"] in wanted else pack(ev["seq"]))

    def running() -> None:
        proc = daemon.current
        if proc is not None:
            append(pack((proc.identifier, proc.index)))

    def give_up(last: int) -> None:
        """Drop the log's events, up to seq `last`, keeping their place in the stream."""
        del log[:]
        append(pack(last))
        running()

    with_syscalls = wanted is None or "syscall" in wanted
    remove = kernel.events.subscribe(sink, syscalls=False, record=append if with_syscalls else None)
    running()
    logged_from = kernel.events.seq  # the last event before the log (no checkpoint since)
    send, receive = trio.open_memory_channel[bytes](PACKED_QUEUE)
    period = max(interval, PACKED_FLUSH_MS) / 1000

    async def gather() -> None:
        sent = logged_from  # the last event in a frame sent (or before the log)
        sent_names: list[str] | None = None
        while True:
            await trio.sleep(period)
            last = kernel.events.seq
            if last == sent:
                continue
            if len(log) > PACKED_MOST:
                give_up(last)  # more than a client could take
            if _queue_full(send):
                continue  # the subscriber is behind: its events wait in the log
            entries = log[:]
            del log[:]
            running()  # the next frame reads on its own, even from the middle of a quantum
            first, sent = sent + 1, last
            joined = _array_header(len(entries)) + b"".join(entries)
            body: dict[str, Any] = {"first": first, "last": last, "entries": joined}
            names = [p.name for p in kernel.processes]
            if names != sent_names:
                body["names"] = names
            send.send_nowait(_pack_frame({"log": body}))  # there is room: checked above
            sent_names = names

    try:
        reply = {"ok": True, "result": "subscribed", "after": logged_from}
        await stream.send_all(wire.encode(reply))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gather)
            try:
                async for data in receive:
                    await stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass  # the subscriber left
            finally:
                nursery.cancel_scope.cancel()
    finally:
        remove()


def _queue_full(send: trio.MemorySendChannel[bytes]) -> bool:
    """Whether every place in a packed subscriber's frame queue is taken."""
    stats = send.statistics()
    return bool(stats.current_buffer_used >= stats.max_buffer_size)


def _array_header(n: int) -> bytes:
    """The msgpack header of an array of `n` items."""
    if n < 16:
        return bytes([0x90 | n])
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


# a value msgpack cannot encode must not kill the daemon: its text is sent instead
_packer = msgpack.Packer(default=repr)


def _pack_frame(obj: Any) -> bytes:
    return _packer.pack(obj)
