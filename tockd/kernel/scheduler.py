"""Schedulers as plug-ins (Tock's `Scheduler` trait, kernel/src/scheduler.rs, release-2.2).

The kernel loop asks `next()` for a process and a timeslice, runs it until it stops,
and reports why and for how long with `result()`; between two syscalls it asks
`continue_process()` whether the running process may keep the CPU. Round robin,
cooperative, priority and MLFQ follow release-2.2's kernel/src/scheduler/*.rs, state
for state; `controlled` (tockd/lab/controlled.py, registered by the lab with
`register_scheduler`) takes every choice from a strategy, for reproducible race
experiments. docs/schedulers.md sums up each one.

Two things differ from Tock for every scheduler, because time and interrupts are
different on a host:

- Time used. Tock's `do_process` reports `timeslice - remaining` from the scheduler
  timer, so it never exceeds the timeslice it was given, and exactly the timeslice on
  TimesliceExpired (kernel/src/kernel.rs). The daemon measures wall time, which can
  run past the slice (an app is stopped with SIGSTOP only once it overruns), so
  `_charged_us` clamps it into [0, timeslice] before any arithmetic Tock does in u32.
- Kernel work. Tock's default `continue_process` stops the process (KernelPreemption)
  whenever an interrupt or deferred call is pending, and the kernel loop runs that
  work before asking `next()` again. The daemon services kernel work in place inside
  its `_do_process` loop instead, so here `continue_process` only answers for the
  scheduler's own policy (priority), and KernelPreemption otherwise comes only from a
  paused daemon. What this changes is named in each scheduler's docstring.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process
    from tockd.kernel.timers import TimerChooser

#: Tock stops a process when this much of its timeslice or less is left
#: (`MIN_QUANTA_THRESHOLD_US`, kernel/src/kernel.rs).
MIN_QUANTA_THRESHOLD_US = 500

#: RoundRobinSched::DEFAULT_TIMESLICE_US (kernel/src/scheduler/round_robin.rs).
DEFAULT_TIMESLICE_US = 10_000


class StoppedReason(Enum):
    """Why `do_process` returned (Tock's StoppedExecutingReason)."""

    NO_WORK_LEFT = "NoWorkLeft"
    STOPPED_FAULTED = "StoppedFaulted"
    STOPPED = "Stopped"
    TIMESLICE_EXPIRED = "TimesliceExpired"
    KERNEL_PREEMPTION = "KernelPreemption"


def _charged_us(used_us: int | None, timeslice_us: int) -> int:
    """The time Tock's scheduler timer would have reported for a run of `timeslice_us`.

    Tock can never report more than the timeslice, nor less than 0. `None` (which Tock
    passes only for a run without a timeslice, and which its timed schedulers `unwrap`,
    panicking) counts here as the whole slice: no measurement, nothing left over."""
    if used_us is None:
        return timeslice_us
    return min(max(used_us, 0), timeslice_us)


class Scheduler(ABC):
    """Chooses which process runs next and for how long.

    Besides Tock's three questions (`next`, `result`, `continue_process`), this is
    everything the daemon asks of a scheduler: whether time is its own (`virtual`,
    `own_clock`, `idle_advance`) and its say in the order of timers due together
    (`timer_chooser`). Tock's schedulers keep the defaults: wall time, the kernel's
    timer order. The lab's controlled scheduler overrides them all.
    """

    name = ""
    #: does time stand still until the scheduler moves it? Then timers fire only when
    #: it lets time pass, never against the wall clock.
    virtual: ClassVar[bool] = False

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @abstractmethod
    def next(self) -> tuple[Process, int | None] | None:
        """The process to run and its timeslice in µs (None: no preemption), or None
        to sleep until something happens."""

    def result(self, proc: Process, reason: StoppedReason, used_us: int | None) -> None:
        """How the last run (of `proc`, which `next()` chose) ended and how long it took."""

    def continue_process(self, proc: Process) -> bool:
        """May `proc` keep the CPU after a syscall? Tock's default also says no when
        kernel work is pending; the daemon does that work in place (module docstring)."""
        return True

    def run_queue(self) -> list[int]:
        """Process indices in the order the scheduler would consider them."""
        return [p.index for p in self.kernel.processes]

    def own_clock(self) -> Callable[[], float] | None:
        """The kernel clock this scheduler keeps (virtual time), or None: the daemon's."""
        return None

    def idle_advance(self) -> bool:
        """Nothing is ready: may time jump to the next timer now? Never on wall time,
        where the daemon sleeps until that timer instead."""
        return False

    def timer_chooser(self) -> TimerChooser | None:
        """Who picks among timers due at the same instant; None: the kernel's own order
        (deadline, then the order they were armed in)."""
        return None


class _ProcessRing:
    """The process list Tock's list schedulers keep (collections::list::List used as a
    ring): `next()` looks at the head, and moves every process it passes over to the
    tail; `result()` moves the head to the tail when the process gives up the CPU."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.order: list[int] = []

    def sync(self) -> None:
        """Add processes loaded since the last call at the tail, as a board does at boot."""
        known = set(self.order)
        self.order.extend(p.index for p in self.kernel.processes if p.index not in known)

    def first_ready(self) -> Process | None:
        """The first ready process from the head; the ones before it go to the tail.
        After a full turn with nobody ready the order is back where it was."""
        self.sync()
        procs = self.kernel.processes
        for _ in range(len(self.order)):
            proc = procs[self.order[0]]
            if proc.ready():
                return proc
            self.rotate()
        return None

    def rotate(self) -> None:
        """`push_tail(pop_head())`."""
        if self.order:
            self.order.append(self.order.pop(0))

    def rotate_if_head(self, proc: Process) -> None:
        """Rotate after `proc` ran. Tock pops the head unconditionally, since the process
        that ran is always the head; a process that is not the head did not come from
        `next()`, and moving someone else would be wrong, so nothing moves."""
        if self.order and self.order[0] == proc.index:
            self.rotate()


class RoundRobin(Scheduler):
    """Tock's RoundRobinSched (kernel/src/scheduler/round_robin.rs, release-2.2).

    One `time_remaining` for the whole scheduler, and a `last_rescheduled` flag:

    - `next()` runs the first ready process from the head of the ring. If the last
      run was rescheduled it gets `time_remaining`; otherwise a fresh timeslice, and
      `time_remaining` is reset to it. The first run is fresh.
    - `result()`: on KernelPreemption, if `time_remaining` is more than the time just
      used, that time is subtracted, the process stays at the head and the next run
      gets the rest (so preemptions at 3 ms and then 4 ms into a 10 ms slice leave
      3 ms). Any other reason, or a preemption that used all that was left, ends the
      turn: the head moves to the tail and the next run starts fresh.

    Like Tock, the leftover belongs to the scheduler, not the process: if the
    preempted process is no longer ready, the next ready one receives the leftover.
    Tock checks no threshold here; a leftover at or below MIN_QUANTA_THRESHOLD_US
    makes `do_process` return TimesliceExpired at once, which ends the turn.
    Departure: with kernel work done in place (module docstring), only a paused
    daemon preempts, so a turn is rarely split on a host.
    """

    name = "round-robin"

    def __init__(self, kernel: Kernel, timeslice_us: int = DEFAULT_TIMESLICE_US) -> None:
        super().__init__(kernel)
        self.timeslice_us = timeslice_us
        self.time_remaining_us = timeslice_us
        self.last_rescheduled = False
        self._ring = _ProcessRing(kernel)

    def next(self) -> tuple[Process, int | None] | None:
        proc = self._ring.first_ready()
        if proc is None:
            return None
        if not self.last_rescheduled:
            self.time_remaining_us = self.timeslice_us  # a fresh timeslice
        return proc, self.time_remaining_us

    def result(self, proc: Process, reason: StoppedReason, used_us: int | None) -> None:
        used = _charged_us(used_us, self.time_remaining_us)
        reschedule = reason is StoppedReason.KERNEL_PREEMPTION and self.time_remaining_us > used
        if reschedule:
            self.time_remaining_us -= used
        self.last_rescheduled = reschedule
        if not reschedule:
            self._ring.rotate_if_head(proc)

    def run_queue(self) -> list[int]:
        self._ring.sync()
        return list(self._ring.order)


class Cooperative(Scheduler):
    """Tock's CooperativeSched (kernel/src/scheduler/cooperative.rs, release-2.2).

    Round robin without a timeslice: a process runs until it yields, stops, faults or
    exits. On KernelPreemption it stays at the head and runs again next; any other
    reason moves it to the tail. The time used is ignored (Tock passes None).
    """

    name = "cooperative"

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self._ring = _ProcessRing(kernel)

    def next(self) -> tuple[Process, int | None] | None:
        proc = self._ring.first_ready()
        return None if proc is None else (proc, None)

    def result(self, proc: Process, reason: StoppedReason, used_us: int | None) -> None:
        if reason is not StoppedReason.KERNEL_PREEMPTION:
            self._ring.rotate_if_head(proc)

    def run_queue(self) -> list[int]:
        self._ring.sync()
        return list(self._ring.order)


class Priority(Scheduler):
    """Tock's PrioritySched (kernel/src/scheduler/priority.rs, release-2.2).

    Priority is the position in the process array (index 0 highest); no timeslice.
    `next()` runs the first ready process and remembers it as `running`; `result()`
    forgets it. `continue_process()` says no once a process before `running` is
    ready, e.g. one this process woke over IPC; with nobody running it says yes.

    Departure: Tock's `continue_process` also says no on a pending interrupt, so a
    higher-priority process woken by an interrupt (a timer) takes the CPU at once.
    The daemon does kernel work in place and asks `continue_process` after each
    syscall, so such a process waits until the running one's next syscall or yield.
    """

    name = "priority"

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.running: int | None = None

    def next(self) -> tuple[Process, int | None] | None:
        proc = next((p for p in self.kernel.processes if p.ready()), None)
        self.running = None if proc is None else proc.index
        return None if proc is None else (proc, None)

    def result(self, proc: Process, reason: StoppedReason, used_us: int | None) -> None:
        self.running = None

    def continue_process(self, proc: Process) -> bool:
        if self.running is None:
            return True
        first = next((p for p in self.kernel.processes if p.ready()), None)
        return first is None or first.index >= self.running


class MLFQ(Scheduler):
    """Tock's MLFQSched (kernel/src/scheduler/mlfq.rs, release-2.2).

    Three queues with 10, 20 and 50 ms timeslices; new processes start in the top one.

    - `next()`: first, if the refresh time has come (at the first call, then 5 s after
      the last refresh), `redeem_all_procs`: the HEAD of each lower queue, and only
      the head, moves to the tail of the top queue; every other process stays where it
      is, and nobody's accounting is reset. Then the first ready process of the
      highest queue that has one runs; the processes before it in its queue move to
      the tail. Its timeslice is the queue's timeslice minus its `us_used_this_queue`.
    - `result()`: `us_used_this_queue = last_timeslice - execution_time`, for every
      reason, where `last_timeslice` is the slice `next()` just gave. On
      TimesliceExpired that is then set to 0 and the process moves to the tail of the
      next lower queue (the bottom queue keeps it); otherwise to the tail of its own.

    Note that 2.2 stores the time that was *left* in a field named for the time
    *used*, so a process that yields after 3 ms of a fresh 10 ms slice gets 3 ms next
    time, and one that then yields after 1 ms gets 8 ms. That is a Tock bug (issue
    #4550, fixed after 2.2 by commit 29c07b0ef "scheduler/mlfq: Fix process runtime
    calculation"); tockd keeps it, to run as 2.2 does.

    Departures:
    - Where 2.2's u32 `timeslice - us_used_this_queue` is not positive, tockd gives
      the queue's whole timeslice. At 0 Tock runs the process without a timeslice and
      then panics on the `None` execution time in `result()`; below 0 (a process
      redeemed from a lower queue with more left over than the top slice) the u32
      wraps to a huge value that each chip's timer truncates its own way. Neither can
      be reproduced on a host, and a whole slice keeps preemption bounded.
    - Tock's refresh compares alarm ticks with wrap-around (`within_range`); the
      kernel clock here is a float that does not wrap, so "due" is `now >= next`.
    - Kernel work is done in place (module docstring): in Tock every interrupt that
      preempts a process also moves it to the tail of its queue; here it does not.
    """

    name = "mlfq"
    TIMESLICES_US = (10_000, 20_000, 50_000)
    #: PRIORITY_REFRESH_PERIOD_MS
    BOOST_US = 5_000_000

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.queues: list[list[int]] = [[] for _ in self.TIMESLICES_US]
        self.us_used_this_queue: dict[int, int] = {}
        #: kernel clock (s) of the next refresh; None: refresh at the first `next()`,
        #: as Tock's `next_reset` of 0 makes it do
        self.next_reset: float | None = None
        self.last_queue_idx = 0
        self.last_timeslice_us = 0

    def _sync(self) -> None:
        for p in self.kernel.processes:
            if p.index not in self.us_used_this_queue:
                self.us_used_this_queue[p.index] = 0
                self.queues[0].append(p.index)

    def _refresh_if_due(self) -> None:
        now = self.kernel.clock()
        if self.next_reset is None or now >= self.next_reset:
            self.next_reset = now + self.BOOST_US / 1e6
            self.redeem_all_procs()

    def redeem_all_procs(self) -> None:
        """Tock's `redeem_all_procs`: the head of each lower queue goes to the top."""
        for queue in self.queues[1:]:
            if queue:
                self.queues[0].append(queue.pop(0))

    def _next_ready(self) -> tuple[int, Process] | None:
        """Tock's `get_next_ready_process_node`: the first ready process of the highest
        queue that has one, moved to that queue's head by rotating the ones before it."""
        procs = self.kernel.processes
        for level, queue in enumerate(self.queues):
            ready = next((i for i in queue if procs[i].ready()), None)
            if ready is not None:
                while queue[0] != ready:
                    queue.append(queue.pop(0))
                return level, procs[ready]
        return None

    def next(self) -> tuple[Process, int | None] | None:
        self._sync()
        self._refresh_if_due()
        found = self._next_ready()
        if found is None:
            return None
        level, proc = found
        timeslice = self.TIMESLICES_US[level] - self.us_used_this_queue[proc.index]
        if timeslice <= 0:
            timeslice = self.TIMESLICES_US[level]  # departure: see the class docstring
        self.last_queue_idx = level
        self.last_timeslice_us = timeslice
        return proc, timeslice

    def result(self, proc: Process, reason: StoppedReason, used_us: int | None) -> None:
        level = self.last_queue_idx
        queue = self.queues[level]
        if not queue or queue[0] != proc.index:
            return  # not the process `next()` chose; Tock's is always the head
        used = _charged_us(used_us, self.last_timeslice_us)
        self.us_used_this_queue[proc.index] = self.last_timeslice_us - used
        if reason is StoppedReason.TIMESLICE_EXPIRED:
            self.us_used_this_queue[proc.index] = 0
            level = min(level + 1, len(self.queues) - 1)
        self.queues[level].append(queue.pop(0))

    def level_of(self, proc: Process) -> int | None:
        """The queue `proc` is in (0 is the top), or None before it is known."""
        return next((n for n, q in enumerate(self.queues) if proc.index in q), None)

    def run_queue(self) -> list[int]:
        self._sync()
        return [i for q in self.queues for i in q]


SCHEDULERS: dict[str, type[Scheduler]] = {
    "round-robin": RoundRobin,
    "cooperative": Cooperative,
    "priority": Priority,
    "mlfq": MLFQ,
}


def register_scheduler(name: str, cls: type[Scheduler]) -> None:
    """Make `name` a scheduler a board may name. A scheduler defined above the kernel
    registers itself here (the controlled one, tockd/lab/controlled.py), so the kernel
    never imports the layer that uses it (docs/layers.md)."""
    SCHEDULERS[name] = cls


def make_scheduler(name: str, kernel: Kernel, timeslice_us: int) -> Scheduler:
    """The board's scheduler; `timeslice_us` is round robin's (Tock's `new_with_time`)."""
    if name == "round-robin":
        return RoundRobin(kernel, timeslice_us)
    cls = SCHEDULERS.get(name)
    if cls is None:
        known = ", ".join(sorted(SCHEDULERS))
        raise ValueError(f"unknown scheduler {name!r} (known: {known})")
    return cls(kernel)
