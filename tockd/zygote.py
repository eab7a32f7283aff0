"""The daemon's side of the warm zygote (the process side is apps_py/libtock/zygote.py).

A `Zygote` is a small Python process that has already imported the app runtime and
forks apps on request: `spawn()` hands it an app's socket end, its memory socket and
its stdout/stderr over SCM_RIGHTS and gets back the app's pid and a pidfd for it (opened
by the zygote before the app can be reaped, so the pid can never be a recycled one).
The zygote is the apps' parent: it reaps them and reports each exit status, which
`wait()` returns exactly as `subprocess` would (negative for a signal).

Lifetime: `start()` must run on a thread that lives as long as the zygote is used (the
trio thread), because the zygote's PR_SET_PDEATHSIG is tied to the thread that forked
it. While apps forked from it live, someone runs `serve()` in a nursery to read the
reports (several may; one reads at a time). `close()` lets it go: it kills and reaps
every app it still has and exits. One zygote may serve many boards in turn (each spawn
names its own sockets), which is how exploration reuses it between runs.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import msgpack
import trio

from tockd.contract.zygote import EXITED, FAILED, MAX_MESSAGE, SPAWN, SPAWNED

#: how long a spawn may wait for the zygote (its first answer includes its start-up)
SPAWN_TIMEOUT_S = 20.0
#: how long close() waits for the zygote to exit before killing it
CLOSE_TIMEOUT_S = 2.0
#: the status of an app whose zygote died before reporting it: PDEATHSIG killed it
LOST = -int(signal.SIGKILL)


#: what an app inherits of the daemon's environment: locale and time zone, nothing else
#: (a user's environment holds tokens and paths that are none of an app's business)
INHERITED_ENV = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONUTF8")


def app_environment() -> dict[str, str]:
    """The environment of app processes (and of the zygote): a few harmless variables of
    the daemon's; apps import exactly what the daemon can import; hashing is fixed for
    replay."""
    env = {k: v for k, v in os.environ.items() if k in INHERITED_ENV}
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), *paths])
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # stdout and stderr are pipes the daemon reads: what an app prints goes out at once
    # (it may end with os._exit), and a forked app inherits the zygote's unbuffered streams
    env["PYTHONUNBUFFERED"] = "1"
    return env


class ZygoteError(Exception):
    """The zygote could not fork an app; the message says why."""


class Zygote:
    """A warm zygote process and the bookkeeping of the apps it forked."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        """`env`: the zygote's (and so its apps') environment; `app_environment()` by
        default."""
        self.env = env if env is not None else app_environment()
        self.popen: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._tokens = itertools.count(1)
        self._spawned: dict[int, tuple[int, int] | str] = {}  # token -> (pid, pidfd) | why
        self._status: dict[int, int] = {}  # pid -> returncode, until forgotten
        self._pending: set[int] = set()  # pids forked, no status yet
        self._waiters: dict[int, trio.Event] = {}
        self._reader: trio.Event | None = None  # set when the reading serve() stops
        self.dead = False

    @property
    def running(self) -> bool:
        return self._sock is not None and not self.dead

    def start(self) -> None:
        """Start the zygote process (on the long-lived trio thread: see the module doc)."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.popen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "apps_py.libtock.zygote",
                    str(child.fileno()),
                    str(os.getpid()),
                ],
                pass_fds=(child.fileno(),),
                start_new_session=True,
                env=self.env,
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        parent.setblocking(False)
        self._sock = parent

    # ---- forking apps -------------------------------------------------------------------

    def spawn(
        self,
        app_sock: socket.socket,
        mem_fd: int,
        out_fds: tuple[int, int],
        *,
        cpu: int | None = None,
        module: str | None = None,
    ) -> tuple[int, int]:
        """Fork an app with `app_sock` as its kernel socket, `mem_fd` as its memory
        socket (its RAM pages come over it) and `out_fds` as its stdout and stderr;
        returns its (pid, pidfd). Blocks until the zygote answers (about a millisecond)."""
        sock = self._sock
        if sock is None or self.dead:
            raise ZygoteError("the zygote is not running")
        token = next(self._tokens)
        try:
            socket.send_fds(
                sock,
                [msgpack.packb([SPAWN, token, cpu, module])],
                [app_sock.fileno(), mem_fd, *out_fds],
            )
        except OSError as e:
            self._lost()
            raise ZygoteError(f"cannot reach the zygote: {e}") from None
        deadline = time.monotonic() + SPAWN_TIMEOUT_S
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        while True:
            self.poll()
            result = self._spawned.pop(token, None)
            if result is not None:
                break
            if self.dead:
                raise ZygoteError("the zygote died")
            left = deadline - time.monotonic()
            if left <= 0:
                raise ZygoteError(f"the zygote did not answer within {SPAWN_TIMEOUT_S:.0f} s")
            poller.poll(left * 1000)
        if isinstance(result, str):
            raise ZygoteError(result)
        self._pending.add(result[0])
        return result

    # ---- exit statuses ------------------------------------------------------------------

    def poll(self) -> None:
        """Take in every message that has arrived from the zygote; never blocks."""
        sock = self._sock
        while sock is not None and not self.dead:
            try:
                data, fds, _flags, _addr = socket.recv_fds(
                    sock, MAX_MESSAGE, 1, socket.MSG_CMSG_CLOEXEC
                )
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:
                self._lost()
                return
            self._message(data, fds)

    def _message(self, data: bytes, fds: list[int]) -> None:
        try:
            kind, a, b = msgpack.unpackb(data)
        except (ValueError, TypeError, msgpack.ExtraData):
            kind = a = b = None
        if kind == SPAWNED and fds and type(a) is int and type(b) is int:
            self._spawned[a] = (b, fds.pop())
        elif kind == FAILED and type(a) is int:
            self._spawned[a] = f"the zygote could not fork: {b}"
        elif kind == EXITED and type(a) is int and type(b) is int:
            self._exited(a, b)
        for fd in fds:
            os.close(fd)

    def _exited(self, pid: int, returncode: int) -> None:
        self._pending.discard(pid)
        self._status[pid] = returncode
        waiter = self._waiters.pop(pid, None)
        if waiter is not None:
            waiter.set()

    def _lost(self) -> None:
        """The zygote is gone (or let go): its apps died with it (PDEATHSIG, SIGKILL)."""
        self.dead = True
        for pid in list(self._pending):
            self._exited(pid, LOST)

    def returncode(self, pid: int) -> int | None:
        """The app's exit status if it has been reaped, else None."""
        self.poll()
        rc = self._status.get(pid)
        if rc is None and self.dead:
            return LOST
        return rc

    async def wait(self, pid: int) -> int:
        """Wait for the app `pid` to be reaped; its exit status. Needs `serve()` running."""
        while True:
            rc = self.returncode(pid)
            if rc is not None:
                return rc
            waiter = self._waiters.get(pid)
            if waiter is None:
                waiter = self._waiters[pid] = trio.Event()
            await waiter.wait()

    def forget(self, pid: int) -> None:
        """The caller has taken the status of `pid`: drop it."""
        self._status.pop(pid, None)

    async def serve(self) -> None:
        """Read the zygote's reports as they arrive, until it is closed or dies. Several
        may run at once (boards sharing a zygote); one reads, the others take over when
        it stops."""
        while self.running:
            if self._reader is not None:
                await self._reader.wait()
                continue
            self._reader = trio.Event()
            try:
                while self._sock is not None and not self.dead:
                    try:
                        await trio.lowlevel.wait_readable(self._sock)
                    except (trio.ClosedResourceError, OSError):
                        return
                    self.poll()
            finally:
                reader, self._reader = self._reader, None
                reader.set()

    # ---- shutdown -----------------------------------------------------------------------

    def close(self) -> None:
        """Let the zygote go: it kills and reaps every app it still has and exits; the
        zygote itself is reaped here."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(RuntimeError):  # outside trio: nobody waits on it
                trio.lowlevel.notify_closing(sock)
            sock.close()
        self._lost()
        for late in self._spawned.values():  # answers nobody waited for
            if not isinstance(late, str):
                os.close(late[1])
        self._spawned.clear()
        popen = self.popen
        if popen is not None:
            try:
                popen.wait(CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                popen.kill()  # its apps die with it (PDEATHSIG)
                popen.wait()

    def __enter__(self) -> Zygote:
        if self.popen is None:
            self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
