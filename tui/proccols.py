"""The process table's columns: their widths for the width at hand, how a cell is cut
to fit its column, and what each column sorts by.

The table lays itself out the way htop does. Wide enough, every column has its full
width and the rate has its sparkline; the name takes what is left (up to `NAME_MAX`).
Narrower (an 80-column terminal), every column shrinks to a narrow width and the rate
drops its sparkline, so that all the numbers still show; the name again takes what is
left, down to its narrow width. Narrower still, the table scrolls sideways.

A name too long for its column loses its FRONT (`…examples.rot13_client`): the end is
what tells two apps of one vendor apart. A number too long for its column is shown in
thousands or millions rather than cut.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text

from tockd.tui.board import ProcRow

#: a row as the sort keys see it: the process, its syscall rate, its (CPU%, RSS)
SortRow = tuple[ProcRow, float, tuple[float, int] | None]
SortKey = Callable[[SortRow], float | str]

NAME_MAX = 48
SORTED_UP, SORTED_DOWN = "▲", "▼"


def _stat(row: SortRow, k: int) -> float:
    stats = row[2]
    return -1.0 if stats is None else float(stats[k])


@dataclass(frozen=True)
class Column:
    """`width` in the wide layout, `narrow` in the narrow one (for the name: the least it
    gets). `cut`: how a cell too long is shortened: "end" (an ellipsis at the end),
    "front" (at the front), "number" (in k or M), "crop" (the head kept, no ellipsis:
    the rate cell is the rate, then its sparkline). `key`: what the column sorts by
    (None: it cannot be sorted by); `down`: sorted largest first when chosen."""

    label: str
    width: int
    narrow: int
    justify: str = "right"
    cut: str = "number"
    key: SortKey | None = None
    down: bool = True
    short: str = ""


COLUMNS: tuple[Column, ...] = (
    Column("", 1, 1, "left", "end"),
    Column("#", 2, 2, key=lambda r: r[0].index, down=False),
    # Tock's ProcessId: the trace's [pid]
    Column("PID", 4, 3, key=lambda r: r[0].process_id, down=False),
    Column("OS pid", 7, 7, key=lambda r: r[0].os_pid or 0, down=False),
    Column("Name", 27, 10, "left", "front", key=lambda r: r[0].name.lower(), down=False),
    Column("State", 19, 11, "left", "end", key=lambda r: r[0].state, down=False),
    Column("Syscalls", 9, 8, key=lambda r: r[0].syscalls),
    # the rate now, its sparkline and its peak: narrow, the rate alone
    Column("Rate /s     peak", 16, 4, "left", "crop", key=lambda r: r[1], short="Rate"),
    Column("Q", 2, 2, key=lambda r: r[0].queue),
    Column("Drop", 4, 4, key=lambda r: r[0].dropped),
    Column("Rst", 3, 3, key=lambda r: r[0].restarts),
    Column("CPU%", 4, 4, key=lambda r: _stat(r, 0)),
    Column("RSS", 6, 5, "right", "end", key=lambda r: _stat(r, 1)),
)
NAME = next(i for i, c in enumerate(COLUMNS) if c.label == "Name")
#: the columns the sort keys cycle through
SORTABLE = tuple(i for i, c in enumerate(COLUMNS) if c.key is not None)
#: the leading space
LEAD = 1


@dataclass(frozen=True)
class TableLayout:
    """Each column's width for one width of the pane; `narrow`: the narrow widths (and
    short labels)."""

    widths: tuple[int, ...]
    narrow: bool

    @property
    def total(self) -> int:
        """The width a row takes: more than the pane's when it scrolls sideways."""
        return LEAD + sum(w + 1 for w in self.widths)


def _fixed(narrow: bool) -> int:
    """The width every column but the name takes, with the spaces after each column."""
    others = sum((c.narrow if narrow else c.width) for i, c in enumerate(COLUMNS) if i != NAME)
    return LEAD + others + len(COLUMNS)


def layout_for(width: int) -> TableLayout:
    """The wide layout if every column fits at its full width, else the narrow one;
    the name takes the rest."""
    narrow = width < _fixed(False) + COLUMNS[NAME].width
    name = width - _fixed(narrow)
    name = max(COLUMNS[NAME].narrow, name) if narrow else min(NAME_MAX, name)
    widths = tuple(
        name if i == NAME else (c.narrow if narrow else c.width) for i, c in enumerate(COLUMNS)
    )
    return TableLayout(widths, narrow)


def _short_number(plain: str, width: int) -> str | None:
    """`plain` (digits) in k or M within `width`, or None if it cannot be."""
    if not plain.isdigit():
        return None
    n = int(plain)
    for unit, size in (("k", 1_000), ("M", 1_000_000), ("G", 1_000_000_000)):
        short = f"{n / size:.0f}{unit}"
        if n >= size and len(short) <= width:
            return short
    return None


def fit(cell: Text, width: int, cut: str) -> Text:
    """`cell` shortened to `width` cells as its column says."""
    if cell.cell_len <= width:
        return cell
    plain = cell.plain
    if cut == "front":
        return Text("…" + plain[len(plain) - width + 1 :], style=cell.style, end="")
    if cut == "number":
        short = _short_number(plain, width)
        if short is not None:
            return Text(short, style=cell.style, end="")
    c = cell.copy()
    c.truncate(width, overflow="crop" if cut == "crop" else "ellipsis")
    return c


def layout_row(cells: tuple[Text, ...], layout: TableLayout) -> Text:
    """Cells fitted to their column widths, one space between columns."""
    line = Text(" " * LEAD, no_wrap=True, end="")
    for column, width, cell in zip(COLUMNS, layout.widths, cells, strict=True):
        c = fit(cell, width, column.cut)
        pad = " " * (width - c.cell_len)
        if column.justify == "right":
            line.append(pad)
            line.append_text(c)
        else:
            line.append_text(c)
            line.append(pad)
        line.append(" ")
    return line


def _column_start(index: int, layout: TableLayout) -> int:
    return LEAD + sum(w + 1 for w in layout.widths[:index])


def header_row(layout: TableLayout, sort: int, descending: bool, sorted_style: Style) -> Text:
    """The column labels; the sort column's marked with `sorted_style` and an arrow,
    next to the label on the side of its padding (in the space between two columns if
    the label fills its column)."""
    column = COLUMNS[sort]
    labels = [c.short if layout.narrow and c.short else c.label for c in COLUMNS]
    plain = layout_row(tuple(Text(label) for label in labels), layout).plain
    label = labels[sort][: layout.widths[sort]]
    start = _column_start(sort, layout)
    if column.justify == "right":
        at = start + layout.widths[sort] - len(label) - 1
        marked = (at, at + 1 + len(label))
    else:
        at = start + len(label)
        marked = (start, at + 1)
    arrow = SORTED_DOWN if descending else SORTED_UP
    line = Text(plain[:at] + arrow + plain[at + 1 :], style=Style(bold=True), end="")
    line.stylize(sorted_style, *marked)
    return line


def column_at(x: int, layout: TableLayout) -> int | None:
    """The column under cell `x` of a row (None: a space between two)."""
    for i, width in enumerate(layout.widths):
        if 0 <= x - _column_start(i, layout) < width:
            return i
    return None


def sort_order(rows: list[SortRow], sort: int, descending: bool) -> list[int]:
    """Positions of `rows` in the order the column `sort` puts them (ties: by slot)."""
    key = COLUMNS[sort].key
    if key is None:
        return list(range(len(rows)))
    order = sorted(range(len(rows)), key=lambda i: rows[i][0].index)
    return sorted(order, key=lambda i: key(rows[i]), reverse=descending)
