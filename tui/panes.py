"""The dashboard's panes. Each takes a `Board` (live or from the past) and shows it;
none of them talks to the daemon. Layout and colours are in `tockd.tcss`."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from tui import render
from tui.board import Board
from tui.history import History
from tui.tracefilter import TraceFilter

#: (label, key, width): fixed widths, so an update never re-measures a column
PROCESS_COLUMNS = (
    ("", "mark", 1),
    ("PID", "pid", 4),
    ("OS pid", "os_pid", 7),
    ("Name", "name", render.NAME_WIDTH),
    ("State", "state", 19),
    ("Syscalls", "syscalls", 9),
    ("Rate /s", "rate", 13),
    ("Q", "queue", 2),
    ("Drop", "dropped", 4),
    ("Rst", "restarts", 3),
    ("CPU%", "cpu", 4),
    ("RSS", "rss", 6),
)


class ProcessTable(DataTable[Any]):
    """One row per process slot, like Tock's process console `list`, plus the OS side.

    Home/End are left to the app (time travel), so the table only moves its cursor."""

    inherit_bindings = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._cells: dict[int, tuple[Any, ...]] = {}
        self.border_title = "Processes"

    def on_mount(self) -> None:
        for label, key, width in PROCESS_COLUMNS:
            self.add_column(label, key=key, width=width)

    def show(self, board: Board, history: History, *, redact: bool) -> None:
        series = {p.index: history.rate_series(p.index, board.seq) for p in board.procs}
        top = max((max(s, default=0.0) for s in series.values()), default=0.0)
        for p in board.procs:
            stats = board.os_stats.get(p.os_pid) if p.os_pid is not None else None
            cells = render.process_cells(
                p,
                render.sparkline(series[p.index], top),
                series[p.index][-1] if series[p.index] else 0.0,
                stats,
                redact,
            )
            old = self._cells.get(p.index)
            if old is None:
                self.add_row(*cells, key=str(p.index))
            else:
                for (_, key, _), value, before in zip(PROCESS_COLUMNS, cells, old, strict=True):
                    if value != before:
                        self.update_cell(str(p.index), key, value)
            self._cells[p.index] = cells
        running = sum(1 for p in board.procs if p.current)
        self.border_subtitle = f"{len(board.procs)} processes, {running} on the CPU"


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
            self.add_column("Process", key="process")
            for driver, name in columns:
                self.add_column(f"{name}\n{driver:#x}", key=str(driver))
            self.add_column("Total", key="total")
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
        self.border_subtitle = f"{total} B in {sum(len(p.grants) for p in board.procs)} grants"


class SchedulerPane(Static):
    """Scheduler kind, paused or running, current process, timeslice left, run queue."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Scheduler"

    def show(self, board: Board) -> None:
        self.update(render.scheduler_text(board, {}))


class MemoryPane(VerticalScroll):
    """The selected process's memory map, drawn as bars."""

    can_focus = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Memory map"

    def compose(self) -> ComposeResult:
        yield Static(id="memory-body")

    def show(self, board: Board, index: int, shares: list[dict[str, Any]] | None) -> None:
        p = board.proc(index)
        self.border_title = f"Memory map: {p.name}" if p else "Memory map"
        width = self.content_size.width or 80
        body = self.query_one("#memory-body", Static)
        body.update(render.memory_text(board.mem.get(index), p, width, shares))


class IpcPane(Static):
    """IPC services, clients and shared buffers (the daemon's optional `ipc` query)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "IPC"

    def show(self, ipc: dict[str, Any] | None, supported: bool | None, live: bool) -> None:
        text = render.ipc_text(ipc, supported)
        if not live and supported:
            text.append("\n(live state; not kept in the history)", style="dim")
        self.update(text)


class TracePane(Vertical):
    """The syscall trace in Tock's format, newest at the bottom, with a filter (`/`)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Trace"
        self.filter = TraceFilter()

    def compose(self) -> ComposeResult:
        yield Static(id="trace-body")
        yield Input(
            placeholder="filter: p:NAME or p:PID, d:0x2 or d:led (empty: all), Enter",
            id="trace-filter",
        )

    def show(self, board: Board, history: History, upto: int, *, past: bool) -> None:
        """The trace lines up to event `upto` (the viewed one is highlighted)."""
        body = self.query_one("#trace-body", Static)
        rows = max(1, body.size.height or self.content_size.height or 10)
        matcher = self.filter.compile(board)
        lines = list(history.trace_before(upto, rows, matcher))
        lines.reverse()
        text = Text(no_wrap=True, overflow="ellipsis")
        if not lines:
            text.append("no trace lines yet" if not self.filter.active else "no matching lines")
            text.stylize("dim")
        for n, (ev, line) in enumerate(lines):
            style = "reverse" if past and ev["seq"] == upto else ""
            text.append(line, style=style)
            if n < len(lines) - 1:
                text.append("\n")
        body.update(text)
        title = "Trace"
        if self.filter.active:
            title += f" [filter: {self.filter.describe()}]"
        self.border_title = title
        self.border_subtitle = f"{history.received} events" + (
            f", {history.missed} missed" if history.missed else ""
        )


class PastBanner(Static):
    """The unmistakable marker shown while the panes show the board as it was."""


class StatusLine(Static):
    """The result of the last action, or why it failed."""

    def say(self, text: str, *, error: bool = False) -> None:
        self.set_class(error, "error")
        self.update(text)


_KEYS = (
    ("p", "pause / resume the scheduler"),
    ("n", "single-step one scheduling decision (a syscall or an upcall delivery)"),
    ("s", "stop the selected process (start it again if it is stopped)"),
    ("r", "restart the selected process"),
    ("f", "fault the selected process (its fault policy applies)"),
    ("t", "terminate the selected process"),
    ("b", "press and release button 0"),
    ("/", "filter the trace: p:NAME or p:PID, d:0x2 or d:led; Enter applies, empty clears"),
    ("up down", "select a process (the memory map follows)"),
    ("[ ]", "time travel: one event back / forward"),
    ("{ }", "one keyframe (dashboard refresh) back / forward"),
    ("home", "the oldest event kept"),
    ("end", "back to live"),
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
    text.append(
        "\nWhile viewing the past every pane shows the board as it was right after the "
        "chosen event; actions still act on the live board.",
        style="dim",
    )
    return text


class HelpScreen(ModalScreen[None]):
    """Keys and what they do."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(help_text(), id="help-body")
