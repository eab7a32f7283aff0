"""The dashboard's panes (the process table is in `tui.proctable`). Each takes a
`Board` (live or from the past) and shows it; none of them talks to the daemon. Layout
and colours are in `tockd.tcss`."""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar
from weakref import WeakKeyDictionary

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from tockd.contract.control import IpcWindow
from tockd.trace import format_event
from tui import render
from tui.board import Board, Event
from tui.history import History
from tui.legend import legend
from tui.tracefilter import TraceFilter

#: the titles each pane was last given (a widget gives back its title as markup)
_TITLES: WeakKeyDictionary[Widget, tuple[str, str]] = WeakKeyDictionary()


def set_titles(widget: Widget, title: str, subtitle: str = "") -> None:
    """Set a pane's border title and subtitle, shown as they read (`render.literal`: a
    title holds process names and the trace filter), only if they changed: every
    assignment redraws the pane."""
    if _TITLES.get(widget) != (title, subtitle):
        _TITLES[widget] = (title, subtitle)
        widget.border_title = render.literal(title)
        widget.border_subtitle = render.literal(subtitle)


class TextView(Static):
    """A Static that re-renders only when its text really changed: most panes stay the
    same from one refresh to the next, and rendering is the dashboard's main cost."""

    def __init__(self, content: str = "", *, id: str | None = None) -> None:
        super().__init__(render.literal(content), id=id)
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
    """Bytes of grant memory per process (rows) and capsule (columns): a column for
    every capsule a grant of has been seen, so the columns stay as time moves."""

    inherit_bindings = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True)
        self._columns: list[tuple[int, str]] | None = None
        self._drivers: set[int] = set()
        self._cells: dict[int, tuple[Any, ...]] = {}
        self.border_title = "Grants (bytes)"
        self.can_focus = False

    def show(self, board: Board) -> None:
        self._drivers |= render.grant_drivers(board)
        columns = render.grant_columns(board, self._drivers)
        if columns != self._columns:
            self.clear(columns=True)
            self._cells.clear()
            # fixed widths: the table never re-measures, and looks the same every run
            self.add_column("Process", key="process", width=14)
            for driver, name in columns:
                label = render.literal(name)
                self.add_column(label, key=str(driver), width=max(5, len(name)))
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
        set_titles(self, "Grants (bytes)", f"{total} B in {render.plural(count, 'grant')}")


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
        set_titles(self, f"Memory map: {p.name}" if p else "Memory map")
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


class TracePane(Vertical):
    """The syscall trace in Tock's format, newest at the bottom, with a filter (`/`).

    Unfiltered, the last lines come from the newest batch alone. Filtered, the lines
    kept are remembered and only new events are scanned, so a filter that matches a
    rare process does not rescan the history at every refresh."""

    KEPT = 200

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Trace"
        self.filter = TraceFilter()
        self._kept: deque[tuple[Event, str]] = deque(maxlen=self.KEPT)
        self._kept_key: tuple[TraceFilter, int] | None = None

    def compose(self) -> ComposeResult:
        yield TextView(id="trace-body")
        yield Input(
            placeholder="filter: p:NAME or p:PID, d:0x2 or d:led (empty: all), Enter",
            id="trace-filter",
        )

    def _lines(self, board: Board, history: History, upto: int, rows: int) -> list[Any]:
        matcher = self.filter.compile(board)
        key = self._kept_key
        if not self.filter.active:
            self._kept_key = None
            lines = list(history.trace_before(upto, rows, matcher))
            lines.reverse()
            return lines
        if key is not None and key[0] == self.filter and key[1] <= upto:
            for ev in history.events_between(key[1], upto):
                if matcher(ev):
                    line = format_event(ev)
                    if line is not None:
                        self._kept.append((ev, line))
        else:
            self._kept.clear()
            found = list(history.trace_before(upto, self.KEPT, matcher))
            self._kept.extend(reversed(found))
        self._kept_key = (self.filter, upto)
        return list(self._kept)[-rows:]

    def show(self, board: Board, history: History, upto: int, *, past: bool) -> None:
        """The trace lines up to event `upto` (the viewed one is highlighted)."""
        body = self.query_one("#trace-body", TextView)
        rows = max(1, body.size.height or self.content_size.height or 10)
        lines = self._lines(board, history, upto, rows)
        text = Text(no_wrap=True, overflow="ellipsis")
        if not lines:
            text.append("no trace lines yet" if not self.filter.active else "no matching lines")
            text.stylize("dim")
        for n, (ev, line) in enumerate(lines):
            style = render.st("highlight") if past and ev["seq"] == upto else ""
            text.append(line, style=style)
            if n < len(lines) - 1:
                text.append("\n")
        body.set_text(text)
        title = "Trace"
        if self.filter.active:
            title += f" (filter: {self.filter.describe()})"
        missed = f", {history.missed} missed" if history.missed else ""
        set_titles(self, title, f"{history.received} events{missed}")


class PastBanner(TextView):
    """The unmistakable marker shown while the panes show the board as it was."""


class StatusLine(TextView):
    """The result of the last action, or why it failed."""

    def say(self, text: str, *, error: bool = False) -> None:
        self.set_class(error, "error")
        self.set_text(Text(text))


_KEYS = (
    ("p", "pause / resume the scheduler"),
    ("n", "single-step one scheduling decision (a syscall or an upcall delivery)"),
    ("s", "stop the selected process (start it again if it is stopped)"),
    ("r", "restart the selected process"),
    ("f", "fault the selected process (its fault policy applies); asks y/n first"),
    ("t", "terminate the selected process; asks y/n first"),
    ("b", "press and release button 0"),
    ("/", "filter the trace: p:NAME or p:PID, d:0x2 or d:led; Enter applies, empty clears"),
    ("up down", "select a process (the memory map follows)"),
    ("[ ]", "time travel: one event back / forward (forward to the newest: live again)"),
    ("{ }", "one keyframe (dashboard refresh) back / forward"),
    ("home", "the oldest event kept"),
    ("end", "back to live"),
    ("w", "write a screenshot (SVG) to $TOCKD_SCREENSHOT_DIR or the current directory"),
    ("?", "this help (Esc closes it)"),
    ("q", "quit the dashboard (the board keeps running, unless `tockd run --tui` started it)"),
)


def help_text() -> Text:
    text = Text()
    text.append("tockd dashboard", style="bold")
    text.append(": every action goes through the daemon's control socket.\n\n")
    for key, what in _KEYS:
        text.append(f"  {key:<9}", style="bold")
        text.append(f"{what}\n")
    text.append("\n")
    text.append_text(legend())
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
        yield Static(help_text(), id="help-body")
