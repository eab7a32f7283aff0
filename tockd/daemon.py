"""The kernel daemon: the thin trio layer around the sans-IO kernel.

It owns the OS side of every process: spawning app processes (each its own process
group, with the RAM memfd and one end of a socketpair), the kernel loop that runs one
process at a time, the timeslice (SIGSTOP / SIGCONT), death watching through pidfds,
reaping on every path, and the sinks of the event stream.

One process holds the CPU at a time. Between two syscalls a process is blocked on its
socket waiting for our reply; the kernel "preempts" a process at a syscall boundary
simply by holding that reply back, and one that computes past its timeslice without a
syscall is stopped with SIGSTOP.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from tockd import wire
from tockd.board import BoardConfig, build_kernel
from tockd.kernel.abi import FRAME_BOOT, FRAME_MPU, FRAME_RETURN, FRAME_UPCALL, REPORT, ReportKind
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import Process, State
from tockd.kernel.scheduler import MIN_QUANTA_THRESHOLD_US, StoppedReason, make_scheduler

GRACE_S = 1.0
_RECV = 65536


@dataclass(eq=False)
class AppOS:
    """The OS side of one incarnation of a process."""

    pid: int
    popen: subprocess.Popen[bytes]
    sock: socket.socket
    pidfd: int
    generation: int
    decoder: wire.FrameDecoder = field(default_factory=wire.FrameDecoder)
    frames: deque[Any] = field(default_factory=deque)
    exited: trio.Event = field(default_factory=trio.Event)
    returncode: int | None = None
    sigstopped: bool = False
    held: list[Any] | None = None  # the frame to send when the process next runs
    closed: bool = False


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "closed its kernel socket"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if -returncode == signal.SIGSEGV:
            return f"killed by {name} (MPU fault, hardware backstop)"
        return f"killed by {name}"
    return f"exited with status {returncode} outside the syscall interface"


class Daemon:
    """Runs one board until every app has exited (or forever)."""

    def __init__(self, cfg: BoardConfig, *, forever: bool = False, quiet: bool = False) -> None:
        self.cfg = cfg
        self.forever = forever
        self.quiet = quiet
        self.kernel: Kernel = build_kernel(cfg)
        self.kernel.os = self
        self.scheduler = make_scheduler(cfg.scheduler, self.kernel, cfg.timeslice_us)
        self.current: Process | None = None
        self.paused = False
        # while paused, each step lets exactly one syscall (or upcall delivery) happen
        self.steps = 0
        self.decisions = 0  # syscalls handled + upcalls delivered, for step accounting
        self.exit_status = 0
        self._stopping = False
        self._work: deque[Callable[[], None]] = deque()
        self._wake_event = trio.Event()
        self._recv_scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._all_os: list[AppOS] = []
        self._console_lines: dict[int, str] = {}
        self._closers: list[Callable[[], None]] = []
        self.started = trio.Event()
        self.finished = trio.Event()
        self._app_env = _app_environment()

    # ---- OsHooks (called synchronously by the kernel) ------------------------------------

    def wake(self) -> None:
        self._wake_event.set()

    def post(self, work: Callable[[], None]) -> None:
        """Run `work` in the kernel loop soon (the only place that mutates the kernel)."""
        self._work.append(work)
        self._wake_event.set()
        if self._recv_scope is not None:
            self._recv_scope.cancel()

    def stop_os_process(self, proc: Process) -> None:
        app = proc.os
        if app is None:
            return
        proc.os = None
        self._close(app)
        assert self._nursery is not None
        self._nursery.start_soon(self._reap, app)

    def respawn(self, proc: Process) -> None:
        self._spawn(proc)

    def request_stop(self) -> None:
        """Stop the board (SIGTERM, SIGINT): the loop ends, every app is reaped."""

        def stop() -> None:
            self._stopping = True

        self.post(stop)

    def panic(self, reason: str) -> None:
        self.exit_status = 2
        print(f"tockd: Kernel panic: {reason}", file=sys.stderr, flush=True)
        self.wake()

    # ---- process spawning and reaping -------------------------------------------------

    def _spawn(self, proc: Process) -> None:
        """Start an app process for `proc` (Popen on the trio thread, so that the child's
        PR_SET_PDEATHSIG is tied to a thread that lives as long as the daemon)."""
        kernel = self.kernel
        assert proc.mpu is not None
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            argv = [
                sys.executable,
                "-m",
                "apps_py.libtock.runtime",
                str(child.fileno()),
                str(kernel.ram.fd),
                str(os.getpid()),
            ]
            popen = subprocess.Popen(
                argv,
                pass_fds=(child.fileno(), kernel.ram.fd),
                start_new_session=True,
                env=self._app_env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            child.close()
        proc.generation += 1
        proc.pid = popen.pid
        app = AppOS(
            pid=popen.pid,
            popen=popen,
            sock=parent,
            pidfd=os.pidfd_open(popen.pid),
            generation=proc.generation,
        )
        parent.setblocking(False)
        proc.os = app
        self._all_os.append(app)
        desc = {
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
            "args": proc.spec.args,
            "mpu": [list(r) for r in kernel.mpu.accessible_ranges(proc.mpu)],
        }
        parent.sendall(wire.encode([FRAME_BOOT, desc]))
        proc.mpu_dirty = False
        kernel.emit("spawn", proc, os_pid=popen.pid, generation=proc.generation)
        assert self._nursery is not None
        self._nursery.start_soon(self._watch, proc, app)

    async def _watch(self, proc: Process, app: AppOS) -> None:
        """Wait for the OS process to exit, reap it, and tell the kernel."""
        await trio.lowlevel.wait_readable(app.pidfd)
        self._reaped(app, app.popen.wait())
        if proc.os is app:
            self.post(lambda: self._died(proc, app))

    def _reaped(self, app: AppOS, returncode: int) -> None:
        app.returncode = returncode
        if not app.exited.is_set():
            app.exited.set()
            with contextlib.suppress(OSError):
                os.close(app.pidfd)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(app.pid, signal.SIGKILL)  # anything the app left in its group

    def _died(self, proc: Process, app: AppOS) -> None:
        if proc.os is app and proc.is_alive():
            self.kernel.fault(proc, describe_exit(app.returncode))

    def _close(self, app: AppOS) -> None:
        if not app.closed:
            app.closed = True
            trio.lowlevel.notify_closing(app.sock)
            app.sock.close()

    async def _reap(self, app: AppOS) -> None:
        """Let an app go: its socket is closed so it exits by itself; if it does not,
        TERM (and CONT, so a stopped app sees it) its group, then KILL."""
        with trio.move_on_after(GRACE_S):
            await app.exited.wait()
        if app.exited.is_set():
            return
        for sig in (signal.SIGTERM, signal.SIGCONT):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(app.pid, sig)
        with trio.move_on_after(GRACE_S):
            await app.exited.wait()
        if not app.exited.is_set():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(app.pid, signal.SIGKILL)
            await app.exited.wait()

    # ---- sinks --------------------------------------------------------------------------

    def console_sink(self, ev: dict[str, Any]) -> None:
        if ev["kind"] != "console":
            return
        key = ev["index"]
        text = self._console_lines.pop(key, "") + ev["text"]
        *lines, rest = text.split("\n")
        for line in lines:
            print(f"[{ev['name']}] {line}", flush=True)
        if rest:
            self._console_lines[key] = rest

    def fault_sink(self, ev: dict[str, Any]) -> None:
        if ev["kind"] == "fault":
            print(
                f"tockd: process {ev['name']} (pid {ev['pid']}) faulted: {ev['reason']} "
                f"-> {ev['policy']}",
                file=sys.stderr,
                flush=True,
            )

    # ---- the kernel loop ------------------------------------------------------------------

    def _kernel_work(self) -> None:
        self.kernel.run_due_timers()
        while self._work:
            self._work.popleft()()

    def _timer_due(self) -> bool:
        deadline = self.kernel.next_deadline()
        return deadline is not None and deadline <= trio.current_time()

    def _done(self) -> bool:
        if self.kernel.panicked or self._stopping:
            return True
        if self.forever:
            return False
        return not any(p.is_alive() for p in self.kernel.processes)

    async def _idle(self) -> None:
        if self._work:
            return
        self._wake_event = trio.Event()
        deadline = self.kernel.next_deadline()
        with trio.move_on_at(deadline if deadline is not None else float("inf")):
            await self._wake_event.wait()

    async def kernel_loop(self) -> None:
        kernel = self.kernel
        while True:
            self._kernel_work()
            if self._done():
                return
            choice = None if (self.paused and not self.steps) else self.scheduler.next()
            if choice is None:
                await self._idle()
                continue
            proc, slice_us = choice
            start = trio.current_time()
            self.current = proc
            kernel.emit("context_switch", proc, timeslice_us=slice_us)
            reason = await self._do_process(proc, slice_us)
            self.current = None
            used = int((trio.current_time() - start) * 1e6)
            self.scheduler.result(proc, reason, used)
            await trio.lowlevel.checkpoint()

    async def _do_process(self, proc: Process, slice_us: int | None) -> StoppedReason:
        kernel = self.kernel
        app = proc.os
        if app is None:
            return StoppedReason.STOPPED
        deadline = trio.current_time() + slice_us / 1e6 if slice_us is not None else float("inf")
        if app.sigstopped:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(app.pid, signal.SIGCONT)
            app.sigstopped = False
        while True:
            if self._work or self._timer_due():
                self._kernel_work()
            if proc.os is not app:
                return StoppedReason.STOPPED_FAULTED
            if self.paused and not self.steps:
                return StoppedReason.KERNEL_PREEMPTION
            if proc.state in (State.YIELDED, State.YIELDED_FOR):
                delivery = kernel.next_delivery(proc)
                if delivery is None:
                    return StoppedReason.NO_WORK_LEFT
                kind, values = delivery
                app.held = [FRAME_UPCALL if kind == "upcall" else FRAME_RETURN, *values]
                self._decided()
                continue
            if proc.state is not State.RUNNING:
                if proc.state is State.STOPPED and app.held is None and not app.sigstopped:
                    self._sigstop(app)
                return StoppedReason.STOPPED
            if (deadline - trio.current_time()) * 1e6 <= MIN_QUANTA_THRESHOLD_US:
                proc.timeslice_expirations += 1
                return StoppedReason.TIMESLICE_EXPIRED
            if app.held is not None and not self._send_held(proc, app):
                return StoppedReason.STOPPED_FAULTED
            timer = kernel.next_deadline()
            wait_until = deadline if timer is None else min(deadline, timer)
            frame = await self._next_frame(proc, app, wait_until)
            if frame is None:
                if proc.os is not app or proc.state is not State.RUNNING:
                    return StoppedReason.STOPPED_FAULTED
                if self._work or self._timer_due() or trio.current_time() < deadline:
                    continue
                # ran past its timeslice without a syscall
                self._sigstop(app)
                proc.timeslice_expirations += 1
                return StoppedReason.TIMESLICE_EXPIRED
            self._handle_frame(proc, app, frame)
            self._decided()

    def _decided(self) -> None:
        self.decisions += 1
        if self.paused and self.steps:
            self.steps -= 1

    def _sigstop(self, app: AppOS) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(app.pid, signal.SIGSTOP)
        app.sigstopped = True

    def _send_held(self, proc: Process, app: AppOS) -> bool:
        frame, app.held = app.held, None
        assert frame is not None
        try:
            if proc.mpu_dirty:
                assert proc.mpu is not None
                ranges = [list(r) for r in self.kernel.mpu.accessible_ranges(proc.mpu)]
                app.sock.send(wire.encode([FRAME_MPU, ranges]))
                proc.mpu_dirty = False
            app.sock.send(wire.encode(frame))
        except (BlockingIOError, OSError) as e:
            self.kernel.fault(proc, f"cannot deliver to the app: {e}")
            return False
        return True

    async def _next_frame(self, proc: Process, app: AppOS, deadline: float) -> Any:
        """The next frame from the running process; None if interrupted (kernel work,
        timeslice over) or the process is gone (then it has been faulted)."""
        while not app.frames:
            try:
                data = app.sock.recv(_RECV)
            except BlockingIOError:
                with trio.CancelScope(deadline=deadline) as scope:
                    self._recv_scope = scope
                    try:
                        await trio.lowlevel.wait_readable(app.sock)
                    except trio.ClosedResourceError:
                        return None
                    finally:
                        self._recv_scope = None
                if scope.cancelled_caught:
                    return None
                continue
            except OSError as e:
                if e.errno != errno.ECONNRESET:
                    raise
                data = b""
            if not data:
                await self._lost(proc, app)
                return None
            try:
                app.decoder.feed(data)
                app.frames.extend(app.decoder.frames())
            except wire.WireError as e:
                self.kernel.fault(proc, f"bad frame: {e}")
                return None
        if len(app.frames) > 1:
            self.kernel.fault(proc, "sent a frame before the previous syscall returned")
            return None
        return app.frames.popleft()

    async def _lost(self, proc: Process, app: AppOS) -> None:
        """EOF from the running process: wait briefly for its exit status, then fault."""
        with trio.move_on_after(GRACE_S):
            await app.exited.wait()
        if not app.exited.is_set():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(app.pid, signal.SIGKILL)
            await app.exited.wait()
        if proc.os is app:
            self.kernel.fault(proc, describe_exit(app.returncode))

    def _handle_frame(self, proc: Process, app: AppOS, frame: Any) -> None:
        kernel = self.kernel
        if type(frame) is list and frame and frame[0] == REPORT:
            if len(frame) >= 6 and frame[1] == ReportKind.MPU_FAULT:
                _, _, address, length, access, _text = frame[:6]
                if all(type(v) is int for v in (address, length, access)):
                    kernel.mpu_fault(proc, address, length, access)
                    return
            kernel.fault(proc, _report_reason(frame))
            return
        try:
            cls, r0, r1, r2, r3 = wire.check_syscall(frame)
        except wire.WireError as e:
            kernel.fault(proc, f"bad syscall frame: {e}")
            return
        outcome = kernel.handle_syscall(proc, cls, r0, r1, r2, r3)
        if outcome.reply is not None and proc.os is app and proc.state is State.RUNNING:
            app.held = [FRAME_RETURN, *outcome.reply]

    # ---- run ------------------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> int:
        """Start every app, run the kernel loop, stop and reap everything. Returns the
        exit status (0, or 2 after a kernel panic)."""
        kernel = self.kernel
        kernel.clock = trio.current_time
        if not self.quiet:
            self._closers.append(kernel.events.subscribe(self.console_sink))
            self._closers.append(kernel.events.subscribe(self.fault_sink))
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for proc in kernel.processes:
                    self._spawn(proc)
                self.started.set()
                task_status.started()
                await self.kernel_loop()
                await self._shutdown()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._reap_all()
            for close in self._closers:
                close()
            kernel.ram.close()
            self.finished.set()
        return self.exit_status

    async def _shutdown(self) -> None:
        for proc in self.kernel.processes:
            if proc.os is not None:
                self.stop_os_process(proc)

    async def _reap_all(self) -> None:
        """Every child we ever started is reaped before run() returns."""
        live = [app for app in self._all_os if not app.exited.is_set()]
        for app in live:
            self._close(app)
            for sig in (signal.SIGTERM, signal.SIGCONT):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(app.pid, sig)
        with trio.move_on_after(GRACE_S):
            for app in live:
                # the watcher tasks are gone by now: poll (children exit within ms)
                while app.popen.poll() is None:  # noqa: ASYNC110
                    await trio.sleep(0.005)
        for app in live:
            if app.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(app.pid, signal.SIGKILL)
            self._reaped(app, app.popen.wait())


def _report_reason(frame: list[Any]) -> str:
    kind = frame[1] if len(frame) > 1 else None
    if kind == ReportKind.MPU_FAULT and len(frame) >= 6:
        return str(frame[5])
    if kind == ReportKind.EXCEPTION and len(frame) >= 3:
        text = str(frame[2]).strip().splitlines()
        return f"app raised {text[-1] if text else 'an exception'}"
    return f"app reported a fault: {wire._short(frame)}"


def _app_environment() -> dict[str, str]:
    """Apps import exactly what the daemon can import; hashing is fixed for replay."""
    env = dict(os.environ)
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), *paths])
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


async def run_board(cfg: BoardConfig, **kwargs: Any) -> int:
    """Run a board inside an existing trio run; SIGTERM/SIGINT stop it cleanly."""
    daemon = Daemon(cfg, **kwargs)
    return await daemon.run()
