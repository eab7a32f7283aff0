"""Multilevel feedback queue: Tock's MLFQSched (kernel/src/scheduler/mlfq.rs, release-2.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.kernel.scheduler.base import Scheduler, StoppedReason, charged_us

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process


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
    - Kernel work is done in place (base.py's docstring): in Tock every interrupt
      that preempts a process also moves it to the tail of its queue; here it does not.
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
        used = charged_us(used_us, self.last_timeslice_us)
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


__all__ = ["MLFQ"]
