"""What every scheduler shares (Tock's `Scheduler` trait, kernel/src/scheduler.rs).

The kernel loop asks `next()` for a process and a timeslice, runs it until it stops,
and reports why and for how long with `result()`; between two syscalls it asks
`continue_process()` whether the running process may keep the CPU. This module holds
that interface (`Scheduler`), why a run ended (`StoppedReason`), and what Tock's
schedulers have in common: the time a run is charged (`charged_us`) and the process
ring of the list schedulers (`ProcessRing`). The schedulers themselves are the other
modules of this package, one per file of release-2.2's kernel/src/scheduler/.

Two things differ from Tock for every scheduler, because time and interrupts are
different on a host:

- Time used. Tock's `do_process` reports `timeslice - remaining` from the scheduler
  timer, so it never exceeds the timeslice it was given, and exactly the timeslice on
  TimesliceExpired (kernel/src/kernel.rs). The daemon measures wall time, which can
  run past the slice (an app is stopped with SIGSTOP only once it overruns), so
  `charged_us` clamps it into [0, timeslice] before any arithmetic Tock does in u32.
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


class StoppedReason(Enum):
    """Why `do_process` returned (Tock's StoppedExecutingReason)."""

    NO_WORK_LEFT = "NoWorkLeft"
    STOPPED_FAULTED = "StoppedFaulted"
    STOPPED = "Stopped"
    TIMESLICE_EXPIRED = "TimesliceExpired"
    KERNEL_PREEMPTION = "KernelPreemption"


def charged_us(used_us: int | None, timeslice_us: int) -> int:
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
    #: are timers fired only by the scheduler itself, as decisions it takes (the lab's
    #: controlled scheduler)? Then the daemon never fires a due timer on its own.
    decides_timers: bool = False
    #: has the scheduler's budget run out (the lab's cap on a run that never ends)?
    #: Then the board stops, as if every process were done.
    spent: bool = False

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

    def yielded(self, proc: Process) -> bool:
        """`proc`, on the CPU, has just yielded, or taken a task that handed it nothing:
        may it keep the CPU to take what is queued for it? Tock's do_process asks
        `continue_process` at the top of each turn of its loop, so after a yield too;
        Tock's schedulers say yes there (no interrupt is ever pending here: the daemon
        does kernel work in place). The lab's controlled scheduler makes it a decision."""
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


class ProcessRing:
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


__all__ = [
    "MIN_QUANTA_THRESHOLD_US",
    "ProcessRing",
    "Scheduler",
    "StoppedReason",
    "charged_us",
]
