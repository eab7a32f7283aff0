"""The dashboard's memory of the board: every event received, keyframes, time travel.

`History` is what the dashboard keeps: the events (tui/eventlog.py: read back from the
packed stream, kept packed in batches) and the keyframes among them (tui/keyframes.py:
full `snapshot` replies, each waiting until the stream has reached it). The board right
after any event is the nearest earlier keyframe with the events after it folded in;
that is time travel, and "live" is the newest keyframe.

A position is an event's `seq`. The earliest one that can be shown is the first
keyframe; the newest is the last event (or the last keyframe, if later). Stepping moves
by events received, so the holes in `seq` (events missed) take no step.
"""

from __future__ import annotations

import bisect

from tockd.tui.board import Board
from tockd.tui.fold import apply
from tockd.tui.keyframes import Keyframes, keyframe_seq

#: events kept for scrubbing and the trace; older ones go, a keyframe at a time
HISTORY_LIMIT = 500_000


class History(Keyframes):
    """Events (up to `limit`) and the keyframes to rebuild the board at any of them."""

    def __init__(self, limit: int = HISTORY_LIMIT) -> None:
        super().__init__(limit)

    # ---- positions ------------------------------------------------------------------

    @property
    def start_seq(self) -> int | None:
        """The earliest position that can be shown as a board: the first keyframe."""
        return self.keyframes[0].seq if self.keyframes else None

    @property
    def last_seq(self) -> int | None:
        """The newest position: the last event, or the last keyframe if later."""
        if not self.keyframes:
            return None
        last_event = self.batches[-1].last if self.batches else 0
        return max(self.keyframes[-1].seq, last_event)

    def positions(self) -> int:
        """How many events lie after the first keyframe."""
        start = self.start_seq
        return 0 if start is None else self._end() - self._count_le(start)

    def index_of(self, seq: int) -> int:
        """How many events after the first keyframe come at or before `seq`."""
        start = self.start_seq or 0
        return self._count_le(seq) - self._count_le(start)

    def step(self, seq: int, delta: int) -> int:
        """The position `delta` events away from `seq`, clamped to what can be shown."""
        start, last = self.start_seq, self.last_seq
        if start is None or last is None:
            return seq
        target = self._count_le(seq) - 1 + delta
        if target < self._count_le(start):
            return start
        found = self._seq_at(target)
        return last if found is None or target >= self._end() else found

    def keyframe_step(self, seq: int, delta: int) -> int:
        """The keyframe before (delta < 0) or after (delta > 0) `seq`."""
        if not self.keyframes:
            return seq
        if delta < 0:
            i = bisect.bisect_left(self.keyframes, seq, key=keyframe_seq) - 1
            return self.keyframes[max(i, 0)].seq
        i = bisect.bisect_right(self.keyframes, seq, key=keyframe_seq)
        if i < len(self.keyframes):
            return self.keyframes[i].seq
        return self.last_seq or seq

    # ---- boards ---------------------------------------------------------------------

    def board_at(self, seq: int | None = None) -> Board | None:
        """The board right after event `seq` (None: the newest event)."""
        if seq is None:
            seq = self.last_seq
            if seq is None:
                return None
        i = self._keyframe_index(seq)
        if i < 0:
            return None
        kf = self.keyframes[i]
        board = kf.copy()
        for ev in self.events_between(kf.seq, seq):
            try:
                apply(board, ev)
            except (KeyError, TypeError, ValueError, IndexError):
                pass  # a malformed event changes nothing (the next keyframe corrects)
        board.seq = seq
        return board
