"""Round robin: Tock's RoundRobinSched (kernel/src/scheduler/round_robin.rs, release-2.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.kernel.scheduler.base import ProcessRing, Scheduler, StoppedReason, charged_us

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process

#: RoundRobinSched::DEFAULT_TIMESLICE_US (kernel/src/scheduler/round_robin.rs).
DEFAULT_TIMESLICE_US = 10_000


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
    Departure: with kernel work done in place (base.py's docstring), only a paused
    daemon preempts, so a turn is rarely split on a host.
    """

    name = "round-robin"

    def __init__(self, kernel: Kernel, timeslice_us: int = DEFAULT_TIMESLICE_US) -> None:
        super().__init__(kernel)
        self.timeslice_us = timeslice_us
        self.time_remaining_us = timeslice_us
        self.last_rescheduled = False
        self._ring = ProcessRing(kernel)

    def next(self) -> tuple[Process, int | None] | None:
        proc = self._ring.first_ready()
        if proc is None:
            return None
        if not self.last_rescheduled:
            self.time_remaining_us = self.timeslice_us  # a fresh timeslice
        return proc, self.time_remaining_us

    def result(self, proc: Process, reason: StoppedReason, used_us: int | None) -> None:
        used = charged_us(used_us, self.time_remaining_us)
        reschedule = reason is StoppedReason.KERNEL_PREEMPTION and self.time_remaining_us > used
        if reschedule:
            self.time_remaining_us -= used
        self.last_rescheduled = reschedule
        if not reschedule:
            self._ring.rotate_if_head(proc)

    def run_queue(self) -> list[int]:
        self._ring.sync()
        return list(self._ring.order)


__all__ = ["DEFAULT_TIMESLICE_US", "RoundRobin"]
