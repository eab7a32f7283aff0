"""Cooperative: Tock's CooperativeSched (kernel/src/scheduler/cooperative.rs, release-2.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.kernel.scheduler.base import ProcessRing, Scheduler, StoppedReason

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process


class Cooperative(Scheduler):
    """Tock's CooperativeSched (kernel/src/scheduler/cooperative.rs, release-2.2).

    Round robin without a timeslice: a process runs until it yields, stops, faults or
    exits. On KernelPreemption it stays at the head and runs again next; any other
    reason moves it to the tail. The time used is ignored (Tock passes None).
    """

    name = "cooperative"

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self._ring = ProcessRing(kernel)

    def next(self) -> tuple[Process, int | None] | None:
        proc = self._ring.first_ready()
        return None if proc is None else (proc, None)

    def result(self, proc: Process, reason: StoppedReason, used_us: int | None) -> None:
        if reason is not StoppedReason.KERNEL_PREEMPTION:
            self._ring.rotate_if_head(proc)

    def run_queue(self) -> list[int]:
        self._ring.sync()
        return list(self._ring.order)


__all__ = ["Cooperative"]
