"""The control socket: queries, commands and event subscription over msgpack.

Only the owner gets in: the socket lives in a private directory (0700, under
`$XDG_RUNTIME_DIR` when set), is itself 0600, and every connection's peer credentials
(SO_PEERCRED) must match the daemon's uid. A connection that sends `{"op": "readonly"}`
may only query and watch from then on. Every request is validated; a bad one gets an
error reply, never a dead daemon.

Request: a msgpack map `{"op": NAME, ...}`. Reply: `{"ok": true, "result": ...}` or
`{"ok": false, "error": TEXT}`. After `{"op": "subscribe"}` the daemon streams
`{"event": {...}}` maps until the client closes.
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

import trio

from tockd import wire
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
QUERIES = ("ps", "info", "mem", "sched", "subscribe", "readonly", "ping")


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
        old = os.umask(0o177)
        try:
            await sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(16)
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

    def _proc(self, req: dict[str, Any]) -> Process:
        name = req.get("name")
        kernel = self.daemon.kernel
        if type(name) is int:
            if 0 <= name < len(kernel.processes):
                return kernel.processes[name]
            raise ControlError(f"no process at index {name}")
        if type(name) is not str:
            raise ControlError("'name' must be a process name or index")
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
            cfg = d.cfg
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
                "paused": d.paused,
            }
        if op == "mem":
            return memory_map(d, self._proc(req))
        if op == "sched":
            return {
                "kind": d.scheduler.name,
                "paused": d.paused,
                "current": d.current.index if d.current else None,
                "run_queue": d.scheduler.run_queue(),
            }
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
    kinds = req.get("kinds")
    wanted = set(kinds) if isinstance(kinds, list) else None
    send, recv = trio.open_memory_channel[dict[str, Any]](4096)
    dropped = [0]

    def sink(ev: dict[str, Any]) -> None:
        if wanted is None or ev["kind"] in wanted:
            try:
                send.send_nowait(ev)
            except trio.WouldBlock:
                dropped[0] += 1

    remove = daemon.kernel.events.subscribe(sink)
    try:
        await stream.send_all(wire.encode({"ok": True, "result": "subscribed"}))
        async with recv:
            async for ev in recv:
                batch = [ev]
                while len(batch) < 256:
                    try:
                        batch.append(recv.receive_nowait())
                    except trio.WouldBlock:
                        break
                await stream.send_all(b"".join(wire.encode({"event": e}) for e in batch))
    finally:
        remove()
