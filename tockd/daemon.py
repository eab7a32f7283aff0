"""The kernel daemon: the thin trio layer around the sans-IO kernel.

It owns the OS side of every process: spawning app processes (each its own process
group, with the RAM memfd and one end of a socketpair), the kernel loop that runs one
process at a time, the timeslice (SIGSTOP / SIGCONT), death watching through pidfds,
reaping on every path, and the sinks of the event stream.

One process holds the CPU at a time. Between two syscalls a process is blocked on its
socket waiting for our reply; the kernel "preempts" a process at a syscall boundary
simply by holding that reply back, and one that computes past its timeslice without a
syscall is stopped with SIGSTOP.

Apps are forked from a warm zygote (tockd/zygote.py) or, with `spawn = "cold"` or when
the zygote fails, started as fresh interpreters. The daemon and every app of the board
run on one core (`cpu`, on by default), like a single-core microcontroller: a syscall
is then a hand-over on one core, without a cross-core wake-up, which costs several
times the whole syscall (bench/RESULTS.md).

The syscall hot path (`_do_process`) reads the socket without waiting first. When the
app has not sent its next syscall yet, it gives the app the core (`sched_yield`, when
pinned) and waits up to a millisecond in poll(2) on that one socket; only an app that
computes longer is waited for under trio (a cancel scope and `wait_readable`), so the
control socket and signals get their turn. Replies are encoded once and cached.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from tockd import appout, memmap
from tockd.board import BoardConfig, BoardError, build_kernel
from tockd.contract import wire
from tockd.kernel.abi import (
    FRAME_BOOT,
    FRAME_MPU,
    FRAME_RETURN,
    FRAME_UPCALL,
    REPORT,
    ReportKind,
    SyscallClass,
)
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import Process, State
from tockd.kernel.scheduler import (
    MIN_QUANTA_THRESHOLD_US,
    Scheduler,
    StoppedReason,
    make_scheduler,
)
from tockd.zygote import LOST, Zygote, ZygoteError, app_environment

GRACE_S = 1.0
#: how long a process may hold the CPU, in all, while part of a frame it sent waits for
#: the rest (µs): a slow sender takes milliseconds; one that stops half way has stalled
PARTIAL_FRAME_US = 1_000_000
_RECV = 65536
#: distinct replies kept encoded (registers -> bytes); most apps use a handful
_REPLY_CACHE = 512
#: how long the hot path waits for an app's next syscall outside trio (poll(2): ms)
_SPIN_MS = 1
_SPIN_S = _SPIN_MS / 1000

YIELD, EXIT = int(SyscallClass.YIELD), int(SyscallClass.EXIT)

# what `_try_frame` returns when there is no frame to handle
_WAIT = object()  # nothing has arrived yet
_EOF = object()  # the app closed its socket
_GONE = object()  # the app was faulted (bad frame) or is gone; stop running it


@dataclass(eq=False)
class AppOS:
    """The OS side of one incarnation of a process."""

    pid: int
    sock: socket.socket
    pidfd: int
    generation: int
    pages: memmap.AppPages  # what RAM it maps, and its memory socket
    popen: subprocess.Popen[bytes] | None = None  # a cold start: we are its parent
    zygote: Zygote | None = None  # forked by this zygote, which reaps it
    decoder: wire.FrameDecoder = field(default_factory=wire.FrameDecoder)
    frames: deque[Any] = field(default_factory=deque)
    exited: trio.Event = field(default_factory=trio.Event)
    returncode: int | None = None
    sigstopped: bool = False
    held: bytes | None = None  # the encoded frame to send when the process next runs
    raw: bytes | None = None  # the bytes of the frame being handled, when they were read whole
    partial_us: int = 0  # its time on the CPU since part of a frame came and not the rest
    closed: bool = False
    poller: select.poll = field(default_factory=select.poll)  # POLLIN on `sock`

    def __post_init__(self) -> None:
        self.poller.register(self.sock.fileno(), select.POLLIN)

    def poll(self) -> int | None:
        """The exit status if the process has been reaped (never blocks)."""
        if self.popen is not None:
            return self.popen.poll()
        assert self.zygote is not None
        return self.zygote.returncode(self.pid)


#: what a signal that kills an app means in tockd (apps_py/libtock/sandbox.py)
_SIGNAL_MEANING = {
    int(signal.SIGSEGV): "MPU fault, hardware backstop",
    int(signal.SIGSYS): "seccomp: a system call the app's sandbox forbids",
    int(signal.SIGXCPU): "CPU time limit of its sandbox, RLIMIT_CPU",
}


def describe_exit(returncode: int | None) -> str:
    """The fault reason for an app process that ended outside the syscall interface."""
    if returncode is None:
        return "closed its kernel socket"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        meaning = _SIGNAL_MEANING.get(-returncode)
        return f"killed by {name} ({meaning})" if meaning else f"killed by {name}"
    return f"exited with status {returncode} outside the syscall interface"


class Daemon:
    """Runs one board until every app has exited (or forever)."""

    def __init__(
        self,
        cfg: BoardConfig,
        *,
        forever: bool = False,
        quiet: bool = False,
        zygote: Zygote | None = None,
        scheduler: Callable[[Kernel], Scheduler] | None = None,
        after_step: Callable[[Kernel], None] | None = None,
    ) -> None:
        """`zygote`: a running zygote to fork apps from (shared between boards, e.g. by
        exploration); by default the board starts its own. `spawn = "cold"` uses
        neither. The lab's hooks: `scheduler` builds the scheduler in place of the
        board's; `after_step` is called with the kernel after every kernel step (its
        invariant checks)."""
        self.cfg = cfg
        #: the core the daemon and its apps run on, None when not pinned
        self.cpu = resolve_cpu(cfg.cpu)
        self.forever = forever
        self.quiet = quiet
        self.kernel: Kernel = build_kernel(cfg)
        self.kernel.caller_records = True  # see _handle_frame
        self.kernel.os = self
        self.scheduler: Scheduler = (
            make_scheduler(cfg.scheduler, self.kernel, cfg.timeslice_us)
            if scheduler is None
            else scheduler(self.kernel)
        )
        self.current: Process | None = None
        self.paused = False
        # while paused, each step lets exactly one syscall (or upcall delivery) happen
        self.steps = 0
        self.decisions = 0  # syscalls handled + upcalls delivered, for step accounting
        self.exit_status = 0
        self.after_step = after_step
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
        self._app_env = app_environment()
        self._zygote = zygote if cfg.spawn == "zygote" else None
        self._own_zygote = zygote is None and cfg.spawn == "zygote"
        self._replies: dict[tuple[int, ...], bytes] = {}

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
        # A stopped process never runs again, as in Tock: it must not go on writing the
        # RAM its next incarnation will use, so it dies now, not after a grace period.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(app.pid, signal.SIGKILL)
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
        """Start an app process for `proc`: forked by the zygote, or a fresh interpreter
        (Popen on the trio thread, so that the child's PR_SET_PDEATHSIG is tied to a
        thread that lives as long as the daemon). The boot frame is in its socket
        before it starts, so it never waits for it."""
        kernel = self.kernel
        assert proc.mpu is not None
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        mem_parent, mem_child = memmap.open_pair()
        pages = memmap.AppPages(mem_parent)
        ranges = kernel.mpu.accessible_ranges(proc.mpu)
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
            # how many times this process was restarted: an app has no files to keep
            # state in, and some experiments must know which life they are in
            "restart_count": proc.restart_count,
            "args": proc.spec.args,
            "mpu": [list(r) for r in ranges],
            "virtual_time": self.virtual,
            "sandbox": self.cfg.sandbox_for(proc.index),  # limits the runtime applies
        }
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
        if readers:
            assert self._nursery is not None
            budget = appout.OutputBudget(proc.name)
            self._nursery.start_soon(appout.pump, readers[0], budget, sys.stdout)
            self._nursery.start_soon(appout.pump, readers[1], budget, sys.stderr)
        parent.setblocking(False)
        mem_parent.setblocking(False)
        proc.generation = app.generation
        proc.pid = app.pid
        proc.os = app
        self._all_os.append(app)
        proc.mpu_dirty = False
        kernel.emit(
            "spawn",
            proc,
            os_pid=app.pid,
            generation=proc.generation,
            start="cold" if app.popen is not None else "zygote",
        )
        assert self._nursery is not None
        self._nursery.start_soon(self._watch, proc, app)

    def _output_pipes(self) -> tuple[list[int], tuple[int, int]]:
        """(read ends for the daemon, (stdout, stderr) write ends for the app): its own
        pipes, or /dev/null for both on a quiet board."""
        if self.quiet:
            null = appout.devnull()
            return [], (null, null)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        return [out_r, err_r], (out_w, err_w)

    @property
    def zygote(self) -> Zygote | None:
        """The zygote apps are forked from; None when they start cold."""
        return self._zygote

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
        popen = subprocess.Popen(
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
        return AppOS(popen.pid, parent, os.pidfd_open(popen.pid), generation, pages, popen=popen)

    def _drop_zygote(self) -> None:
        """Stop using the zygote (it failed): later apps start cold."""
        zygote, self._zygote = self._zygote, None
        if zygote is not None and self._own_zygote:
            # its apps die with it; their watchers see that, and the statuses read LOST
            zygote.close()

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
            self.post(lambda: self._died(proc, app))

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
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(app.pid, signal.SIGKILL)

    def _died(self, proc: Process, app: AppOS) -> None:
        if proc.os is app and proc.is_alive():
            self.kernel.fault(proc, describe_exit(app.returncode))

    def _close(self, app: AppOS) -> None:
        if not app.closed:
            app.closed = True
            trio.lowlevel.notify_closing(app.sock)
            app.sock.close()
            app.pages.close()

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
        for line in lines:  # the app's words: shown escaped, never as raw control bytes
            print(f"[{ev['name']}] {appout.sanitize(line)}", flush=True)
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
        self.kernel.run_due_timers(self.scheduler.timer_chooser())
        while self._work:
            self._work.popleft()()

    @property
    def virtual(self) -> bool:
        """Is time virtual (the controlled scheduler), so timers fire only when the
        scheduler lets time pass, never against the wall clock?"""
        return self.scheduler.virtual

    def _timer_due(self) -> bool:
        deadline = self.kernel.next_deadline()
        return deadline is not None and deadline <= self.kernel.clock()

    def _done(self) -> bool:
        if self.kernel.panicked or self._stopping:
            return True
        if self.forever:
            return False
        alive = [p for p in self.kernel.processes if p.is_alive()]
        if not alive:
            return True
        # quiescent for good: every live process sleeps in yield with nothing queued,
        # no timer will wake one, and nobody is paused or stopped by the user
        if (
            not self.paused
            and not self._work
            and self.kernel.next_deadline() is None
            and all(p.state in (State.YIELDED, State.YIELDED_FOR) and not p.queue for p in alive)
        ):
            if not self.quiet:
                print(
                    "tockd: every process waits with nothing pending; stopping "
                    "(--forever keeps the board up)",
                    file=sys.stderr,
                    flush=True,
                )
            return True
        return False

    async def _idle(self) -> None:
        if self._work:
            return
        if self.scheduler.idle_advance():
            return  # every process is idle: virtual time jumps to the next timer
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
            if kernel.events.recorders:
                kernel.note_running(proc)
            reason = await self._do_process(proc, slice_us)
            self.current = None
            used = int((trio.current_time() - start) * 1e6)
            app = proc.os
            if app is not None and not app.decoder.clean:
                app.partial_us += used
                if app.partial_us >= PARTIAL_FRAME_US:
                    kernel.fault(
                        proc,
                        f"sent part of a syscall frame and not the rest in "
                        f"{PARTIAL_FRAME_US // 1000} ms of its time on the CPU",
                    )
            elif app is not None:
                app.partial_us = 0
            self.scheduler.result(proc, reason, used)
            await trio.lowlevel.checkpoint()

    async def _do_process(self, proc: Process, slice_us: int | None) -> StoppedReason:
        kernel = self.kernel
        app = proc.os
        if app is None:
            return StoppedReason.STOPPED
        clock = trio.current_time
        deadline = clock() + slice_us / 1e6 if slice_us is not None else float("inf")
        if app.sigstopped:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(app.pid, signal.SIGCONT)
            app.sigstopped = False
        running, yielded, yielded_for = State.RUNNING, State.YIELDED, State.YIELDED_FOR
        pinned = self.cpu is not None
        while True:
            now = clock()
            timer = kernel.next_deadline()
            if self._work or (timer is not None and timer <= kernel.clock()):
                self._kernel_work()
                timer = kernel.next_deadline()
            if proc.os is not app:
                return StoppedReason.STOPPED_FAULTED
            if self.paused and not self.steps:
                return StoppedReason.KERNEL_PREEMPTION
            state = proc.state
            if state is yielded or state is yielded_for:
                delivery = kernel.next_delivery(proc)
                if delivery is None:
                    return StoppedReason.NO_WORK_LEFT
                kind, values = delivery
                if kind == "upcall":
                    app.held = wire.encode([FRAME_UPCALL, *values])
                else:
                    app.held = self._reply(values)
                self._decided()
                if self.after_step is not None:
                    self.after_step(self.kernel)
                continue
            if state is not running:
                if state is State.STOPPED and app.held is None and not app.sigstopped:
                    self._sigstop(app)
                return StoppedReason.STOPPED
            if (deadline - now) * 1e6 <= MIN_QUANTA_THRESHOLD_US:
                proc.timeslice_expirations += 1
                return StoppedReason.TIMESLICE_EXPIRED
            if app.held is not None and not self._send_held(proc, app):
                return StoppedReason.STOPPED_FAULTED
            frame = self._try_frame(proc, app)
            if frame is _WAIT or frame is _EOF:
                wait_until = deadline if timer is None or self.virtual else min(deadline, timer)
                # The app is on its way to its next syscall: waiting for it right here
                # costs a fraction of a trip through trio's run loop. When it shares our
                # core, first hand it the core; then wait for it in poll(2), briefly. An
                # app that computes longer is waited for under trio, so other tasks run.
                if frame is _WAIT and pinned:
                    os.sched_yield()
                    frame = self._try_frame(proc, app)
                if frame is _WAIT and wait_until - now > _SPIN_S and app.poller.poll(_SPIN_MS):
                    frame = self._try_frame(proc, app)
                if frame is _WAIT or frame is _EOF:
                    frame = await self._next_frame(proc, app, wait_until, frame)
            if frame is _GONE:
                if proc.os is not app or proc.state is not running:
                    return StoppedReason.STOPPED_FAULTED
                if self._work or self._timer_due() or clock() < deadline:
                    continue
                # ran past its timeslice without a syscall
                self._sigstop(app)
                proc.timeslice_expirations += 1
                return StoppedReason.TIMESLICE_EXPIRED
            self._handle_frame(proc, app, frame)
            self.decisions += 1
            if self.steps and self.paused:
                self.steps -= 1
            if self.after_step is not None:
                self.after_step(self.kernel)
            if proc.state is running and not self.scheduler.continue_process(proc):
                return StoppedReason.KERNEL_PREEMPTION

    def _decided(self) -> None:
        self.decisions += 1
        if self.paused and self.steps:
            self.steps -= 1

    def _sigstop(self, app: AppOS) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(app.pid, signal.SIGSTOP)
        app.sigstopped = True

    def _reply(self, registers: tuple[int, ...]) -> bytes:
        """The encoded return frame for these registers (cached: most are repeats)."""
        data = self._replies.get(registers)
        if data is None:
            data = wire.encode([FRAME_RETURN, *registers])
            if len(self._replies) < _REPLY_CACHE:
                self._replies[registers] = data
        return data

    def _send_held(self, proc: Process, app: AppOS) -> bool:
        data, app.held = app.held, None
        assert data is not None
        if proc.mpu_dirty:
            # a context switch carries the process's MPU configuration, in the same send,
            # after the pages it now maps (or no longer maps) on its memory socket
            assert proc.mpu is not None
            ranges = self.kernel.mpu.accessible_ranges(proc.mpu)
            try:
                messages = app.pages.update(self.kernel, proc, ranges, boot=False)
            except OSError as e:
                self.kernel.fault(proc, f"cannot hand the app its memory pages: {e}")
                return False
            data = wire.encode([FRAME_MPU, [list(r) for r in ranges], messages]) + data
            proc.mpu_dirty = False
        try:
            sent = app.sock.send(data)
        except OSError as e:
            self.kernel.fault(proc, f"cannot deliver to the app: {e}")
            return False
        if sent != len(data):
            self.kernel.fault(proc, "cannot deliver to the app: its socket is full")
            return False
        return True

    def _try_frame(self, proc: Process, app: AppOS) -> Any:
        """The frame the running process has sent, without waiting: else `_WAIT` (none
        yet), `_EOF`, or `_GONE` (a bad frame: the process has been faulted)."""
        frames = app.frames
        if not frames:
            try:
                data = app.sock.recv(_RECV)
            except BlockingIOError:
                return _WAIT
            except OSError as e:
                if e.errno != errno.ECONNRESET:
                    raise
                data = b""
            if not data:
                return _EOF
            try:
                new = app.decoder.decode(data)
            except wire.WireError as e:
                self.kernel.fault(proc, f"bad frame: {e}")
                return _GONE
            if len(new) == 1:
                app.raw = data if app.decoder.exact else None
                return new[0]  # the hot path: one syscall per read
            if not new:
                return _WAIT  # part of a frame
            frames.extend(new)
        app.raw = None
        if len(frames) > 1:
            self.kernel.fault(proc, "sent a frame before the previous syscall returned")
            return _GONE
        return frames.popleft()

    async def _next_frame(self, proc: Process, app: AppOS, deadline: float, first: Any) -> Any:
        """Wait for the running process's next frame (`first` is what `_try_frame` gave);
        `_GONE` if interrupted (kernel work, timeslice over) or the process is gone
        (then it has been faulted)."""
        frame = first
        while frame is _WAIT:
            with trio.CancelScope(deadline=deadline) as scope:
                self._recv_scope = scope
                try:
                    await trio.lowlevel.wait_readable(app.sock)
                except trio.ClosedResourceError:
                    return _GONE
                finally:
                    self._recv_scope = None
            if scope.cancelled_caught:
                return _GONE
            frame = self._try_frame(proc, app)
        if frame is _EOF:
            await self._lost(proc, app)
            return _GONE
        return frame

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
        reply = outcome.reply
        if reply is not None:
            held = self._reply(reply)
            if proc.os is app and proc.state is State.RUNNING:
                app.held = held
            bus = kernel.events
            record = bus.only_recorder
            if record is not None and cls != YIELD and cls != EXIT:
                # the kernel leaves a returning syscall to us (`caller_records`; it logs
                # yields and exits itself): its log entries are the bytes of the call as
                # the app sent them and of the reply
                bus.seq += 1
                raw = app.raw
                record(raw if raw is not None else wire.encode(frame))
                record(held)

    # ---- run ------------------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> int:
        """Start every app, run the kernel loop, stop and reap everything. Returns the
        exit status (0, or 2 after a kernel panic)."""
        kernel = self.kernel
        own_clock = self.scheduler.own_clock()
        kernel.clock = trio.current_time if own_clock is None else own_clock
        if not self.quiet:
            # neither wants syscalls: a board that prints builds no event per syscall
            self._closers.append(kernel.events.subscribe(self.console_sink, syscalls=False))
            self._closers.append(kernel.events.subscribe(self.fault_sink, syscalls=False))
        affinity = None
        if self.cpu is not None:
            # this thread, and so every process it starts from now on (zygote, apps)
            affinity = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {self.cpu})
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self._own_zygote:
                    self._zygote = Zygote(self._app_env)
                    self._zygote.start()
                if self._zygote is not None:
                    nursery.start_soon(self._zygote.serve)
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
            if self._own_zygote and self._zygote is not None:
                self._zygote.close()
            for close in self._closers:
                close()
            kernel.ram.close()
            if affinity is not None:
                os.sched_setaffinity(0, affinity)
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
                while app.poll() is None:  # noqa: ASYNC110
                    await trio.sleep(0.0005)
        for app in live:
            if app.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(app.pid, signal.SIGKILL)
        for app in live:
            if app.popen is not None:
                returncode = app.popen.wait()
            else:
                # the zygote reaps a SIGKILLed app at once; if it does not answer, closing
                # it kills whatever is left
                with trio.move_on_after(GRACE_S):
                    while app.poll() is None:  # noqa: ASYNC110
                        await trio.sleep(0.0005)
                polled = app.poll()
                returncode = LOST if polled is None else polled
            self._reaped(app, returncode)


def _report_reason(frame: list[Any]) -> str:
    """A fault reason from an app's own report. The app's words are untrusted: one line,
    printable characters only, bounded, so they cannot forge trace or log lines."""
    kind = frame[1] if len(frame) > 1 else None
    if kind == ReportKind.MPU_FAULT:
        return "app sent a malformed MPU fault report"  # a well-formed one never gets here
    if kind == ReportKind.EXCEPTION and len(frame) >= 3 and isinstance(frame[2], str):
        lines = [_clean(line) for line in frame[2].splitlines()]
        lines = [line for line in lines if line]
        return f"app raised {lines[-1] if lines else 'an exception'}"
    return f"app reported a fault: {_clean(wire._short(frame))}"


def _clean(text: str, limit: int = 200) -> str:
    """`text` as one printable line of at most `limit` characters."""
    out = "".join(c if c.isprintable() else " " for c in text).strip()
    return out if len(out) <= limit else out[: limit - 3] + "..."


def resolve_cpu(setting: int | str) -> int | None:
    """The core a board runs on: `cpu = N`, "auto" (the core the daemon is on when the
    board is built, so concurrent boards spread the way the OS placed them) or "off"
    (None: not pinned)."""
    if setting == "off":
        return None
    allowed = os.sched_getaffinity(0)
    if setting == "auto":
        cpu = _current_cpu()
        return cpu if cpu in allowed else max(allowed)
    if type(setting) is not int or setting not in allowed:
        raise BoardError(
            f"board.cpu: CPU {setting!r} is not available here "
            f'(allowed: {", ".join(map(str, sorted(allowed)))}, or "auto", "off")'
        )
    return setting


def _current_cpu() -> int:
    try:
        return int(ctypes.CDLL(None, use_errno=True).sched_getcpu())
    except (OSError, AttributeError):
        return -1


async def run_board(cfg: BoardConfig, **kwargs: Any) -> int:
    """Run a board inside an existing trio run; SIGTERM/SIGINT stop it cleanly."""
    daemon = Daemon(cfg, **kwargs)
    return await daemon.run()
