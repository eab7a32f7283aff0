"""Schedulers as plug-ins (Tock's `Scheduler` trait, kernel/src/scheduler.rs, release-2.2).

The kernel loop asks `next()` for a process and a timeslice, runs it until it stops,
and reports why and for how long with `result()`; between two syscalls it asks
`continue_process()` whether the running process may keep the CPU. Round robin,
cooperative, priority and MLFQ follow release-2.2's kernel/src/scheduler/*.rs, state
for state, one module each here (round_robin, cooperative, priority, mlfq); base holds
the trait and where every scheduler departs from Tock on a host. `controlled`
(tockd/lab/controlled.py, registered by the lab with `register_scheduler`) takes every
choice from a strategy, for reproducible race experiments. docs/schedulers.md sums up
each one.

This module is the registry a board names its scheduler from (`make_scheduler`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.kernel.scheduler.base import MIN_QUANTA_THRESHOLD_US, Scheduler, StoppedReason
from tockd.kernel.scheduler.cooperative import Cooperative
from tockd.kernel.scheduler.mlfq import MLFQ
from tockd.kernel.scheduler.priority import Priority
from tockd.kernel.scheduler.round_robin import DEFAULT_TIMESLICE_US, RoundRobin

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel


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


__all__ = [
    "DEFAULT_TIMESLICE_US",
    "MIN_QUANTA_THRESHOLD_US",
    "MLFQ",
    "SCHEDULERS",
    "Cooperative",
    "Priority",
    "RoundRobin",
    "Scheduler",
    "StoppedReason",
    "make_scheduler",
    "register_scheduler",
]
