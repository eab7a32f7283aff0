"""The trace pane's window onto the history: which trace lines it shows, and scrolling.

Following (the default), the pane shows the newest lines up to the event being viewed
(the newest event when live). Scrolled back, it shows the lines up to `bottom`, an
event's seq, and stays there while new events arrive, until it is scrolled down to the
newest line again (or End). A position is a seq, not a line number: the history is
kept packed and the trace lines are made when shown, so counting lines from the start
would format every event; moving a few lines from a seq formats only those.

Unfiltered, the newest lines come from the newest batch alone. Filtered, the lines kept
are remembered while following and only new events are scanned, so a filter that
matches a rare process does not rescan the history at every refresh.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from itertools import islice

from tockd.trace import format_event
from tockd.tui.board import Event
from tockd.tui.history import History
from tockd.tui.tracefilter import Matcher, TraceFilter

#: a trace line and the event it is about
Line = tuple[Event, str]


def lines_after(history: History, matcher: Matcher, after: int, upto: int) -> Iterator[Line]:
    """The trace lines the filter keeps of the events after `after` up to `upto`."""
    for ev in history.events_between(after, upto):
        if matcher(ev):
            line = format_event(ev)
            if line is not None:
                yield ev, line


class TraceWindow:
    """Following, or scrolled back to `bottom`; each method takes the history, the
    filter's matcher and `upto` (the event viewed: nothing after it shows)."""

    KEPT = 200

    def __init__(self) -> None:
        #: the seq of the bottom line; None: following the newest line
        self.bottom: int | None = None
        self._kept: deque[Line] = deque(maxlen=self.KEPT)
        self._kept_key: tuple[TraceFilter, int] | None = None

    def _end(self, upto: int) -> int:
        if self.bottom is not None and self.bottom > upto:
            self.bottom = None  # time travel went back past it
        return upto if self.bottom is None else self.bottom

    def lines(
        self, history: History, flt: TraceFilter, matcher: Matcher, upto: int, rows: int
    ) -> list[Line]:
        """The lines shown, oldest first: at most `rows`."""
        end = self._end(upto)
        if self.bottom is not None or not flt.active:
            self._kept_key = None
            found = list(history.trace_before(end, rows, matcher))
            found.reverse()
            return found
        key = self._kept_key
        if key is not None and key[0] == flt and key[1] <= upto:
            self._kept.extend(lines_after(history, matcher, key[1], upto))
        else:
            self._kept.clear()
            self._kept.extend(reversed(list(history.trace_before(upto, self.KEPT, matcher))))
        self._kept_key = (flt, upto)
        return list(self._kept)[-rows:]

    # ---- scrolling: each returns whether the window moved ----------------------------

    def up(self, history: History, matcher: Matcher, upto: int, rows: int, count: int) -> bool:
        """`count` lines further back, stopping where the oldest line is at the top."""
        found = list(history.trace_before(self._end(upto), count + rows, matcher))
        if len(found) <= rows:
            return False
        self.bottom = found[min(count, len(found) - rows)][0]["seq"]
        return True

    def down(self, history: History, matcher: Matcher, upto: int, count: int) -> bool:
        """`count` lines further on; following again once the newest line shows."""
        self._end(upto)
        if self.bottom is None or count <= 0:
            return False
        target = None
        for n, (ev, _) in enumerate(lines_after(history, matcher, self.bottom, upto), 1):
            if n == count:
                target = ev["seq"]
            elif n > count:
                self.bottom = target
                return True
        self.bottom = None
        return True

    def home(self, history: History, matcher: Matcher, upto: int, rows: int) -> bool:
        """To the oldest line the history keeps (at the top of the pane)."""
        first = list(islice(lines_after(history, matcher, -1, upto), rows + 1))
        if len(first) <= rows:
            return False  # they all show already
        bottom = first[rows - 1][0]["seq"]
        moved = bottom != self.bottom
        self.bottom = bottom
        return moved

    def end(self, upto: int) -> bool:
        """Back to following the newest line."""
        moved = self.bottom is not None and self.bottom < upto
        self.bottom = None
        return moved

    def reveal(self, history: History, matcher: Matcher, upto: int, rows: int, seq: int) -> None:
        """Scroll so that the line of event `seq` shows, and stop following: if it is
        out of the window, put it half a pane above the bottom (where there are lines
        below it)."""
        shown = list(history.trace_before(self._end(upto), rows, matcher))
        if shown and shown[-1][0]["seq"] <= seq <= shown[0][0]["seq"]:
            # in view: stay there, or new lines would push it out of the pane
            self.bottom = shown[0][0]["seq"]
            return
        self.bottom = seq
        self.down(history, matcher, upto, rows // 2)
