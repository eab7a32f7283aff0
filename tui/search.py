"""Searching the trace: what the user typed, as a pattern, and the nearest matching
trace line before or after a position of the history.

The search text is literal unless it starts with `re:`, then the rest is a regular
expression (Python's `re`). Either is case-insensitive unless it has a capital letter
(less's "smart case"). A search only looks at the lines the trace pane shows: those its
filter keeps, up to the event being viewed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tockd.trace import format_event
from tockd.tui.board import Event
from tockd.tui.eventlog import SCAN_LIMIT
from tockd.tui.history import History
from tockd.tui.tracefilter import Matcher

REGEX_PREFIX = "re:"


@dataclass(frozen=True)
class TraceSearch:
    """A search: `text` as the user typed it, `pattern` what it matches."""

    text: str
    pattern: re.Pattern[str]

    @classmethod
    def parse(cls, text: str) -> TraceSearch | None:
        """The search `text` asks for (None: empty, no search). A malformed regular
        expression raises ValueError saying what is wrong and where."""
        if not text:
            return None
        regex = text.startswith(REGEX_PREFIX)
        body = text[len(REGEX_PREFIX) :] if regex else text
        if not body:
            raise ValueError(f"nothing after {REGEX_PREFIX!r}")
        flags = 0 if any(c.isupper() for c in body) else re.IGNORECASE
        try:
            pattern = re.compile(body if regex else re.escape(body), flags)
        except re.error as e:
            where = f" at position {e.pos}" if e.pos is not None else ""
            raise ValueError(f"not a regular expression: {e.msg}{where}") from None
        return cls(text, pattern)

    def spans(self, line: str) -> list[tuple[int, int]]:
        """Where the search matches in `line` (empty matches left out)."""
        return [m.span() for m in self.pattern.finditer(line) if m.end() > m.start()]


@dataclass(frozen=True)
class Found:
    """The outcome of one search step: the matching event and its line (None: no
    match), and whether the search gave up at the scan limit before the oldest event."""

    event: Event | None
    line: str = ""
    limited: bool = False


def _first(events: Iterable[Event], matcher: Matcher, search: TraceSearch) -> Found:
    for ev in events:
        if not matcher(ev):
            continue
        line = format_event(ev)
        if line is not None and search.pattern.search(line):
            return Found(ev, line)
    return Found(None)


def find_older(history: History, matcher: Matcher, search: TraceSearch, at: int) -> Found:
    """The newest matching line at or before event `at`; looks at most `SCAN_LIMIT`
    events back."""
    scanned = 0

    def counted() -> Iterator[Event]:
        nonlocal scanned
        for ev in history.events_before(at, SCAN_LIMIT):
            scanned += 1
            yield ev

    found = _first(counted(), matcher, search)
    if found.event is None and scanned >= SCAN_LIMIT:
        return Found(None, limited=True)
    return found


def find_newer(
    history: History, matcher: Matcher, search: TraceSearch, after: int, upto: int
) -> Found:
    """The oldest matching line after event `after`, up to event `upto`."""
    return _first(history.events_between(after, upto), matcher, search)
