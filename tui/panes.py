"""The dashboard's panes (the process table is in `tockd.tui.proctable`, the trace in
`tockd.tui.tracepane`). Each takes a `Board` (live or from the past) and shows it; none of
them talks to the daemon. Layout and colours are in `tockd.tcss`."""

from __future__ import annotations

from typing import Any, ClassVar
from weakref import WeakKeyDictionary

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import DataTable, Static

from tockd.contract.control import IpcWindow
from tockd.tui import render
from tockd.tui.board import Board
from tockd.tui.legend import legend

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
        self._name_width = 0
        self._drivers: set[int] = set()
        self._cells: dict[int, tuple[Any, ...]] = {}
        self.border_title = "Grants (bytes)"
        self.can_focus = False

    def show(self, board: Board) -> None:
        self._drivers |= render.grant_drivers(board)
        columns = render.grant_columns(board, self._drivers)
        name_width = render.grant_name_width(board, columns, self.size.width)
        if columns != self._columns or name_width != self._name_width:
            self.clear(columns=True)
            self._cells.clear()
            # fixed widths, from the names and the pane's width: the table never
            # re-measures its cells, and looks the same every run
            self.add_column("Process", key="process", width=name_width)
            for driver, name in columns:
                label = render.literal(name)
                self.add_column(label, key=str(driver), width=render.grant_column_width(name))
            self.add_column("Total", key="total", width=5)
            self._columns, self._name_width = columns, name_width
        keys = ["process", *(str(d) for d, _ in columns), "total"]
        for p in board.procs:
            cells = render.grant_cells(p, columns, name_width)
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
    ("f", "fault the selected process (its fault policy applies); y/n first"),
    ("t", "terminate the selected process; y/n first"),
    ("b", "press and release button 0"),
    ("/", "filter the trace: p:NAME p:PID d:0x2 d:led (Enter; empty: all)"),
    ("up down", "select a process (the memory map follows)"),
    ("ctrl+f", "search the trace (text, or re:REGEX); Enter: the newest match"),
    ("F3 S-F3", "the match before (older) / after (newer)"),
    ("< > I", "sort the processes by the column before / after; I reverses"),
    ("tab", "the next pane (shift+tab: the one before)"),
    ("z", "zoom: the focused pane fills the screen (z or Esc: back)"),
    ("PgUp/Dn", "scroll the focused pane (the trace: also the mouse wheel)"),
    ("[ ]", "time travel: one event back / forward (to the newest: live)"),
    ("{ }", "one keyframe (dashboard refresh) back / forward"),
    ("home", "the oldest event kept (trace focused: its oldest line first)"),
    ("end", "back to live (trace focused: its newest line first)"),
    ("w", "a screenshot (SVG) in $TOCKD_SCREENSHOT_DIR or the current dir"),
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
        # scrolls when the terminal is too small for it (80x24)
        with VerticalScroll(id="help-scroll") as scroll:
            scroll.border_subtitle = "Esc closes · ↑ ↓ PgUp PgDn scroll"
            yield Static(help_text(), id="help-body")
