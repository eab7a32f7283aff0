"""Starting, watching and reaping the app processes of one board.

Tock loads a process from flash into its RAM block and starts it at its entry point
(`kernel/src/process_standard.rs`, release-2.2, `ProcessStandard::create` and
`try_restart`). Here a process is a Linux process: forked from a warm zygote
(`tockd/zygote.py`) or, with `spawn = "cold"` or when the zygote fails, started as a
fresh interpreter, each in its own session and process group. It gets its kernel
socket, with the boot frame already in it so it never waits for it, a memory socket
that hands it the pages of its own RAM block, and stdout/stderr pipes the daemon reads
(or /dev/null on a quiet board).

Every app process is reaped on every path: a watcher task per app tells the kernel when
one dies outside the syscall interface, `stop` kills one the kernel has stopped, and
`reap_all` takes whatever is left when the board ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable

import trio

from tockd import appout, memmap
from tockd.board import BoardConfig
from tockd.contract import events as ev
from tockd.contract import wire
from tockd.contract.events import EventKind
from tockd.daemon.apps import GRACE_S, AppOS, describe_exit
from tockd.daemon.hotpath import last_report, report_fault
from tockd.kernel.abi import FRAME_BOOT
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import Process
from tockd.zygote import LOST, Zygote, ZygoteError, app_environment


class Spawner:
    """The OS processes of one board's apps: started, watched, stopped, reaped."""

    def __init__(
        self,
        cfg: BoardConfig,
        kernel: Kernel,
        *,
        quiet: bool,
        cpu: int | None,
        zygote: Zygote | None,
        post: Callable[[Callable[[], None]], None],
    ) -> None:
        """`zygote`: a running zygote to fork apps from (shared between boards); by
        default the board starts its own. `spawn = "cold"` uses neither. `post` runs
        work in the kernel loop (the only place that mutates the kernel)."""
        self.cfg = cfg
        self.kernel = kernel
        self.quiet = quiet
        self.cpu = cpu
        self._post = post
        self._env: dict[str, str] | None = None  # `_app_env`, made when first needed
        self._zygote = zygote if cfg.spawn == "zygote" else None
        self._own_zygote = zygote is None and cfg.spawn == "zygote"
        self._nursery: trio.Nursery | None = None
        self._all_os: list[AppOS] = []

    @property
    def _app_env(self) -> dict[str, str]:
        """The apps' environment (`app_environment`): only a board that starts its own
        zygote or cold apps needs it, not one forking from the lab's shared zygote."""
        if self._env is None:
            self._env = app_environment()
        return self._env

    @property
    def zygote(self) -> Zygote | None:
        """The zygote apps are forked from; None when they start cold."""
        return self._zygote

    def start(self, nursery: trio.Nursery) -> None:
        """Start the board's own zygote, if it has one, and serve it in `nursery`, where
        every app's watcher and output pumps will run too."""
        self._nursery = nursery
        if self._own_zygote:
            self._zygote = Zygote(self._app_env)
            self._zygote.start()
        if self._zygote is not None:
            nursery.start_soon(self._zygote.serve)

    def close(self) -> None:
        """Stop the board's own zygote (a shared one belongs to whoever started it)."""
        if self._own_zygote and self._zygote is not None:
            self._zygote.close()

    # ---- spawning -------------------------------------------------------------------------

    def spawn(self, proc: Process, *, virtual: bool) -> None:
        """Start an app process for `proc`: forked by the zygote, or a fresh interpreter
        (Popen on the trio thread, so that the child's PR_SET_PDEATHSIG is tied to a
        thread that lives as long as the daemon). The boot frame is in its socket
        before it starts, so it never waits for it. `virtual`: time is virtual (the
        controlled scheduler), which the app's runtime must know."""
        kernel = self.kernel
        assert proc.mpu is not None
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        mem_parent, mem_child = memmap.open_pair()
        pages = memmap.AppPages(mem_parent)
        ranges = kernel.mpu.accessible_ranges(proc.mpu)
        desc = self._boot_description(proc, ranges, virtual)
        readers, out_fds = self._output_pipes()
        try:
            desc["maps"] = pages.update(kernel, proc, ranges, boot=True)
            parent.sendall(wire.encode([FRAME_BOOT, desc]))
            app = self._start_app(
                parent, child, mem_child, out_fds, pages, proc.generation + 1, proc.spec.module
            )
        except BaseException:
            parent.close()
            mem_parent.close()
            for fd in readers:
                os.close(fd)
            raise
        finally:
            child.close()
            mem_child.close()
            for fd in set(out_fds):
                os.close(fd)
        self._pump_output(proc, readers)
        parent.setblocking(False)
        mem_parent.setblocking(False)
        self._adopt(proc, app)

    def _boot_description(
        self, proc: Process, ranges: list[tuple[int, int, int]], virtual: bool
    ) -> dict[str, object]:
        """What the app's runtime needs before its module runs (the boot frame)."""
        kernel = self.kernel
        return {
            "index": proc.index,
            "name": proc.name,
            "module": proc.spec.module,
            "ram_base": kernel.ram.base,
            "ram_size": kernel.ram.size,
            "mem_start": proc.mem_start,
            "memory_len": proc.memory_len,
            "flash_start": proc.flash_start,
            "flash_end": proc.flash_end,
            "stack": proc.spec.stack,
            "seed": kernel.seed + proc.index,
            # how many times this process was restarted: an app has no files to keep
            # state in, and some experiments must know which life they are in
            "restart_count": proc.restart_count,
            "args": proc.spec.args,
            "mpu": [list(r) for r in ranges],
            "virtual_time": virtual,
            "sandbox": self.cfg.sandbox_for(proc.index),  # limits the runtime applies
        }

    def _output_pipes(self) -> tuple[list[int], tuple[int, int]]:
        """(read ends for the daemon, (stdout, stderr) write ends for the app): its own
        pipes, or /dev/null for both on a quiet board."""
        if self.quiet:
            null = appout.devnull()
            return [], (null, null)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        return [out_r, err_r], (out_w, err_w)

    def _pump_output(self, proc: Process, readers: list[int]) -> None:
        """Copy the app's stdout and stderr to ours, within one output budget."""
        if readers:
            assert self._nursery is not None
            budget = appout.OutputBudget(proc.name)
            self._nursery.start_soon(appout.pump, readers[0], budget, sys.stdout)
            self._nursery.start_soon(appout.pump, readers[1], budget, sys.stderr)

    def _adopt(self, proc: Process, app: AppOS) -> None:
        """Make `app` the OS side of `proc`, tell the event stream, and watch it."""
        proc.generation = app.generation
        proc.pid = app.pid
        proc.os = app
        self._all_os.append(app)
        proc.mpu_dirty = False
        self.kernel.emit(
            ev.Spawn(
                kind=EventKind.SPAWN,
                os_pid=app.pid,
                generation=proc.generation,
                start="cold" if app.popen is not None else "zygote",
            ),
            proc,
        )
        assert self._nursery is not None
        self._nursery.start_soon(self._watch, proc, app)

    def _start_app(
        self,
        parent: socket.socket,
        child: socket.socket,
        mem_child: socket.socket,
        out_fds: tuple[int, int],
        pages: memmap.AppPages,
        generation: int,
        module: str,
    ) -> AppOS:
        """Fork the app from the zygote; if there is none, or it fails, start it cold."""
        mem_fd = mem_child.fileno()
        zygote = self._zygote
        if zygote is not None:
            try:
                if not zygote.running:
                    raise ZygoteError("the zygote is gone")
                pid, pidfd = zygote.spawn(child, mem_fd, out_fds, cpu=self.cpu, module=module)
            except ZygoteError as e:
                print(f"tockd: {e}; starting apps cold", file=sys.stderr, flush=True)
                self._drop_zygote()
            else:
                return AppOS(pid, parent, pidfd, generation, pages, zygote=zygote)
        popen = self._start_cold(child, mem_fd, out_fds)
        return AppOS(popen.pid, parent, os.pidfd_open(popen.pid), generation, pages, popen=popen)

    def _start_cold(
        self, child: socket.socket, mem_fd: int, out_fds: tuple[int, int]
    ) -> subprocess.Popen[bytes]:
        """A fresh interpreter running the app runtime, in its own session."""
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "apps_py.libtock.runtime",
                str(child.fileno()),
                str(mem_fd),
                str(os.getpid()),
            ],
            pass_fds=(child.fileno(), mem_fd),
            start_new_session=True,
            env=self._app_env,
            stdin=subprocess.DEVNULL,
            stdout=out_fds[0],
            stderr=out_fds[1],
        )

    def _drop_zygote(self) -> None:
        """Stop using the zygote (it failed): later apps start cold."""
        zygote, self._zygote = self._zygote, None
        if zygote is not None and self._own_zygote:
            # its apps die with it; their watchers see that, and the statuses read LOST
            zygote.close()

    # ---- watching, stopping and reaping ------------------------------------------------

    async def _watch(self, proc: Process, app: AppOS) -> None:
        """Wait for the OS process to exit, reap it, and tell the kernel."""
        await trio.lowlevel.wait_readable(app.pidfd)
        if app.popen is not None:
            returncode = app.popen.wait()
        else:
            assert app.zygote is not None
            returncode = await app.zygote.wait(app.pid)  # the zygote reaped it
        self._reaped(app, returncode)
        if proc.os is app:
            self._post(lambda: self._died(proc, app))

    def _reaped(self, app: AppOS, returncode: int) -> None:
        app.returncode = returncode
        if not app.exited.is_set():
            app.exited.set()
            with contextlib.suppress(OSError):
                os.close(app.pidfd)
            if app.zygote is not None:
                app.zygote.forget(app.pid)
        if app.popen is not None:
            # anything the app left in its group (a zygote does this itself, before it
            # reaps the app, while the dead app still holds the group id)
            app.signal_group(signal.SIGKILL)

    def _died(self, proc: Process, app: AppOS) -> None:
        """An app died on its own (a signal, or exit outside the syscall interface): the
        kernel faults its process, as Tock faults one that takes a hardware fault."""
        if proc.os is app and proc.is_alive():
            report = last_report(app)
            if report is not None:  # it said why before it went: its words, not the exit's
                report_fault(self.kernel, proc, report)
            else:
                self.kernel.fault(proc, describe_exit(app.returncode))

    def stop(self, proc: Process) -> None:
        """Kill the OS process of a process the kernel has stopped, and reap it."""
        app = proc.os
        if app is None:
            return
        proc.os = None
        app.close()
        # A stopped process never runs again, as in Tock: it must not go on writing the
        # RAM its next incarnation will use, so it dies now, not after a grace period.
        app.signal_group(signal.SIGKILL)
        assert self._nursery is not None
        self._nursery.start_soon(self._reap, app)

    async def _reap(self, app: AppOS) -> None:
        """Let an app go: its socket is closed so it exits by itself; if it does not,
        TERM (and CONT, so a stopped app sees it) its group, then KILL."""
        with trio.move_on_after(GRACE_S):
            await app.exited.wait()
        if app.exited.is_set():
            return
        app.signal_group(signal.SIGTERM)
        app.signal_group(signal.SIGCONT)
        with trio.move_on_after(GRACE_S):
            await app.exited.wait()
        if not app.exited.is_set():
            app.signal_group(signal.SIGKILL)
            await app.exited.wait()

    async def reap_all(self) -> None:
        """Every child we ever started is reaped before the board's run returns."""
        live = [app for app in self._all_os if not app.exited.is_set()]
        if not live:
            return
        for app in live:
            app.close()
            app.signal_group(signal.SIGTERM)
            app.signal_group(signal.SIGCONT)
        async with trio.open_nursery() as nursery:
            # the zygotes' reports of these exits: read as they come, not polled for
            for zygote in {id(app.zygote): app.zygote for app in live if app.zygote}.values():
                nursery.start_soon(zygote.serve)
            with trio.move_on_after(GRACE_S):
                for app in live:
                    await _exited(app)
            for app in live:
                if app.poll() is None:
                    app.signal_group(signal.SIGKILL)
            for app in live:
                if app.popen is not None:
                    returncode = app.popen.wait()
                else:
                    # the zygote reaps a SIGKILLed app at once; if it does not answer,
                    # closing it kills whatever is left
                    with trio.move_on_after(GRACE_S):
                        await _exited(app)
                    polled = app.poll()
                    returncode = LOST if polled is None else polled
                self._reaped(app, returncode)
            nursery.cancel_scope.cancel()


async def _exited(app: AppOS) -> None:
    """Wait until `app` has been reaped (its watcher task is gone): the zygote's report
    of it (`Zygote.serve` must run), or, for a cold start, its pidfd, then its status."""
    if app.zygote is not None:
        await app.zygote.wait(app.pid)
        return
    while app.poll() is None:
        await trio.lowlevel.wait_readable(app.pidfd)
