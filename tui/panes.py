"""The dashboard's panes (the process table is in `tui.proctable`). Each takes a
`Board` (live or from the past) and shows it; none of them talks to the daemon. Layout
and colours are in `tockd.tcss`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.style import Style, StyleType
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from tockd.contract.control import IpcWindow
from tui import render
from tui.board import Board, Event
from tui.eventlog import SCAN_LIMIT
from tui.history import History
from tui.search import Found, TraceSearch, find_newer, find_older
from tui.tracefilter import Matcher, TraceFilter
from tui.tracewindow import TraceWindow


def set_titles(widget: Widget, title: str, subtitle: str = "") -> None:
    """Set a pane's border title and subtitle, only if they changed: every assignment
    parses markup and redraws the pane."""
    if (widget.border_title or "", widget.border_subtitle or "") != (title, subtitle):
        widget.border_title = title
        widget.border_subtitle = subtitle


class TextView(Static):
    """A Static that re-renders only when its text really changed: most panes stay the
    same from one refresh to the next, and rendering is the dashboard's main cost."""

    def __init__(self, content: str = "", *, id: str | None = None) -> None:
        super().__init__(content, id=id)
        self._shown: Text | None = None

    def set_text(self, content: Text) -> None:
        if content == self._shown:
            return
        # a new layout of the whole screen only when the height may have changed
        lines = content.plain.count("\n")
        same_height = self._shown is not None and self._shown.plain.count("\n") == lines
        self._shown = content
        self.update(content, layout=not same_height)


class GrantsTable(DataTable[Any]):
    """Bytes of grant memory per process (rows) and capsule (columns)."""

    inherit_bindings = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True)
        self._columns: list[tuple[int, str]] | None = None
        self._cells: dict[int, tuple[Any, ...]] = {}
        self.border_title = "Grants (bytes)"
        self.can_focus = False

    def show(self, board: Board) -> None:
        columns = render.grant_columns(board)
        if columns != self._columns:
            self.clear(columns=True)
            self._cells.clear()
            # fixed widths: the table never re-measures, and looks the same every run
            self.add_column("Process", key="process", width=14)
            for driver, name in columns:
                self.add_column(name, key=str(driver), width=max(5, len(name)))
            self.add_column("Total", key="total", width=5)
            self._columns = columns
        keys = ["process", *(str(d) for d, _ in columns), "total"]
        for p in board.procs:
            cells = render.grant_cells(p, columns)
            old = self._cells.get(p.index)
            if old is None:
                self.add_row(*cells, key=str(p.index))
            elif old != cells:
                for key, value, before in zip(keys, cells, old, strict=True):
                    if value != before:
                        self.update_cell(str(p.index), key, value)
            self._cells[p.index] = cells
        total = sum(g.size for p in board.procs for g in p.grants)
        count = sum(len(p.grants) for p in board.procs)
        set_titles(self, "Grants (bytes)", f"{total} B in {count} grants")


class SchedulerPane(TextView):
    """Scheduler kind, paused or running, current process, timeslice left, run queue."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Scheduler"

    def show(self, board: Board, *, redact: bool = False) -> None:
        self.set_text(render.scheduler_text(board, redact=redact))


class MemoryPane(VerticalScroll):
    """The selected process's memory map, drawn as bars."""

    can_focus = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Memory map"

    def compose(self) -> ComposeResult:
        yield TextView(id="memory-body")

    def show(
        self,
        board: Board,
        index: int,
        windows: list[IpcWindow] | None,
        *,
        redact: bool = False,
    ) -> None:
        p = board.proc(index)
        # a long name loses its front: its end tells two apps of one vendor apart
        room = max(8, self.size.width - 18)
        set_titles(self, f"Memory map: {render.short_name(p.name, room)}" if p else "Memory map")
        width = self.content_size.width or 80
        body = self.query_one("#memory-body", TextView)
        m = board.mem.get(index)
        body.set_text(render.memory_text(m, p, width, windows, board, redact=redact))


class IpcPane(TextView):
    """IPC services, clients and shared buffers (the daemon's optional `ipc` query)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "IPC"

    def show(self, board: Board) -> None:
        text = render.ipc_text(board)
        if board.ipc is not None and board.ipc_seq != board.seq:
            text.append(f"\n(as at event #{board.ipc_seq}, the keyframe before)", style="dim")
        self.set_text(text)


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
        self._view: tuple[Board, History, int, bool] | None = None
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
        if before is not None and (past or before[3]) and upto != before[2]:
            self.window.end()
        self._view = (board, history, upto, past)
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
        scrolled = " · scrolled back (End: newest)" if self.window.bottom is not None else ""
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
        return self._scroll(lambda h, m, upto: self.window.end())

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


class PastBanner(TextView):
    """The unmistakable marker shown while the panes show the board as it was."""


class StatusLine(TextView):
    """The result of the last action, or why it failed."""

    def say(self, text: str, *, error: bool = False) -> None:
        self.set_class(error, "error")
        self.set_text(Text(text))


_KEYS = (
    ("p", "pause / resume the scheduler"),
    ("n", "step one scheduling decision (a syscall or an upcall delivery)"),
    ("s", "stop the selected process (start it again if it is stopped)"),
    ("r", "restart the selected process"),
    ("f", "fault the selected process (its fault policy applies)"),
    ("t", "terminate the selected process"),
    ("b", "press and release button 0"),
    ("/", "filter the trace: p:NAME p:PID d:0x2 d:led (Enter; empty: all)"),
    ("up down", "select a process (the memory map follows)"),
    ("ctrl+f", "search the trace (text, or re:REGEX); Enter: the newest match"),
    ("F3 S-F3", "the match before (older) / after (newer)"),
    ("< > I", "sort the processes by the column before / after; I reverses"),
    ("tab", "the next pane (shift+tab: the one before)"),
    ("z", "zoom: the focused pane fills the screen (z or Esc: back)"),
    ("PgUp/Dn", "scroll the focused pane (the trace: also the mouse wheel)"),
    ("[ ]", "time travel: one event back / forward"),
    ("{ }", "one keyframe (dashboard refresh) back / forward"),
    ("home", "the oldest event kept (trace focused: its oldest line first)"),
    ("end", "back to live (trace focused: its newest line first)"),
    ("?", "this help (Esc closes it)"),
    ("q", "quit (the board runs on, unless `tockd run --tui` started it)"),
)


def help_text() -> Text:
    text = Text()
    text.append("tockd dashboard", style="bold")
    text.append(": every action goes through the daemon's control socket.\n\n")
    for key, what in _KEYS:
        text.append(f"  {key:<9}", style="bold")
        text.append(f"{what}\n")
    text.append(
        "\nWhile viewing the past every pane shows the board as it was right after the "
        "chosen event; actions still act on the live board.",
        style="dim",
    )
    return text


class Palette(Widget):
    """Never shown: its component classes carry the colours of the panes' text, so
    they are set in tockd.tcss like every other colour (`Palette > .tockd--ROLE`)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"tockd--{role}" for role in render.ROLES}
    DEFAULT_CSS = "Palette { display: none; }"

    def styles_by_role(self) -> dict[str, Style]:
        return {
            role: self.get_component_rich_style(f"tockd--{role}", partial=True)
            for role in render.ROLES
        }


class HelpScreen(ModalScreen[None]):
    """Keys and what they do."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        # scrolls when the terminal is too small for it (80x24)
        with VerticalScroll(id="help-scroll") as scroll:
            scroll.border_subtitle = "Esc closes · ↑ ↓ PgUp PgDn scroll"
            yield Static(help_text(), id="help-body")
