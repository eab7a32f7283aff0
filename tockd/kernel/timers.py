"""Kernel timers: capsule work due at a time on the kernel clock.

Tock drives capsule work from hardware alarms (the `VirtualMuxAlarm` a board hands
capsules, capsules/core/src/virtualizers/virtual_alarm.rs, release-2.2) whose interrupts
the kernel loop services between process runs. tockd has no interrupts: a capsule asks
for a callback at a deadline, the daemon (or the controlled scheduler, in virtual time)
fires the ones that are due. This module holds only the queue; `Kernel` wakes the
daemon and contains a capsule that raises while its timer fires.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import NamedTuple

#: a timer's work, run on the kernel when it fires
TimerCallback = Callable[[], None]

#: the scheduler's say in which of several timers due together fires first: given
#: their labels in the kernel's own order (deadline, then FIFO), the index to fire
TimerChooser = Callable[[list[str]], int]


class Timer(NamedTuple):
    """One pending timer. Ordered by deadline, then by token (arming order)."""

    deadline: float
    token: int
    label: str
    callback: TimerCallback


class TimerQueue:
    """Pending timers in a heap: deadline first, then the order they were armed in."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._tokens = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def arm(self, deadline: float, label: str, callback: TimerCallback) -> int:
        """Queue `callback` for `deadline`; returns the token `cancel` takes."""
        token = next(self._tokens)
        heapq.heappush(self._heap, Timer(deadline, token, label, callback))
        return token

    def cancel(self, token: int) -> None:
        """Forget a timer that has not fired (so re-arming never grows the heap)."""
        for i, timer in enumerate(self._heap):
            if timer.token == token:
                self._heap[i] = self._heap[-1]
                self._heap.pop()
                heapq.heapify(self._heap)
                return

    def next_deadline(self) -> float | None:
        return self._heap[0].deadline if self._heap else None

    def pop_due(self, now: float, choose: TimerChooser | None) -> TimerCallback | None:
        """Take the next timer due at `now` off the queue, or None when none is due.

        With `choose` and more than one due, `choose` picks among them (the controlled
        scheduler records that as a decision); otherwise deadline, then FIFO."""
        heap = self._heap
        if not heap or heap[0].deadline > now:
            return None
        if choose is not None and len(heap) > 1:
            due = sorted(t for t in heap if t.deadline <= now)
            if len(due) > 1:
                pick = due[choose([t.label for t in due])]
                heap.remove(pick)
                heapq.heapify(heap)
                return pick.callback
        return heapq.heappop(heap).callback
