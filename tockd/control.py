"""The control socket: queries, commands and event subscription over msgpack.

Only the owner gets in: the socket lives in a private directory (0700, under
`$XDG_RUNTIME_DIR` when set), is itself 0600, and every connection's peer credentials
(SO_PEERCRED) must match the daemon's uid. A connection that sends `{"op": "readonly"}`
may only query and watch from then on. Every request is validated; a bad one gets an
error reply, never a dead daemon.

Request: a msgpack map `{"op": NAME, ...}`. Reply: `{"ok": true, "result": ...}` or
`{"ok": false, "error": TEXT}` (tockd/contract/control.py gives each op's fields and
result). After `{"op": "subscribe"}` the daemon streams events until the client closes
(tockd/control_stream.py).

This module is the socket and the session; the ops are a table of handlers
(tockd/control_ops.py) over read-only views of the daemon (tockd/control_views.py).
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
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from tockd.contract import wire
from tockd.contract.control import Reply, error, ok
from tockd.control_ops import OPS, Command, ControlError, answer
from tockd.control_stream import stream_events

if TYPE_CHECKING:
    from tockd.daemon import Daemon

__all__ = ["ControlError", "ControlServer", "default_socket_path", "find_socket", "run_dir"]

#: how many connections may wait to be accepted
LISTEN_BACKLOG = 16
#: bytes read from a connection at once
_RECV = 65536
#: SO_PEERCRED's struct ucred: pid, uid, gid
_UCRED = "3i"


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
        sock.listen(LISTEN_BACKLOG)
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
                if _peer_uid(stream) != os.getuid():
                    denied = error("permission denied: not the daemon's user")
                    await stream.send_all(wire.encode(denied))
                    return
                await self._session(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass

    async def _session(self, stream: trio.SocketStream) -> None:
        decoder = wire.FrameDecoder()
        readonly = False
        while True:
            data = await stream.receive_some(_RECV)
            if not data:
                return
            try:
                decoder.feed(data)
                requests = list(decoder.frames())
            except wire.WireError as e:
                await stream.send_all(wire.encode(error(str(e))))
                return
            for req in requests:
                if type(req) is dict and req.get("op") == "subscribe":
                    await stream_events(self.daemon, stream, req)
                    return
                if type(req) is dict and req.get("op") == "readonly":
                    readonly = True
                    reply: Reply = ok("read-only")
                else:
                    reply = await self.handle(req, readonly=readonly)
                await stream.send_all(wire.encode(reply))

    async def handle(self, req: object, *, readonly: bool = False) -> Reply:
        """Validate and answer one request (what the socket calls for each one but
        `subscribe` and `readonly`)."""
        if type(req) is not dict or type(req.get("op")) is not str:
            return error("a request is a map with a string 'op'")
        name = req["op"]
        op = OPS.get(name)
        if op is None:
            return error(f"unknown op {name!r} (known: {', '.join(OPS)})")
        if isinstance(op, Command) and readonly:
            return error(f"{name}: this connection is read-only")
        try:
            return ok(await answer(self.daemon, op, req))
        except ControlError as e:
            return error(str(e))


def _peer_uid(stream: trio.SocketStream) -> int:
    """The uid of the process at the other end of a connection (SO_PEERCRED)."""
    creds = stream.socket.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize(_UCRED))
    _pid, uid, _gid = struct.unpack(_UCRED, creds)
    return int(uid)
