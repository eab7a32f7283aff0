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
  module, whose Landlock ruleset the zygote builds once (landlock_rules.prepare). The zygote never
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

import faulthandler
import gc
import importlib.abc
import importlib.machinery
import importlib.util
import os
import select
import signal
import socket
import sys
import traceback
from collections.abc import Sequence
from types import CodeType, ModuleType
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
from apps_py.libtock import landlock_rules, privileges, runtime, seccomp
from tockd.contract.zygote import EXITED, FAILED, MAX_MESSAGE, SPAWN, SPAWNED

#: the largest app source file the zygote compiles ahead (bigger ones are left to the app)
MAX_SOURCE = 1 << 20


class _CodeLoader(importlib.abc.Loader):
    """Runs a code object the zygote compiled (in the app, inside its sandbox)."""

    def __init__(self, code: CodeType) -> None:
        self.code = code

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(self.code, module.__dict__)


class Precompiled(importlib.abc.MetaPathFinder):
    """App modules compiled ahead in the zygote: found and read from disk, compiled, and
    never run here (running an app's code outside its sandbox is what the zygote must
    never do). An app forked afterwards imports its module from this cache, skipping
    the path search, the read and the compile (most of a small module's import). A
    module is looked up as Python's path finder would; anything but plain `.py` files
    and regular packages (extension modules, namespace packages) is left to the normal
    import system, and a file that changed since is compiled again."""

    def __init__(self) -> None:
        #: module name -> (file, is a package, code, (mtime_ns, size) when compiled)
        self.code: dict[str, tuple[str, bool, CodeType, tuple[int, int]]] = {}

    def prepare(self, module: str) -> None:
        """Compile `module` and the packages above it that are not imported yet."""
        search: Sequence[str] = sys.path
        parts = module.split(".")
        for i, part in enumerate(parts):
            name = ".".join(parts[: i + 1])
            loaded = sys.modules.get(name)
            if loaded is not None:
                search = getattr(loaded, "__path__", None) or []
                if not search:
                    return
                continue
            found = _locate(part, search)
            if found is None:
                return
            origin, package = found
            st = os.stat(origin)
            stamp = (st.st_mtime_ns, st.st_size)
            cached = self.code.get(name)
            if cached is None or cached[0] != origin or cached[3] != stamp:
                if st.st_size > MAX_SOURCE:
                    return
                with open(origin, "rb") as f:
                    source = f.read()
                code = compile(source, origin, "exec", dont_inherit=True)
                self.code[name] = (origin, package, code, stamp)
            if not package:
                return
            search = [os.path.dirname(origin)]

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        entry = self.code.get(fullname)
        if entry is None:
            return None
        origin, package, code, _stamp = entry
        return importlib.util.spec_from_file_location(
            fullname,
            origin,
            loader=_CodeLoader(code),
            submodule_search_locations=[os.path.dirname(origin)] if package else None,
        )


def _locate(part: str, search: Sequence[str]) -> tuple[str, bool] | None:
    """(file, is a package) of `part` in the first of `search` that has it, if it is a
    plain source module or regular package; None for anything else (left to Python)."""
    others = [*importlib.machinery.EXTENSION_SUFFIXES, *importlib.machinery.BYTECODE_SUFFIXES]
    for entry in search:
        base = os.path.join(entry or ".", part)
        if os.path.isdir(base):
            init = os.path.join(base, "__init__.py")
            return (init, True) if os.path.isfile(init) else None
        if any(os.path.exists(base + suffix) for suffix in others):
            return None
        if os.path.isfile(base + ".py"):
            return base + ".py", False
    return None


#: the zygote's cache of compiled app modules, first on the meta path of every app forked
PRECOMPILED = Precompiled()


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
            landlock_rules.prepare(module)
            try:
                PRECOMPILED.prepare(module)
            except Exception:
                pass
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
    privileges.drop_bounding_set()  # once for every app; the zygote execs nothing
    seccomp.install_host_layer()  # the seccomp layer that holds for the zygote too
    landlock_rules.fs_rules(None)  # the Landlock rules every app shares, resolved once
    sys.meta_path.insert(0, PRECOMPILED)
    # the fatal-signal handlers and their stack, set up once: an app's own
    # faulthandler.enable() (runtime.main) then only names its stderr
    faulthandler.enable()
    gc.disable()
    gc.collect()
    gc.freeze()
    Zygote(ctl).serve()


if __name__ == "__main__":
    main()
