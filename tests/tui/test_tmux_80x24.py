"""The dashboard at 80x24 in a real terminal: `tockd run configs/tui_demo.toml --tui` in
tmux (the harness is tests/tui/test_tmux.py), driven with keys and read back with
capture-pane: every column and row of the process table, the help whole, a filter with
markup in it, the search, scrolling, the zoom and the sort. `q` leaves no process."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.tui.conftest import wait_for
from tests.tui.test_tmux import Tmux, require_tmux, shows

#: the six apps' names, cut at the front to the name column's width at 80 columns
NAMES = ("…s.buttons", "…les.rot13", "…13_client", "spin", "…les.blink", "…es.random")


@pytest.fixture
def small_tmux() -> Iterator[Tmux]:
    require_tmux()
    t = Tmux(80, 24)
    yield t
    t.kill()


def events_shown(tmux: Tmux) -> int:
    found = re.search(r"(\d+) events", tmux.screen())
    return int(found.group(1)) if found else 0


def hides(tmux: Tmux, text: str) -> bool:
    return text not in tmux.screen()


def test_the_dashboard_at_80x24(small_tmux: Tmux, sock_dir: Path) -> None:
    tmux = small_tmux
    sock = sock_dir / "c.sock"
    demo = ["run", "configs/tui_demo.toml", "--tui", "--control", str(sock)]
    tmux.start([sys.executable, "-m", "tockd.cli", *demo])
    wait_for(shows(tmux, "resume: scheduler running", *NAMES), "the board's six rows")
    launcher = psutil.Process(tmux.pane_pid())
    (daemon,) = wait_for(launcher.children, "the daemon")
    board_procs = [daemon, *daemon.children(recursive=True)]
    header = next(line for line in tmux.screen().splitlines() if " PID " in line)
    for label in ("OS pid", "Name", "State", "Syscalls", "Rate", " Q ", "Drop", "Rst", "CPU%"):
        assert label in header, header
    assert header.rstrip(" │").endswith("RSS")
    # enough trace to scroll, then hold still
    wait_for(lambda: events_shown(tmux) > 300, "a few hundred events")
    tmux.keys("p")
    wait_for(shows(tmux, "PAUSED", "scheduler paused"), "the pause")

    # the help: every line whole, the last one too (it scrolls)
    tmux.keys("?")
    wait_for(shows(tmux, "time travel: one event back", "Esc closes"), "the help")
    assert "filter the trace: p:NAME p:PID d:0x2 d:led (Enter; empty: all)" in tmux.screen()
    tmux.keys("End")
    wait_for(shows(tmux, "quit (the board runs on, unless `tockd run --tui` started it)"), "end")
    tmux.keys("Escape")
    wait_for(lambda: hides(tmux, "Esc closes"), "the help to close")

    # a filter with markup in it is text (typed once its box has the focus: before, `[`
    # travels in time and `b` presses the button)
    tmux.keys("/")
    wait_for(shows(tmux, "filter: p:NAME or p:PID"), "the filter box")
    tmux.keys("a[/b]", "Enter")
    wait_for(shows(tmux, "Trace (filter: p:a[/b])", "no matching lines"), "the filter")
    tmux.keys("/")  # the box holds the filter: then it is in the title, status and box
    wait_for(lambda: tmux.screen().count("p:a[/b]") == 3, "the filter box")
    tmux.keys("C-a", "C-k", "Enter")
    wait_for(shows(tmux, "trace filter: off"), "no filter")

    # the search; the pane it leaves focused scrolls
    tmux.keys("C-f")
    wait_for(shows(tmux, "search: text, or re:REGEX"), "the search box")
    tmux.keys("yield", "Enter")
    wait_for(shows(tmux, "Trace (search: yield)", "search yield: event #"), "a match")
    tmux.keys("PageUp", "PageUp")
    wait_for(shows(tmux, "scrolled back (End: newest)"), "scrolled back")
    tmux.keys("End")
    wait_for(lambda: hides(tmux, "scrolled back"), "the newest lines")

    # zoom, and Tab to the next pane (in the compact layout it takes the trace's place)
    tmux.keys("z")
    wait_for(lambda: hides(tmux, "Processes"), "the trace zoomed")
    tmux.keys("z")
    wait_for(shows(tmux, "Processes", "Trace"), "back")
    tmux.keys("Tab")
    wait_for(shows(tmux, "Memory map: "), "the memory map")
    assert "Trace" not in tmux.screen()
    tmux.keys(">")
    wait_for(shows(tmux, "processes sorted by PID, smallest first", "▲PID"), "the sort")

    tmux.keys("q")
    wait_for(lambda: not tmux.alive(), "the dashboard to quit")
    _, alive = psutil.wait_procs(board_procs, timeout=20)
    assert not alive, f"left running: {alive}"
    assert not sock.exists()


def test_without_tmux_the_terminal_tests_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="tmux is not installed"):
        require_tmux()
