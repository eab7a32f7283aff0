"""The syscall hot path: read the running process's frame, check it, hand it to the
kernel, and send the reply.

On hardware a syscall is a trap into the kernel and a return from it
(`arch/cortex-m/src/syscall.rs`, release-2.2, `switch_to_process`); here it is one
frame `[class, r0, r1, r2, r3]` on the app's kernel socket and one reply frame. The
socket is read without waiting first. When the app has not sent its next syscall yet,
it is given the core (`sched_yield`, when pinned) and waited for up to a millisecond in
poll(2) on that one socket; only an app that computes longer is waited for under trio
(a cancel scope and `wait_readable`), so the control socket and signals get their turn.
Replies are encoded once and cached.

A malformed, oversized or out-of-protocol frame faults only the app that sent it, as a
bad trap faults only the process that made it (`kernel/src/kernel.rs`, release-2.2,
`do_process`, `ContextSwitchReason::Fault`).
"""

from __future__ import annotations

import errno
import os
import signal

import trio

from tockd.contract import wire
from tockd.daemon.apps import GRACE_S, AppOS, describe_exit
from tockd.kernel.abi import FRAME_MPU, FRAME_RETURN, REPORT, ReportKind, SyscallClass
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import Process, State

#: what a send to an app that has gone away raises
_PEER_GONE = (BrokenPipeError, ConnectionResetError)

_RECV = 65536
#: distinct replies kept encoded (registers -> bytes); most apps use a handful
_REPLY_CACHE = 512
#: how long the hot path waits for an app's next syscall outside trio (poll(2): ms)
_SPIN_MS = 1
_SPIN_S = _SPIN_MS / 1000
#: how long a process may hold the CPU, in all, while part of a frame it sent waits for
#: the rest (µs): a slow sender takes milliseconds; one that stops half way has stalled
PARTIAL_FRAME_US = 1_000_000
#: longest app-written text a fault reason quotes
_REASON_LIMIT = 200

YIELD, EXIT = int(SyscallClass.YIELD), int(SyscallClass.EXIT)


