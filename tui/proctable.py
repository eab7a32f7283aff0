"""The process table: one row per process slot, like Tock's process console `list`,
plus the OS side (pid, CPU%, RSS).

It is drawn with Textual's line API rather than a DataTable: every refresh changes the
syscall and rate cells of every busy process, and a DataTable renders each cell as its
own padded renderable, which made it the dashboard's largest cost. Here a row is one
Strip, built once per change and cached; only visible rows are ever drawn.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from tui import render
from tui.board import Board
from tui.history import History
from tui.panes import set_titles

#: (label, width, justify) of each column: the slot index, Tock's ProcessId (the
#: trace's [pid]) and the OS pid of the app process
COLUMNS: tuple[tuple[str, int, str], ...] = (
    ("", 1, "left"),
    ("#", 2, "right"),
    ("PID", 4, "right"),
    ("OS pid", 7, "right"),
    ("Name", render.NAME_WIDTH, "left"),
    ("State", 19, "left"),
    ("Syscalls", 9, "right"),
    ("Rate /s     peak", 16, "left"),
    ("Q", 2, "right"),
    ("Drop", 4, "right"),
    ("Rst", 3, "right"),
    ("CPU%", 4, "right"),
    ("RSS", 6, "right"),
)
WIDTH = 1 + sum(w + 1 for _, w, _ in COLUMNS)


def layout_row(cells: tuple[Text, ...]) -> Text:
    """Cells padded or cut to their column widths, one space between columns."""
    line = Text(" ", no_wrap=True, end="")
    for (_, width, justify), cell in zip(COLUMNS, cells, strict=True):
        c = cell.copy()
        c.truncate(width, overflow="ellipsis")
        pad = " " * (width - c.cell_len)
        if justify == "right":
            line.append(pad)
            line.append_text(c)
        else:
            line.append_text(c)
            line.append(pad)
        line.append(" ")
    return line


class ProcessRows(ScrollView, can_focus=True):
    """The rows, with a cursor (up/down/page keys, or a click) selecting a process."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"process-rows--cursor"}
    DEFAULT_CSS = """
    ProcessRows { overflow-x: hidden; }
    ProcessRows > .process-rows--cursor { background: $accent 40%; }
    """

    class Highlighted(Message):
        """The cursor moved to the process at `index`."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cursor = 0
        self.cells: list[tuple[Text, ...]] = []
        self._strips: dict[int, Strip] = {}

    def set_rows(self, rows: list[tuple[Text, ...]]) -> None:
        """New cells for every row; only rows that changed are drawn again."""
        changed = len(rows) != len(self.cells)
        for i, cells in enumerate(rows):
            if i >= len(self.cells) or self.cells[i] != cells:
                self._strips.pop(i, None)
                changed = True
        self.cells = rows
        if len(rows) != self.virtual_size.height:
            self.virtual_size = Size(WIDTH, len(rows))
        if self.cursor >= len(rows) > 0:
            self.move_cursor(len(rows) - 1)
        if changed:
            self.refresh()

    def row_text(self, index: int) -> str:
        """The plain text of row `index` as shown (for tests and tools)."""
        return layout_row(self.cells[index]).plain

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = y + scroll_y
        width = self.size.width
        base = self.rich_style
        if row >= len(self.cells):
            return Strip.blank(width, base)
        strip = self._strips.get(row)
        if strip is None:
            text = layout_row(self.cells[row])
            if row == self.cursor:
                text.stylize(self.get_component_rich_style("process-rows--cursor"))
            segments = list(text.render(self.app.console))
            strip = Strip(segments, text.cell_len).apply_style(base)
            self._strips[row] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def move_cursor(self, row: int) -> None:
        if not self.cells:
            return
        row = max(0, min(len(self.cells) - 1, row))
        if row != self.cursor:
            self._strips.pop(self.cursor, None)
            self._strips.pop(row, None)
            self.cursor = row
            self.refresh()
        height = max(1, self.scrollable_content_region.height)
        top = round(self.scroll_offset.y)
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False)
        self.post_message(self.Highlighted(row))

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta * max(1, self.scrollable_content_region.height))

    def on_click(self, event: events.Click) -> None:
        self.move_cursor(event.y + round(self.scroll_offset.y))

    def _on_resize(self, event: events.Resize) -> None:
        self._strips.clear()


class ProcessTable(Vertical):
    """Header plus rows, in one bordered pane."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Processes"

    def compose(self) -> ComposeResult:
        header = layout_row(tuple(Text(label) for label, _, _ in COLUMNS))
        header.stylize(Style(bold=True))
        yield Static(header, id="process-header")
        yield ProcessRows(id="process-rows")

    @property
    def rows(self) -> ProcessRows:
        return self.query_one(ProcessRows)

    def show(self, board: Board, history: History, *, redact: bool) -> None:
        rows = []
        for p in board.procs:
            stats = board.os_stats.get(p.os_pid) if p.os_pid is not None else None
            rates = history.rate_series(p.index, board.seq)
            rows.append(render.process_cells(p, rates, stats, redact))
        self.rows.set_rows(rows)
        running = sum(1 for p in board.procs if p.current)
        count = render.plural(len(board.procs), "process", "processes")
        set_titles(self, "Processes", f"{count}, {running} on the CPU")
