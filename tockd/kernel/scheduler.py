"""Schedulers as plug-ins (Tock's `Scheduler` trait, capsules/system/src/scheduler/).

The kernel loop asks `next()` for a process and a timeslice, runs it until it stops,
and reports why with `result()`; between two syscalls it asks `continue_process()`
whether the running process may keep the CPU. Round robin, cooperative, priority and
MLFQ follow Tock's; `controlled` (tockd/lab/controlled.py) takes every choice from a
strategy, for reproducible race experiments.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process

#: Tock stops a process when less than this much of its timeslice is left.
MIN_QUANTA_THRESHOLD_US = 500


class StoppedReason(Enum):
    """Why `do_process` returned (Tock's StoppedExecutingReason)."""

    NO_WORK_LEFT = "NoWorkLeft"
    STOPPED_FAULTED = "StoppedFaulted"
    STOPPED = "Stopped"
    TIMESLICE_EXPIRED = "TimesliceExpired"
    KERNEL_PREEMPTION = "KernelPreemption"


class Scheduler(ABC):
    """Chooses which process runs next and for how long."""

    name = ""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @abstractmethod
    def next(self) -> tuple[Process, int | None] | None:
        """The process to run and its timeslice in µs (None: no preemption), or None
        to sleep until something happens."""

    def result(self, proc: Process, reason: StoppedReason, used_us: int | None) -> None:
        """How the last run ended."""

    def continue_process(self, proc: Process) -> bool:
        """May `proc` keep the CPU after kernel work ran? (priority preempts here)"""
        return True

    def run_queue(self) -> list[int]:
        """Process indices in the order the scheduler would consider them."""
        return [p.index for p in self.kernel.processes]


class RoundRobin(Scheduler):
    """Tock's RoundRobinSched: first ready process in list order; rotate after a run."""

    name = "round-robin"

    def __init__(self, kernel: Kernel, timeslice_us: int = 10_000) -> None:
        super().__init__(kernel)
        self.timeslice_us = timeslice_us
        self._order: list[int] = []
        self._remaining: int | None = None

    def _sync(self) -> None:
        known = set(self._order)
        self._order.extend(p.index for p in self.kernel.processes if p.index not in known)

    def next(self) -> tuple[Process, int | None] | None:
        self._sync()
        procs = self.kernel.processes
        for _ in range(len(self._order)):
            index = self._order[0]
            proc = procs[index]
            if proc.ready():
                slice_us = self._remaining if self._remaining is not None else self.timeslice_us
                self._remaining = None
                return proc, slice_us
            self._order.append(self._order.pop(0))
        return None

    def result(self, proc: Process, reason: StoppedReason, used_us: int | None) -> None:
        if (
            reason is StoppedReason.KERNEL_PREEMPTION
            and used_us is not None
            and self.timeslice_us - used_us > MIN_QUANTA_THRESHOLD_US
        ):
            self._remaining = self.timeslice_us - used_us
            return
        self._remaining = None
        if self._order and self._order[0] == proc.index:
            self._order.append(self._order.pop(0))

    def run_queue(self) -> list[int]:
        self._sync()
        return list(self._order)


class Cooperative(Scheduler):
    """Tock's CooperativeSched: no timeslice; a process runs until it yields."""

    name = "cooperative"

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self._rr = RoundRobin(kernel)

    def next(self) -> tuple[Process, int | None] | None:
        choice = self._rr.next()
        return None if choice is None else (choice[0], None)

    def result(self, proc: Process, reason: StoppedReason, used_us: int | None) -> None:
        if reason is not StoppedReason.KERNEL_PREEMPTION:
            self._rr.result(proc, StoppedReason.NO_WORK_LEFT, None)

    def run_queue(self) -> list[int]:
        return self._rr.run_queue()


class Priority(Scheduler):
    """Tock's PrioritySched: priority is the position in the process array (index 0 is
    highest), no timeslice; a higher-priority process that becomes ready preempts."""

    name = "priority"

    def next(self) -> tuple[Process, int | None] | None:
        for proc in self.kernel.processes:
            if proc.ready():
                return proc, None
        return None

    def continue_process(self, proc: Process) -> bool:
        return not any(p.ready() for p in self.kernel.processes[: proc.index])


class MLFQ(Scheduler):
    """Tock's MLFQSched: three queues with 10/20/50 ms timeslices; using up a timeslice
    demotes a process; every 5 s every process goes back to the top queue."""

    name = "mlfq"
    TIMESLICES_US = (10_000, 20_000, 50_000)
    BOOST_US = 5_000_000

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.level: dict[int, int] = {}
        self.used: dict[int, int] = {}
        self.queues: list[list[int]] = [[], [], []]
        self._last_boost = kernel.clock()

    def _sync(self) -> None:
        for p in self.kernel.processes:
            if p.index not in self.level:
                self.level[p.index] = 0
                self.used[p.index] = 0
                self.queues[0].append(p.index)
        if (self.kernel.clock() - self._last_boost) * 1e6 >= self.BOOST_US:
            self._last_boost = self.kernel.clock()
            everyone = [i for q in self.queues for i in q]
            self.queues = [everyone, [], []]
            for i in everyone:
                self.level[i] = 0
                self.used[i] = 0

    def next(self) -> tuple[Process, int | None] | None:
        self._sync()
        procs = self.kernel.processes
        for level, queue in enumerate(self.queues):
            for index in queue:
                if procs[index].ready():
                    left = self.TIMESLICES_US[level] - self.used[index]
                    return procs[index], max(left, MIN_QUANTA_THRESHOLD_US + 1)
        return None

    def result(self, proc: Process, reason: StoppedReason, used_us: int | None) -> None:
        level = self.level[proc.index]
        queue = self.queues[level]
        if proc.index in queue:
            queue.remove(proc.index)
        if reason is StoppedReason.TIMESLICE_EXPIRED:
            self.used[proc.index] = 0
            level = min(level + 1, len(self.queues) - 1)
            self.level[proc.index] = level
        else:
            self.used[proc.index] += used_us or 0
            if self.used[proc.index] >= self.TIMESLICES_US[level]:
                self.used[proc.index] = 0
        self.queues[level].append(proc.index)

    def run_queue(self) -> list[int]:
        self._sync()
        return [i for q in self.queues for i in q]


SCHEDULERS: dict[str, type[Scheduler]] = {
    "round-robin": RoundRobin,
    "cooperative": Cooperative,
    "priority": Priority,
    "mlfq": MLFQ,
}


def make_scheduler(name: str, kernel: Kernel, timeslice_us: int) -> Scheduler:
    if name == "round-robin":
        return RoundRobin(kernel, timeslice_us)
    if name == "controlled":
        from tockd.lab.controlled import ControlledScheduler

        return ControlledScheduler(kernel)
    cls = SCHEDULERS.get(name)
    if cls is None:
        known = ", ".join(sorted([*SCHEDULERS, "controlled"]))
        raise ValueError(f"unknown scheduler {name!r} (known: {known})")
    return cls(kernel)
