"""The trace pane: the syscall trace in Tock's format, newest at the bottom, with a
filter (`/`, tui/tracefilter.py) and a search (ctrl+f, tui/search.py), scrolling over the
whole history the dashboard keeps (tui/tracewindow.py). Like every pane it takes a
`Board` (live or from the past) and shows it; it never talks to the daemon.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, NamedTuple

from rich.style import StyleType
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Input

from tockd.tui import render
from tockd.tui.board import Board, Event
from tockd.tui.eventlog import SCAN_LIMIT
from tockd.tui.history import History
from tockd.tui.panes import StatusLine, TextView
from tockd.tui.search import Found, TraceSearch, find_newer, find_older
from tockd.tui.tracefilter import Matcher, TraceFilter
from tockd.tui.tracewindow import TraceWindow


class View(NamedTuple):
    """What the pane shows: the lines up to event `upto` of `history`, filtered by
    names on `board`; `past`: `upto` is an event looked back at (highlighted)."""

    board: Board
    history: History
    upto: int
    past: bool


class TracePane(Vertical, can_focus=True):
    """The syscall trace in Tock's format, newest at the bottom, with a filter (`/`) and
    a search (ctrl+f, then F3 and shift+F3 for the match before and after). It scrolls:
    arrows and PageUp/PageDown while it has the focus, the mouse wheel, Home and End
    (through the app's keys, tui/panekeys.py). tui/tracewindow.py keeps the window onto
    the history, tui/search.py finds the matches. The titles are set as Content, never
    parsed as markup: the filter and the search are the user's own text."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_lines(-1)", "Line up", show=False),
        Binding("down", "scroll_lines(1)", "Line down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"trace-pane--match", "trace-pane--current"}
    #: lines one notch of the mouse wheel scrolls
    WHEEL = 3

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.filter = TraceFilter()
        self.search: TraceSearch | None = None
        #: the event of the line the last search step found
        self.match: int | None = None
        self.window = TraceWindow()
        self._view: View | None = None
        self._titles: tuple[str, str] | None = None
        self._set_titles("Trace", "")

    def compose(self) -> ComposeResult:
        yield TextView(id="trace-body")
        yield Input(
            placeholder="filter: p:NAME or p:PID, d:0x2 or d:led (empty: all), Enter",
            id="trace-filter",
        )
        yield Input(
            placeholder="search: text, or re:REGEX (Enter: the newest match; empty: off)",
            id="trace-search",
        )

    def show(self, board: Board, history: History, upto: int, *, past: bool) -> None:
        """The trace lines up to event `upto` (the viewed one is highlighted). Time
        travel (a new viewed event) brings the window back to that event."""
        before = self._view
        if before is not None and (past or before.past) and upto != before.upto:
            self.window.end(upto)
        self._view = View(board, history, upto, past)
        self._draw()

    def _rows(self) -> int:
        body = self.query_one("#trace-body", TextView)
        return max(1, body.size.height or self.content_size.height or 10)

    def _draw(self) -> None:
        if self._view is None:
            return
        board, history, upto, past = self._view
        matcher = self.filter.compile(board)
        lines = self.window.lines(history, self.filter, matcher, upto, self._rows())
        self.query_one("#trace-body", TextView).set_text(self._text(lines, upto, past))
        title = "Trace"
        if self.filter.active:
            title += f" (filter: {self.filter.describe()})"
        if self.search is not None:
            title += f" (search: {self.search.text})"
        missed = f", {history.missed} missed" if history.missed else ""
        back = self.window.bottom is not None and self.window.bottom < upto
        scrolled = " · scrolled back (End: newest)" if back else ""
        self._set_titles(title, f"{history.received} events{missed}{scrolled}")

    def _text(self, lines: list[tuple[Event, str]], upto: int, past: bool) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if not lines:
            text.append("no trace lines yet" if not self.filter.active else "no matching lines")
            text.stylize("dim")
        found = self.get_component_rich_style("trace-pane--match")
        current = self.get_component_rich_style("trace-pane--current")
        for n, (ev, line) in enumerate(lines):
            style: StyleType = render.st("highlight") if past and ev["seq"] == upto else ""
            start = len(text)
            text.append(line, style=current if ev["seq"] == self.match else style)
            for a, b in self.search.spans(line) if self.search is not None else ():
                text.stylize(found, start + a, start + b)
            if n < len(lines) - 1:
                text.append("\n")
        return text

    def _set_titles(self, title: str, subtitle: str) -> None:
        if self._titles != (title, subtitle):
            self._titles = (title, subtitle)
            self.border_title = Content(title)
            self.border_subtitle = Content(subtitle)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.screen.query_one(StatusLine).say(text, error=error)

    def on_resize(self) -> None:
        self.call_after_refresh(self._draw)

    # ---- scrolling ------------------------------------------------------------------

    def _scroll(self, move: Callable[[History, Matcher, int], bool]) -> bool:
        """Move the window (`move` gets the history, the filter and the viewed event);
        redraw if it moved, and say whether it did."""
        if self._view is None:
            return False
        board, history, upto, _ = self._view
        moved = move(history, self.filter.compile(board), upto)
        if moved:
            self._draw()
        return moved

    def scroll_lines(self, delta: int) -> bool:
        """`delta` lines down (back: negative)."""
        rows, window = self._rows(), self.window
        if delta < 0:
            return self._scroll(lambda h, m, upto: window.up(h, m, upto, rows, -delta))
        return self._scroll(lambda h, m, upto: window.down(h, m, upto, delta))

    def to_oldest_line(self) -> bool:
        rows, window = self._rows(), self.window
        return self._scroll(lambda h, m, upto: window.home(h, m, upto, rows))

    def to_newest_line(self) -> bool:
        return self._scroll(lambda h, m, upto: self.window.end(upto))

    def action_scroll_lines(self, delta: int) -> None:
        self.scroll_lines(delta)

    def action_page(self, delta: int) -> None:
        self.scroll_lines(delta * max(1, self._rows() - 1))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.scroll_lines(-self.WHEEL)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.scroll_lines(self.WHEEL)

    # ---- search ---------------------------------------------------------------------

    def open_search(self) -> None:
        box = self.query_one("#trace-search", Input)
        box.value = self.search.text if self.search is not None else ""
        box.display = True
        box.focus()

    def _close_search(self) -> None:
        self.query_one("#trace-search", Input).display = False
        self.focus()

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape" and self.query_one("#trace-search", Input).has_focus:
            event.stop()
            self._close_search()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if message.input.id != "trace-search":
            return
        message.stop()
        try:
            search = TraceSearch.parse(message.value)
        except ValueError as e:
            self._say(f"search: {e}", error=True)
            return
        self._close_search()
        self.search, self.match = search, None
        self._draw()
        if search is None:
            self._say("search off")
            return
        self.find(older=True)

    def find(self, *, older: bool) -> None:
        """The next match before (`older`) or after the last one (the first: the newest
        up to the viewed event); the pane scrolls to it, the status line says."""
        if self.search is None or self._view is None:
            self._say("no search: ctrl+f searches the trace", error=True)
            return
        board, history, upto, _ = self._view
        matcher, search, match = self.filter.compile(board), self.search, self.match
        if match is None or match > upto:
            found = find_older(history, matcher, search, upto)
        elif older:
            found = find_older(history, matcher, search, match - 1)
        else:
            found = find_newer(history, matcher, search, match, upto)
        self._show_found(found, search, older)

    def _show_found(self, found: Found, search: TraceSearch, older: bool) -> None:
        if found.event is None or self._view is None:
            limit = f" in the last {SCAN_LIMIT} events" if found.limited else ""
            self._say(f"search {search.text}: no {'older' if older else 'newer'} match{limit}")
            return
        board, history, upto, _ = self._view
        seq = found.event["seq"]
        self.match = seq
        self.window.reveal(history, self.filter.compile(board), upto, self._rows(), seq)
        self._draw()
        self._say(f"search {search.text}: event #{seq} (F3: older match, shift+F3: newer)")
