"""What the process table's marks and colours mean: the legend of the help overlay (`?`).

The marks and the colours are the ones the table draws (tui/render.py), taken from the
same functions, so the legend cannot say one thing while the table shows another.
"""

from __future__ import annotations

from rich.text import Text

from tockd.tui import render
from tockd.tui.board import ProcRow

#: (a row as the table would draw its marker and State cell, what it means)
_ROWS: tuple[tuple[ProcRow, str], ...] = (
    (
        ProcRow(0, "", 0, None, "Running", current=True),
        "on the CPU: the one process the kernel runs now",
    ),
    (
        ProcRow(0, "", 0, None, "Running", ready=True),
        "Tock's Running state off the CPU: runnable, waiting for the scheduler",
    ),
    (
        ProcRow(0, "", 0, None, "Yielded", ready=True),
        "in yield with an upcall queued: runnable, waiting for the scheduler",
    ),
    (ProcRow(0, "", 0, None, "Yielded"), "in yield, waiting for an upcall (YieldedFor: one)"),
    (ProcRow(0, "", 0, None, "Stopped(Yielded)"), "stopped (s); the state it had in brackets"),
    (ProcRow(0, "", 0, None, "Faulted"), "ended by a fault (f, or its own); r restarts it"),
    (ProcRow(0, "", 0, None, "Terminated"), "exited or terminated (t); r starts it again"),
    (ProcRow(0, "", 0, None, "Yielded", gone=True), "the daemon is gone, and the app with it"),
)

_STATE_WIDTH = 21


def legend() -> Text:
    """The marker column (`▶` on the CPU, `•` ready), each state in its colour, and how
    to read the Rate column."""
    text = Text()
    text.append("Process table\n", style="bold")
    for row, meaning in _ROWS:
        text.append("  ")
        text.append_text(render.marker(row))
        text.append(" ")
        state = render.state_cell(row)
        text.append_text(state)
        text.append(" " * max(1, _STATE_WIDTH - state.cell_len))
        text.append(f"{meaning}\n")
    text.append("  Rate /s: syscalls/s now, then a sparkline scaled to ")
    text.append("the process's own peak, and that peak\n")
    return text
