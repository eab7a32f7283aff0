"""The panes' text from a board, without a terminal (tui/render.py, tui/legend.py)."""

from __future__ import annotations

from rich.text import Text

from tockd.tui import render
from tockd.tui.board import Board, ProcRow, Sched
from tockd.tui.legend import legend


def board(*procs: ProcRow, run_queue: list[int] | None = None) -> Board:
    sched = Sched("round-robin", False, None, run_queue or [p.index for p in procs], 0, 10_000)
    return Board(0, 0, "b", {}, sched, list(procs), {})


def test_literal_text_is_never_markup() -> None:
    for text in ("spin[/x]", "foo[bar]", "[bold]x[/bold]", "a\\[b]"):
        assert render.literal(text).plain == text
        assert render.literal(text).spans == []


def test_plural() -> None:
    assert render.plural(1, "grant") == "1 grant"
    assert render.plural(0, "grant") == "0 grants"
    assert render.plural(3, "process", "processes") == "3 processes"


def test_running_off_the_cpu_is_ready_not_running() -> None:
    on = ProcRow(0, "a", 0, 1, "Running", current=True)
    off = ProcRow(1, "b", 1, 2, "Running", ready=True)
    assert (render.marker(on).plain, render.state_cell(on).plain) == ("▶", "Running")
    assert (render.marker(off).plain, render.state_cell(off).plain) == ("•", "Running (ready)")
    assert render.state_cell(on).style != render.state_cell(off).style


def test_each_sparkline_is_scaled_to_its_own_peak() -> None:
    busy = render.rate_cell([1000.0, 4000.0, 2000.0]).plain
    quiet = render.rate_cell([1.0, 4.0, 2.0]).plain
    assert busy[5:11] == quiet[5:11] == "▁▁▁▂█▄"  # the same shape at any scale
    assert busy.endswith("4.0k") and quiet.endswith("   4")
    assert render.rate_cell([0.0, 0.0]).plain == "   0 ▁▁▁▁▁▁    0"


def test_the_run_queue_leaves_out_ended_processes() -> None:
    rows = [
        ProcRow(0, "org.x.alive", 0, 1, "Yielded", ready=True),
        ProcRow(1, "org.x.done", 1, None, "Terminated"),
        ProcRow(2, "org.x.broken", 2, None, "Faulted"),
        ProcRow(3, "org.x.idle", 3, 4, "Yielded"),
    ]
    text = render.scheduler_text(board(*rows)).plain
    assert text.endswith("run queue: alive → idle")


def test_a_gone_board() -> None:
    gone = board(ProcRow(0, "a", 0, 123, "Running", current=True)).ended("the daemon is gone")
    assert "DAEMON GONE" in render.scheduler_text(gone).plain
    (p,) = gone.procs
    assert (p.os_pid, p.current, render.state_cell(p).plain) == (None, False, "gone (was Running)")


def test_the_legend_shows_the_tables_own_marks_and_colours() -> None:
    text = legend()
    for state, style in (
        ("Running (ready)", render.st("ready")),
        ("Faulted", render.state_style("Faulted")),
    ):
        start = text.plain.index(state)
        assert any(s.start == start and s.style == style for s in text.spans), state
    assert isinstance(text, Text) and "▶ Running " in text.plain
