"""The kernel loop: one process holds the CPU at a time, as in Tock.

This follows `kernel/src/kernel.rs` (release-2.2): `kernel_loop` runs due kernel work
(timers, posted work: Tock's interrupts and deferred calls), asks the scheduler for the
next process, or sleeps when it has none; `do_process` runs that process until it
yields with nothing to do, exits, faults, is preempted (`continue_process`) or its
timeslice ends. As there, a yielded process with a queued upcall is resumed with it,
and a slice with less than `MIN_QUANTA_THRESHOLD_US` left is not started on.

Where it departs, on purpose: a process is preempted at a syscall boundary, by holding
back its reply, not by a timer interrupt; one that computes past its timeslice without
a syscall is stopped with SIGSTOP and continued with SIGCONT when chosen again. Kernel
work that comes due while a process runs is done at once, between two of its syscalls,
instead of after the process's turn (docs/schedulers.md). A paused daemon preempts the
running process, except under virtual time (the lab's controlled scheduler), where it
keeps the CPU until the next step and time stands still: stepping changes no decision.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable

import trio

from tockd.contract import events as ev
from tockd.contract import wire
from tockd.contract.events import EventKind
from tockd.daemon.apps import AppOS
from tockd.daemon.hotpath import EOF, GONE, PARTIAL_FRAME_US, WAIT, HotPath, partial_frame_fault
from tockd.kernel.abi import FRAME_UPCALL
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import Process, State
from tockd.kernel.scheduler import MIN_QUANTA_THRESHOLD_US, Scheduler, StoppedReason
from tockd.kernel.upcall import AGAIN

#: how long a process that answers at once may keep the kernel loop before the loop lets
#: the daemon's other tasks run (s): without it a control request is only served between
#: turns, when nothing is on the CPU, and a busy process never looks busy
SHARE_LOOP_S = 0.002
#: the same under virtual time (the lab's runs, which mostly end sooner than this):
#: what runs then is never the kernel's (no timer fires by the wall clock), so the
#: schedule stays the same, and an app that makes syscalls without end cannot keep
#: signals, the control socket or the lab's time budget waiting
SHARE_VIRTUAL_S = 0.05
_US_PER_S = 1_000_000


class KernelLoop:
    """Schedules the board's processes and runs the running one's syscalls."""

    def __init__(
        self,
        kernel: Kernel,
        scheduler: Scheduler,
        *,
        cpu: int | None,
        forever: bool,
        quiet: bool,
    ) -> None:
        self.kernel = kernel
        self.scheduler = scheduler
        #: the core the daemon and its apps run on, None when not pinned
        self.cpu = cpu
        self.forever = forever
        self.quiet = quiet
        self.hot = HotPath(kernel, pinned=cpu is not None)
        self.current: Process | None = None
        self.paused = False
        # while paused, each step lets exactly one syscall (or upcall delivery) happen
        self.steps = 0
        self.decisions = 0  # syscalls handled + upcalls delivered, for step accounting
        self.after_step: Callable[[Kernel], None] | None = None  # the lab's invariant checks
        self._stopping = False
        self._expire: Process | None = None  # whose slice ends now (`expire_slice`)
        self._work: deque[Callable[[], None]] = deque()
        self._wake_event = trio.Event()

    # ---- what the kernel and the control socket call -----------------------------------

    def wake(self) -> None:
        self._wake_event.set()

    def post(self, work: Callable[[], None]) -> None:
        """Run `work` in the kernel loop soon (the only place that mutates the kernel)."""
        self._work.append(work)
        self._wake_event.set()
        scope = self.hot.recv_scope
        if scope is not None:
            scope.cancel()

    def request_stop(self) -> None:
        """Stop the board (SIGTERM, SIGINT): the loop ends, every app is reaped."""

        def stop() -> None:
            self._stopping = True

        self.post(stop)

    @property
    def virtual(self) -> bool:
        """Is time virtual (the controlled scheduler), so timers fire only when the
        scheduler lets time pass, never against the wall clock?"""
        return self.scheduler.virtual

    # ---- the loop -------------------------------------------------------------------------

    async def kernel_loop(self) -> None:
        """`kernel_loop` of kernel.rs: until the board is done, run the next process."""
        kernel = self.kernel
        while True:
            self._kernel_work()
            if self._done():
                return
            choice = None if self._held() else self.scheduler.next()
            if choice is None:
                if self._done():  # the choice itself may end the board: the lab's
                    return  # adversity faulting the last process
                await self._idle()
                continue
            proc, slice_us = choice
            start = trio.current_time()
            self.current = proc
            if kernel.events.active:
                kernel.emit(
                    ev.ContextSwitch(kind=EventKind.CONTEXT_SWITCH, timeslice_us=slice_us), proc
                )
            if kernel.events.recorders:
                kernel.note_running(proc)
            reason = await self._do_process(proc, slice_us)
            self.current = None
            used = int((trio.current_time() - start) * 1e6)
            self._charge_partial_frame(proc, used)
            self.scheduler.result(proc, reason, used)
            await trio.lowlevel.checkpoint()

    def _charge_partial_frame(self, proc: Process, used_us: int) -> None:
        """Count a turn against a process that has sent part of a frame and not the rest;
        fault it once that has taken `PARTIAL_FRAME_US` of its time on the CPU."""
        app = proc.os
        if app is not None and not app.decoder.clean:
            app.partial_us += used_us
            if app.partial_us >= PARTIAL_FRAME_US:
                self.kernel.fault(proc, partial_frame_fault())
        elif app is not None:
            app.partial_us = 0

    def _kernel_work(self) -> None:
        if not self.scheduler.decides_timers:
            self.kernel.run_due_timers(self.scheduler.timer_chooser())
        while self._work:
            self._work.popleft()()

    def _timer_due(self) -> bool:
        deadline = self.kernel.next_deadline()
        return deadline is not None and deadline <= self.kernel.clock()

    def _done(self) -> bool:
        if self.kernel.panicked or self._stopping or self.scheduler.spent:
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
        """Nothing to run: sleep until kernel work is posted or the next timer is due."""
        if self._work:
            return
        if not self._held() and self.scheduler.idle_advance():
            return  # every process is idle: virtual time jumps to the next timer
        # a virtual timer is never due by the wall clock: only the scheduler moves time
        deadline = None if self.virtual else self.kernel.next_deadline()
        await self._wait_for_wake(deadline)

    def _held(self) -> bool:
        """Is the scheduler paused with no step left to spend?"""
        return self.paused and not self.steps

    async def _wait_for_wake(self, deadline: float | None = None) -> None:
        """Sleep until kernel work is posted, a command wakes the loop, or `deadline`."""
        self._wake_event = trio.Event()
        with trio.move_on_at(deadline if deadline is not None else float("inf")):
            await self._wake_event.wait()

    # ---- one process's turn ---------------------------------------------------------------

    async def _do_process(self, proc: Process, slice_us: int | None) -> StoppedReason:
        """`do_process` of kernel.rs: run `proc` until it stops running, and say why."""
        kernel = self.kernel
        app = proc.os
        if app is None:
            return StoppedReason.STOPPED
        hot = self.hot
        clock = trio.current_time
        deadline = clock() + slice_us / 1e6 if slice_us is not None else float("inf")
        app.sigcont()
        running, yielded, yielded_for = State.RUNNING, State.YIELDED, State.YIELDED_FOR
        share_at = clock() + self._share_s
        decided = self.scheduler.decides_timers
        while True:
            now = clock()
            if now >= share_at:  # the process stays on the CPU while the others run
                await trio.lowlevel.checkpoint()
                share_at = now + self._share_s
                continue
            timer = kernel.next_deadline()
            if self._work or (not decided and timer is not None and timer <= kernel.clock()):
                if (ended := self._work_in_turn(proc, app)) is not None:
                    return ended
                timer = kernel.next_deadline()
            if proc.os is not app:
                return StoppedReason.STOPPED_FAULTED
            if self.paused and not self.steps:  # self._held(), inline on the hot path
                if not self._keeps_cpu(proc):
                    return StoppedReason.KERNEL_PREEMPTION
                await self._wait_for_wake()
                continue
            state = proc.state
            if state is yielded or state is yielded_for:
                stopped = self._resume_yielded(proc, app)
                if stopped is not None:
                    return stopped
                continue
            if state is not running:
                if state is State.STOPPED and app.held is None and not app.sigstopped:
                    app.sigstop()
                return StoppedReason.STOPPED
            if (deadline - now) * _US_PER_S <= MIN_QUANTA_THRESHOLD_US:
                proc.timeslice_expirations += 1
                return StoppedReason.TIMESLICE_EXPIRED
            if app.held is not None and not hot.send_held(proc, app):
                return StoppedReason.STOPPED_FAULTED
            frame = hot.try_frame(proc, app)
            if frame is WAIT or frame is EOF:
                until = deadline if timer is None or self.virtual else min(deadline, timer)
                frame = hot.spin(proc, app, frame, now, until)
                if frame is WAIT or frame is EOF:
                    frame = await hot.wait_frame(proc, app, until, frame)
            if frame is GONE:
                stopped = self._interrupted(proc, app, deadline)
                if stopped is None:
                    continue
                return stopped
            hot.handle_frame(proc, app, frame)
            if not self._after_syscall(proc):
                return StoppedReason.KERNEL_PREEMPTION

    @property
    def _share_s(self) -> float:
        """How long a process that answers at once keeps the loop to itself."""
        return SHARE_VIRTUAL_S if self.virtual else SHARE_LOOP_S

    def _work_in_turn(self, proc: Process, app: AppOS) -> StoppedReason | None:
        """Kernel work came due while `proc` is on the CPU: do it. Why the turn ends if
        it does: the work stops the board (under virtual time no timeslice would end
        the turn), or it ends `proc`'s slice (`expire_slice`)."""
        self._kernel_work()
        if self._stopping:
            return StoppedReason.KERNEL_PREEMPTION
        if self._expire is proc:
            self._expire = None
            return self._slice_over(proc, app)
        return None

    def expire_slice(self, proc: Process) -> None:
        """End the turn of `proc`, on the CPU without a syscall since the last one, as
        a timeslice ends it: stopped where it is, and the scheduler chooses again. For
        virtual time, where no timeslice ends a turn: the lab's watch calls it for a
        process that computes, or waits in the host OS, without end (tockd/lab/run.py).
        Nothing happens if `proc` has made a syscall or left the CPU by the time the
        loop gets to it."""
        decisions = self.decisions

        def expire() -> None:
            if self.current is proc and self.decisions == decisions:
                self._expire = proc

        self.post(expire)

    def _after_syscall(self, proc: Process) -> bool:
        """`proc`'s syscall was handled: one decision. False when the scheduler takes
        the CPU from it while it could go on (after a yield too, when something queued
        lets it go on: `Scheduler.yielded`)."""
        self._decided()
        state = proc.state
        if state is State.RUNNING:
            return self.scheduler.continue_process(proc)
        if state is State.YIELDED or state is State.YIELDED_FOR:
            return self.scheduler.yielded(proc)
        return True

    def _keeps_cpu(self, proc: Process) -> bool:
        """Paused with `proc` on the CPU: does it keep it until the next step? Under
        virtual time it does, so a paused run takes the same scheduling decisions as one
        never paused (a replay stepped in the dashboard is the recorded run); on wall
        time it is preempted. Never once the board stops or `proc` no longer runs."""
        if not self.virtual or self._stopping or self.kernel.panicked:
            return False
        return proc.state in (State.RUNNING, State.YIELDED, State.YIELDED_FOR)

    def _resume_yielded(self, proc: Process, app: AppOS) -> StoppedReason | None:
        """A yielded process: hold its next upcall (or the return of its `yield-wait-for`)
        for it, as `do_process` resumes it with a dequeued task; else why its turn is
        over (nothing left for it, or the scheduler took the CPU between two tasks)."""
        delivery = self.kernel.next_delivery(proc, one_task=True)
        while delivery is AGAIN:  # one task per turn of do_process's loop
            if not self.scheduler.yielded(proc):
                return StoppedReason.KERNEL_PREEMPTION
            delivery = self.kernel.next_delivery(proc, one_task=True)
        if delivery is None:
            return StoppedReason.NO_WORK_LEFT
        kind, values = delivery
        if kind == "upcall":
            app.held = wire.encode([FRAME_UPCALL, *values])
        else:
            app.held = self.hot.reply(values)
        self._decided()
        return None

    def _interrupted(self, proc: Process, app: AppOS, deadline: float) -> StoppedReason | None:
        """The wait for `proc`'s frame ended without one: None to go on running it (kernel
        work or a timer came due inside its slice), else why its turn is over."""
        if proc.os is not app or proc.state is not State.RUNNING:
            return StoppedReason.STOPPED_FAULTED
        if self._work or self._timer_due() or trio.current_time() < deadline:
            return None
        return self._slice_over(proc, app)  # ran past its timeslice without a syscall

    @staticmethod
    def _slice_over(proc: Process, app: AppOS) -> StoppedReason:
        """`proc` ran its slice out without a syscall: stopped where it is."""
        app.sigstop()
        proc.timeslice_expirations += 1
        return StoppedReason.TIMESLICE_EXPIRED

    def _decided(self) -> None:
        """One decision (a syscall handled, an upcall delivered) happened: count it,
        spend a step when paused, and let the lab check its invariants."""
        self.decisions += 1
        if self.paused and self.steps:
            self.steps -= 1
        if self.after_step is not None:
            self.after_step(self.kernel)