class _Signal:
    """A marker `try_frame` returns instead of a frame (never a decoded msgpack value)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


WAIT = _Signal("WAIT")  # nothing has arrived yet
EOF = _Signal("EOF")  # the app closed its socket
GONE = _Signal("GONE")  # the app was faulted (bad frame) or is gone; stop running it


class HotPath:
    """Frames in and out of the running process, for one kernel."""

    def __init__(self, kernel: Kernel, *, pinned: bool) -> None:
        """`pinned`: the daemon and its apps share one core, so waiting for an app
        starts by handing it the core."""
        self.kernel = kernel
        self.pinned = pinned
        #: encoded return frames by their registers (`reply`)
        self.replies: dict[tuple[int, ...], bytes] = {}
        #: the scope of a wait for the running process's frame, which kernel work
        #: posted from elsewhere (`Daemon.post`) cancels
        self.recv_scope: trio.CancelScope | None = None

    def reply(self, registers: tuple[int, ...]) -> bytes:
        """The encoded return frame for these registers (cached: most are repeats)."""
        data = self.replies.get(registers)
        if data is None:
            data = wire.encode([FRAME_RETURN, *registers])
            if len(self.replies) < _REPLY_CACHE:
                self.replies[registers] = data
        return data

    def send_held(self, proc: Process, app: AppOS) -> bool:
        """Send the frame held back for `proc` (a reply or an upcall), after its MPU
        configuration if that changed; False if the process was faulted instead."""
        data, app.held = app.held, None
        assert data is not None
        if proc.mpu_dirty:
            # a context switch carries the process's MPU configuration, in the same send,
            # after the pages it now maps (or no longer maps) on its memory socket
            assert proc.mpu is not None
            ranges = self.kernel.mpu.accessible_ranges(proc.mpu)
            try:
                messages = app.pages.update(self.kernel, proc, ranges, boot=False)
            except _PEER_GONE:
                return True  # it died: see below
            except OSError as e:
                self.kernel.fault(proc, f"cannot hand the app its memory pages: {e}")
                return False
            data = wire.encode([FRAME_MPU, [list(r) for r in ranges], messages]) + data
            proc.mpu_dirty = False
        try:
            sent = app.sock.send(data)
        except _PEER_GONE:
            # The app died (or closed its socket) since its last frame: not a delivery
            # failure. What it sent before it went (a fault report) and then its exit
            # status say why: the caller reads on, meets EOF, and `_lost` faults it.
            return True
        except OSError as e:
            self.kernel.fault(proc, f"cannot deliver to the app: {e}")
            return False
        if sent != len(data):
            self.kernel.fault(proc, "cannot deliver to the app: its socket is full")
            return False
        return True

    def try_frame(self, proc: Process, app: AppOS) -> object:
        """The frame the running process has sent, without waiting: else `WAIT` (none
        yet), `EOF`, or `GONE` (a bad frame: the process has been faulted)."""
        frames = app.frames
        if not frames:
            try:
                data = app.sock.recv(_RECV)
            except BlockingIOError:
                return WAIT
            except OSError as e:
                if e.errno != errno.ECONNRESET:
                    raise
                data = b""
            if not data:
                return EOF
            try:
                new = app.decoder.decode(data)
            except wire.WireError as e:
                self.kernel.fault(proc, f"bad frame: {e}")
                return GONE
            if len(new) == 1:
                app.raw = data if app.decoder.exact else None
                return new[0]  # the hot path: one syscall per read
            if not new:
                return WAIT  # part of a frame
            frames.extend(new)
        app.raw = None
        if len(frames) > 1:
            self.kernel.fault(proc, "sent a frame before the previous syscall returned")
            return GONE
        return frames.popleft()

    def spin(self, proc: Process, app: AppOS, first: object, now: float, until: float) -> object:
        """The running process's next frame if it comes at once (`first` is what
        `try_frame` gave at `now`; `until`: when the process's turn ends); else `WAIT`
        or `EOF`, for `wait_frame`. Not a coroutine: most syscalls end here, and a
        coroutine costs more than the rest of this path."""
        # The app is on its way to its next syscall: waiting for it right here costs a
        # fraction of a trip through trio's run loop. When it shares our core, first
        # hand it the core; then wait for it in poll(2), briefly. An app that computes
        # longer is waited for under trio (`wait_frame`), so other tasks run.
        frame = first
        if frame is WAIT and self.pinned:
            os.sched_yield()
            frame = self.try_frame(proc, app)
        if frame is WAIT and until - now > _SPIN_S and app.poller.poll(_SPIN_MS):
            frame = self.try_frame(proc, app)
        return frame

    async def wait_frame(self, proc: Process, app: AppOS, deadline: float, first: object) -> object:
        """Wait under trio, so other tasks run while the app computes, for the running
        process's next frame (`first` is what `spin` gave): `GONE` if interrupted
        (kernel work, timeslice over) or the process is gone (then it has been
        faulted)."""
        frame = first
        while frame is WAIT:
            stall = self._stall_at(app, deadline)
            with trio.CancelScope(deadline=min(deadline, stall)) as scope:
                self.recv_scope = scope
                try:
                    await trio.lowlevel.wait_readable(app.sock)
                except trio.ClosedResourceError:
                    return GONE
                finally:
                    self.recv_scope = None
            if scope.cancelled_caught:
                if trio.current_time() >= stall:
                    self.kernel.fault(proc, partial_frame_fault())
                return GONE
            frame = self.try_frame(proc, app)
        if frame is EOF:
            await self._lost(proc, app)
            return GONE
        return frame

    @staticmethod
    def _stall_at(app: AppOS, deadline: float) -> float:
        """When a process that has sent part of a frame has stalled: once it has held
        the CPU for `PARTIAL_FRAME_US` in all waiting for the rest. Only a wait with no
        timeslice to end it (virtual time, the cooperative scheduler) gets that far;
        otherwise the loop charges each turn (`_charge_partial_frame`). inf when its
        frames are whole."""
        if app.decoder.clean or deadline < float("inf"):
            return float("inf")
        return trio.current_time() + (PARTIAL_FRAME_US - app.partial_us) / 1e6

    async def _lost(self, proc: Process, app: AppOS) -> None:
        """EOF from the running process: wait briefly for its exit status, then fault."""
        with trio.move_on_after(GRACE_S):
            await app.exited.wait()
        if not app.exited.is_set():
            app.signal_group(signal.SIGKILL)
            await app.exited.wait()
        if proc.os is app:
            self.kernel.fault(proc, describe_exit(app.returncode))

    def handle_frame(self, proc: Process, app: AppOS, frame: object) -> None:
        """Hand one frame to the kernel: a syscall (its reply is held for the process's
        next turn) or the app's own fault report."""
        kernel = self.kernel
        if type(frame) is list and frame and frame[0] == REPORT:
            report_fault(kernel, proc, frame)
            return
        try:
            cls, r0, r1, r2, r3 = wire.check_syscall(frame)
        except wire.WireError as e:
            kernel.fault(proc, f"bad syscall frame: {e}")
            return
        outcome = kernel.handle_syscall(proc, cls, r0, r1, r2, r3)
        reply = outcome.reply
        if reply is not None:
            held = self.reply(reply)
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


def report_fault(kernel: Kernel, proc: Process, frame: list[object]) -> None:
    """The app reports a fault of its own: an MPU fault its runtime caught (the kernel
    decides what it means), or anything else, which faults it."""
    if len(frame) >= 6 and frame[1] == ReportKind.MPU_FAULT:
        _, _, address, length, access, _text = frame[:6]
        if type(address) is int and type(length) is int and type(access) is int:
            kernel.mpu_fault(proc, address, length, access)
            return
    kernel.fault(proc, _report_reason(frame))


def last_report(app: AppOS) -> list[object] | None:
    """The fault report a dead app left unread, if any. A runtime reports and then
    exits at once, so the daemon can learn of the exit before it reads the report: the
    app is gone, so all it sent is in its socket, read here without waiting."""
    frames = list(app.frames)
    try:
        while data := app.sock.recv(_RECV):  # a non-blocking socket: nothing more raises
            frames.extend(app.decoder.decode(data))
    except (OSError, wire.WireError):
        pass
    reports = [f for f in frames if type(f) is list and f and f[0] == REPORT]
    return reports[-1] if reports else None


def _report_reason(frame: list[object]) -> str:
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


def _clean(text: str, limit: int = _REASON_LIMIT) -> str:
    """`text` as one printable line of at most `limit` characters."""
    out = "".join(c if c.isprintable() else " " for c in text).strip()
    return out if len(out) <= limit else out[: limit - 3] + "..."


def partial_frame_fault() -> str:
    """Why a process that stalled half way through a frame is faulted."""
    return (
        f"sent part of a syscall frame and not the rest in "
        f"{PARTIAL_FRAME_US // 1000} ms of its time on the CPU"
    )
