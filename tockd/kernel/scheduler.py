"""Schedulers as plug-ins (Tock's `Scheduler` trait, capsules/system/src/scheduler/).

The kernel loop asks `next()` for a process and a timeslice, runs it until it stops,
and reports why with `result()`. Only round robin lives here for now; priority,
cooperative, MLFQ and the controlled scheduler plug into the same interface.
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


SCHEDULERS: dict[str, type[Scheduler]] = {"round-robin": RoundRobin}


def make_scheduler(name: str, kernel: Kernel, timeslice_us: int) -> Scheduler:
    if name == "round-robin":
        return RoundRobin(kernel, timeslice_us)
    cls = SCHEDULERS.get(name)
    if cls is None:
        raise ValueError(f"unknown scheduler {name!r} (known: {', '.join(sorted(SCHEDULERS))})")
    return cls(kernel)
