"""The kernel's timer queue (tockd/kernel/timers.py): order, choice and cancel."""

from __future__ import annotations

from tockd.kernel.timers import TimerQueue


def test_due_timers_fire_by_deadline_then_arming_order() -> None:
    queue = TimerQueue()
    fired: list[str] = []
    for deadline, label in ((2.0, "late"), (1.0, "a"), (1.0, "b"), (9.0, "future")):
        queue.arm(deadline, label, lambda label=label: fired.append(label))
    while (cb := queue.pop_due(5.0, None)) is not None:
        cb()
    assert fired == ["a", "b", "late"]
    assert queue.next_deadline() == 9.0


def test_a_chooser_picks_among_the_due_ones_only() -> None:
    queue = TimerQueue()
    fired: list[str] = []
    offered: list[list[str]] = []
    for deadline, label in ((1.0, "a"), (1.0, "b"), (3.0, "later")):
        queue.arm(deadline, label, lambda label=label: fired.append(label))

    def last(labels: list[str]) -> int:
        offered.append(labels)
        return len(labels) - 1

    while (cb := queue.pop_due(1.0, last)) is not None:
        cb()
    assert fired == ["b", "a"]
    assert offered == [["a", "b"]]  # a lone due timer is no choice
    assert len(queue) == 1


def test_cancel_forgets_only_that_timer() -> None:
    queue = TimerQueue()
    fired: list[str] = []
    keep = queue.arm(1.0, "keep", lambda: fired.append("keep"))
    gone = queue.arm(0.5, "gone", lambda: fired.append("gone"))
    queue.cancel(gone)
    queue.cancel(gone)  # twice is harmless
    assert len(queue) == 1
    while (cb := queue.pop_due(2.0, None)) is not None:
        cb()
    assert fired == ["keep"]
    assert keep != gone
