"""Priority: Tock's PrioritySched (kernel/src/scheduler/priority.rs, release-2.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.kernel.scheduler.base import Scheduler, StoppedReason

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process


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


__all__ = ["Priority"]
