"""The warm zygote: a small process that has imported the app runtime and forks apps.

    python -m apps_py.libtock.zygote CONTROL_FD DAEMON_PID

A cold app start is a fresh interpreter (~15 ms before `main`); a fork of this process
is about 1 ms, and the forked apps share its pages (the runtime, msgpack, the libtock
drivers) copy-on-write. The zygote imports only the stdlib, msgpack and the runtime,
never trio.

Protocol, one msgpack array per SOCK_SEQPACKET message on CONTROL_FD:

- daemon -> zygote `[SPAWN, token, cpu, module]` with four fds over SCM_RIGHTS: the app's end
  of its kernel socket, of its memory socket (its RAM pages come over it), and its
  stdout and stderr. `cpu` is None or the core to pin the app to; `module` the app's
  module, whose Landlock ruleset the zygote builds once (sandbox.prepare). The zygote never
  holds a memory object: no app can take one from it.
- zygote -> daemon `[SPAWNED, token, pid]` with a pidfd of the app over SCM_RIGHTS, or
  `[FAILED, token, reason]`.
- zygote -> daemon `[EXITED, pid, returncode]` when an app has died and been reaped
  (`returncode` as `subprocess` gives it: negative for a signal).

The zygote is every app's parent, so it reaps them: it watches each through a pidfd,
SIGKILLs what the app left in its process group while the dead app still holds the
group id, reaps it, and reports the exit status. Each app runs in its own session and
process group and dies with the zygote (PR_SET_PDEATHSIG), which dies with the daemon.
When the daemon closes the control socket the zygote kills and reaps every app it still
has, then exits.
"""

from __future__ import annotations

import gc
import os
import select
import signal
import socket
import sys
import traceback
from typing import Any, NoReturn

import msgpack

# The runtime and the drivers apps use: imported once here, shared by every fork. Each
# is free of import-time effects, so a fork sees them exactly as a fresh import would.
import apps_py.libtock.alarm
import apps_py.libtock.button
import apps_py.libtock.console
import apps_py.libtock.ipc
import apps_py.libtock.led
import apps_py.libtock.rng
import apps_py.libtock.vtime  # noqa: F401
from apps_py.libtock import runtime, sandbox

SPAWN = 1
SPAWNED = 2
EXITED = 3
FAILED = 4

#: the largest control message (requests and reports are a few bytes)
MAX_MESSAGE = 4096


class Zygote:
    """The zygote's state: its control socket and the apps it has forked."""

    def __init__(self, ctl: socket.socket) -> None:
        self.ctl = ctl
        self.pid = os.getpid()
        self.poller = select.poll()
        self.poller.register(ctl.fileno(), select.POLLIN)
        self.children: dict[int, int] = {}  # pidfd -> pid

    def send(self, msg: list[Any], fds: list[int] | None = None) -> None:
        try:
            if fds:
                socket.send_fds(self.ctl, [msgpack.packb(msg)], fds)
            else:
                self.ctl.send(msgpack.packb(msg))
        except OSError:
            pass  # the daemon is gone: EOF on the next poll ends us

    def serve(self) -> None:
        """Fork apps on request and reap them, until the daemon closes the socket."""
        ctl_fd = self.ctl.fileno()
        while True:
            for fd, _events in self.poller.poll():
                if fd == ctl_fd:
                    if not self._request():
                        self.shutdown()
                        return
                elif fd in self.children:
                    self._reap(fd)

    def _request(self) -> bool:
        try:
            data, fds, _flags, _addr = socket.recv_fds(
                self.ctl, MAX_MESSAGE, 4, socket.MSG_CMSG_CLOEXEC
            )
        except OSError:
            return False
        if not data:
            return False
        try:
            msg = msgpack.unpackb(data)
            kind, token, cpu, module = msg
        except (ValueError, TypeError, msgpack.ExtraData):
            for fd in fds:
                os.close(fd)
            return True
        if kind != SPAWN or len(fds) != 4:
            for fd in fds:
                os.close(fd)
            self.send([FAILED, token, "bad spawn request"])
            return True
        if isinstance(module, str):
            sandbox.prepare(module)
        try:
            pid = os.fork()
        except OSError as e:
            for fd in fds:
                os.close(fd)
            self.send([FAILED, token, f"fork: {e.strerror}"])
            return True
        if pid == 0:
            self._child(fds, cpu)
        for fd in fds:
            os.close(fd)
        # the pidfd is opened before this app can be reaped, so it can never name a
        # recycled pid; the daemon gets its own copy
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = pid
        self.poller.register(pidfd, select.POLLIN)
        self.send([SPAWNED, token, pid], [pidfd])
        return True

    def _reap(self, pidfd: int) -> None:
        pid = self.children.pop(pidfd)
        self.poller.unregister(pidfd)
        os.close(pidfd)
        _kill_group(pid)  # what the app left in its group; the zombie still holds the id
        _, status = os.waitpid(pid, 0)
        self.send([EXITED, pid, os.waitstatus_to_exitcode(status)])

    def shutdown(self) -> None:
        """Kill and reap every app still alive (the daemon has let us go)."""
        for pid in self.children.values():
            _kill_group(pid)
            os.kill(pid, signal.SIGKILL)  # also one that has not made its session yet
        for pidfd, pid in self.children.items():
            os.waitpid(pid, 0)
            os.close(pidfd)
        self.children.clear()

    def _child(self, fds: list[int], cpu: int | None) -> NoReturn:
        """The forked app: its own session, its output pipes as stdout and stderr, then
        the runtime (which closes every other fd before anything else)."""
        code = 1
        try:
            os.setsid()
            sock_fd, mem_fd, out_fd, err_fd = fds
            os.dup2(out_fd, 1)
            os.dup2(err_fd, 2)
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})
            gc.enable()  # off in the zygote; the frozen objects stay out of its reach
            # dies with the zygote (PDEATHSIG), never returns
            runtime.main([str(sock_fd), str(mem_fd), str(self.pid)])
        except SystemExit as e:
            code = _exit_code(e)
        except BaseException:
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(code)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _exit_code(e: SystemExit) -> int:
    """The status the interpreter would exit with for this SystemExit."""
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code & 0xFF
    print(e.code, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    ctl_fd, daemon = int(args[0]), int(args[1])
    runtime._die_with_parent(daemon)  # the same start-up rule as every app
    ctl = socket.socket(fileno=ctl_fd)
    ctl.setblocking(True)
    # The objects alive now never change again: keep the collector off their pages, so
    # the forked apps go on sharing them.
    sandbox.drop_bounding_set()  # once for every app; the zygote execs nothing
    sandbox.install_host_layer()  # the seccomp layer that holds for the zygote too
    sandbox.fs_rules(None)  # the Landlock rules every app shares, resolved once
    gc.disable()
    gc.collect()
    gc.freeze()
    Zygote(ctl).serve()


if __name__ == "__main__":
    main()
