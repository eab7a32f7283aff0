"""The process table: one row per process slot, like Tock's process console `list`,
plus the OS side (pid, CPU%, RSS), sorted by any column.

It is drawn with Textual's line API rather than a DataTable: every refresh changes the
syscall and rate cells of every busy process, and a DataTable renders each cell as its
own padded renderable, which made it the dashboard's largest cost. Here a row is one
Strip, built once per change and cached; only visible rows are ever drawn. The first
line is the column header, which stays put when the rows scroll and moves with them
when they scroll sideways. Column widths follow the pane's width (tui/proccols.py).

The cursor belongs to a process, not to a line: when the sort moves the process, the
cursor moves with it.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tockd.tui import proccols, render
from tockd.tui.board import Board
from tockd.tui.history import History
from tockd.tui.panes import set_titles
from tockd.tui.proccols import COLUMNS, SORTABLE, SortRow

#: columns one press of left or right scrolls a table wider than its pane
SIDEWAYS = 8


class ProcessRows(ScrollView, can_focus=True):
    """The header and the rows, with a cursor (up/down/page keys, or a click) selecting
    a process; a click on the header sorts by that column."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("left", "sideways(-1)", "Scroll left", show=False),
        Binding("right", "sideways(1)", "Scroll right", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"process-rows--cursor", "process-rows--sorted"}
    DEFAULT_CSS = """
    ProcessRows { overflow-x: hidden; scrollbar-size-vertical: 1; }
    ProcessRows > .process-rows--cursor { background: $accent 40%; }
    ProcessRows > .process-rows--sorted { text-style: bold reverse; }
    """

    class Highlighted(Message):
        """The cursor moved to the process at `index`."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class SortChosen(Message):
        """The header was clicked on the sortable column `column`."""

        def __init__(self, column: int) -> None:
            super().__init__()
            self.column = column

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cursor = 0
        #: the cells of each line, in the order shown, and the slot of each line's process
        self.cells: list[tuple[Text, ...]] = []
        self.order: list[int] = []
        self.sort = proccols.SORTABLE[0]
        self.descending = False
        self.table_layout = proccols.layout_for(80)
        self._strips: dict[int, Strip] = {}

    def set_rows(self, rows: list[tuple[Text, ...]], order: list[int]) -> None:
        """New cells for every line (`order`: the slot shown on each); only lines that
        changed are drawn again. The cursor stays on its process."""
        selected = self.order[self.cursor] if self.cursor < len(self.order) else None
        changed = len(rows) != len(self.cells) or order != self.order
        if changed:
            self._strips.clear()
        else:
            for i, cells in enumerate(rows):
                if self.cells[i] != cells:
                    self._strips.pop(i, None)
                    changed = True
        self.cells, self.order = rows, order
        self._relayout()
        if selected in order:
            self.cursor = order.index(selected)
        if self.cursor >= len(rows) > 0:
            self.move_cursor(len(rows) - 1)
        if changed:
            self.refresh()

    def set_sort(self, column: int, descending: bool) -> None:
        self.sort, self.descending = column, descending
        self._strips.pop(-1, None)
        self.refresh()

    def _relayout(self) -> None:
        """Column widths for the width the rows have (less the vertical scrollbar, when
        they do not all fit), and the virtual size they take."""
        width = self.size.width - (1 if len(self.cells) + 1 > self.size.height else 0)
        table_layout = proccols.layout_for(width)
        if table_layout != self.table_layout:
            self.table_layout = table_layout
            self._strips.clear()
            self.refresh()
        size = Size(table_layout.total, len(self.cells) + 1)
        if size != self.virtual_size:
            taller = size.height != self.virtual_size.height
            self.virtual_size = size
            if taller:
                self.refresh(layout=True)  # the pane is as tall as its rows

    def row_text(self, row: int) -> str:
        """The plain text of line `row` as shown (for tests and tools)."""
        return proccols.layout_row(self.cells[row], self.table_layout).plain

    def header_text(self) -> str:
        """The plain text of the header as shown (for tests and tools)."""
        return self._header().plain

    def _header(self) -> Text:
        style = self.get_component_rich_style("process-rows--sorted")
        return proccols.header_row(self.table_layout, self.sort, self.descending, style)

    def _strip(self, row: int) -> Strip:
        """Line `row` (-1: the header) as a strip, cached until it changes."""
        strip = self._strips.get(row)
        if strip is None:
            if row < 0:
                text = self._header()
            else:
                text = proccols.layout_row(self.cells[row], self.table_layout)
                if row == self.cursor:
                    text.stylize(self.get_component_rich_style("process-rows--cursor"))
            segments = list(text.render(self.app.console))
            strip = Strip(segments, text.cell_len).apply_style(self.rich_style)
            self._strips[row] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = -1 if y == 0 else y - 1 + scroll_y
        width = self.size.width
        if row >= len(self.cells):
            return Strip.blank(width, self.rich_style)
        return self._strip(row).crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def move_cursor(self, row: int) -> None:
        if not self.cells:
            return
        row = max(0, min(len(self.cells) - 1, row))
        if row != self.cursor:
            self._strips.pop(self.cursor, None)
            self._strips.pop(row, None)
            self.cursor = row
            self.refresh()
        height = self._visible_rows()
        top = round(self.scroll_offset.y)
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False)
        self.post_message(self.Highlighted(self.order[row]))

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta * self._visible_rows())

    def action_sideways(self, delta: int) -> None:
        # forced: there is no scrollbar for it (overflow-x: hidden)
        self.scroll_to(x=self.scroll_offset.x + delta * SIDEWAYS, animate=False, force=True)

    def on_click(self, event: events.Click) -> None:
        if event.y > 0:
            self.move_cursor(event.y - 1 + round(self.scroll_offset.y))
            return
        column = proccols.column_at(event.x + round(self.scroll_offset.x), self.table_layout)
        if column in SORTABLE:
            self.post_message(self.SortChosen(column))

    def _on_resize(self, event: events.Resize) -> None:
        self._relayout()


class ProcessTable(Vertical):
    """The rows in one bordered pane; it sorts them."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Processes"
        self._shown: tuple[Board, History, bool] | None = None

    def compose(self) -> ComposeResult:
        yield ProcessRows(id="process-rows")

    @property
    def rows(self) -> ProcessRows:
        return self.query_one(ProcessRows)

    def show(self, board: Board, history: History, *, redact: bool) -> None:
        self._shown = (board, history, redact)
        sort_rows: list[SortRow] = []
        cells = []
        for p in board.procs:
            stats = board.os_stats.get(p.os_pid) if p.os_pid is not None else None
            rates = history.rate_series(p.index, board.seq)
            sort_rows.append((p, rates[-1] if rates else 0.0, stats))
            cells.append(render.process_cells(p, rates, stats, redact))
        rows = self.rows
        order = proccols.sort_order(sort_rows, rows.sort, rows.descending)
        rows.set_rows([cells[i] for i in order], [board.procs[i].index for i in order])
        running = sum(1 for p in board.procs if p.current)
        count = render.plural(len(board.procs), "process", "processes")
        set_titles(self, "Processes", f"{count}, {running} on the CPU")

    # ---- sorting --------------------------------------------------------------------

    def cycle_sort(self, delta: int) -> str:
        """Sort by the next (delta 1) or previous (-1) column, in its natural direction
        (numbers largest first); returns what the table is sorted by."""
        here = SORTABLE.index(self.rows.sort)
        column = SORTABLE[(here + delta) % len(SORTABLE)]
        return self._sort(column, COLUMNS[column].down)

    def reverse_sort(self) -> str:
        return self._sort(self.rows.sort, not self.rows.descending)

    def sort_by(self, column: int) -> str:
        """Sort by `column`; if it is the sort column already, reverse it."""
        if column == self.rows.sort:
            return self.reverse_sort()
        return self._sort(column, COLUMNS[column].down)

    def sorted_by(self) -> str:
        rows = self.rows
        way = "largest first" if rows.descending else "smallest first"
        return f"processes sorted by {COLUMNS[rows.sort].label}, {way}"

    def _sort(self, column: int, descending: bool) -> str:
        self.rows.set_sort(column, descending)
        if self._shown is not None:
            board, history, redact = self._shown
            self.show(board, history, redact=redact)
        return self.sorted_by()
