"""The dashboard in a real terminal: tmux runs it, the test types keys (send-keys) and
reads the screen (capture-pane). Each test has its own tmux server, killed at the end;
the processes it ran are checked gone, since they are not pytest's children. Without
tmux these tests fail: they are never skipped."""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.tui.conftest import ROOT, SETTLING_BOARD, Daemon, wait_for

_names = itertools.count()


class Tmux:
    """One private tmux server with one session, 120x40 unless told."""

    def __init__(self, width: int = 120, height: int = 40) -> None:
        self.base = ["tmux", "-f", "/dev/null", "-L", f"tockd-test-{os.getpid()}-{next(_names)}"]
        self.size = (width, height)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=10)

    def start(self, argv: list[str], *, env: tuple[str, ...] = ()) -> None:
        """Run `argv` in a new session, without COLUMNS and LINES (the shell tmux runs
        it with sets them to 80x24 whatever the size) but for `env` ("NAME=value")."""
        w, h = (str(n) for n in self.size)
        command = ["env", "-u", "COLUMNS", "-u", "LINES", *env, *argv]
        r = self._run(
            *("new-session", "-d", "-s", "t", "-x", w, "-y", h, "-c", str(ROOT)),
            # tmux hands the command to the user's shell; `exec` makes the pane's process
            # the command itself also where that shell (dash) would fork it as a child
            "exec " + shlex.join(command),
        )
        assert r.returncode == 0, r.stderr

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-t", "t").stdout

    def keys(self, *keys: str) -> None:
        self._run("send-keys", "-t", "t", *keys)

    def alive(self) -> bool:
        return self._run("has-session", "-t", "t").returncode == 0

    def pane_pid(self) -> int:
        return int(self._run("display-message", "-p", "-t", "t", "#{pane_pid}").stdout)

    def kill(self) -> None:
        self._run("kill-server")


def require_tmux() -> None:
    """Fail, never skip, without tmux: these tests are the dashboard's proof in a real
    terminal (.ci/run installs tmux where it is missing)."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: the dashboard's terminal tests need it")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    require_tmux()
    t = Tmux()
    yield t
    t.kill()


def shows(tmux: Tmux, *texts: str) -> Callable[[], bool]:
    return lambda: all(text in tmux.screen() for text in texts)


def test_tockd_tui_in_a_terminal(tmux: Tmux, start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SETTLING_BOARD)

    def one_app() -> set[int] | None:
        found = daemon.app_pids()  # one look: the answer is that set, not another one
        return found if len(found) == 1 else None

    pids = wait_for(one_app, "the buttons app")
    tmux.start([sys.executable, "-m", "tockd.cli", "tui", "--control", str(daemon.sock)])
    (pid,) = pids
    wait_for(shows(tmux, "examples.buttons", str(pid), "Terminated", "Faulted"), "the table")
    screen = tmux.screen()
    assert "Scheduler" in screen and "Memory map" in screen and "Trace" in screen
    tmux.keys("p")
    wait_for(shows(tmux, "PAUSED", "scheduler paused"), "the pause")
    assert daemon.request("sched")["paused"] is True
    tmux.keys("?")
    wait_for(shows(tmux, "time travel: one event back"), "the help")
    tmux.keys("Escape")
    wait_for(lambda: "time travel: one event back" not in tmux.screen(), "the help to close")
    tmux.keys("[")
    wait_for(shows(tmux, "VIEWING THE PAST"), "the past")
    tmux.keys("End")
    wait_for(lambda: "VIEWING THE PAST" not in tmux.screen(), "live again")
    tmux.keys("q")
    wait_for(lambda: not tmux.alive(), "the dashboard to quit")
    assert daemon.proc.poll() is None  # `tockd tui` leaves the board running


def test_run_with_tui_starts_and_stops_the_board(tmux: Tmux, sock_dir: Path) -> None:
    board = sock_dir / "tuiboard.toml"
    board.write_text(SETTLING_BOARD)
    sock = sock_dir / "c.sock"
    tmux.start(
        [sys.executable, "-m", "tockd.cli", "run", str(board), "--tui", "--control", str(sock)]
    )
    wait_for(shows(tmux, "examples.buttons", "resume: scheduler running"), "the board")
    wait_for(shows(tmux, "Terminated", "Faulted"), "hello and the crasher to finish")
    launcher = psutil.Process(tmux.pane_pid())
    (daemon,) = wait_for(launcher.children, "the daemon")
    board_procs = [daemon, *daemon.children(recursive=True)]
    assert str(board) in " ".join(daemon.cmdline())
    # the whole history is there: the dashboard attached before the first decision
    tmux.keys("Home")
    wait_for(shows(tmux, "VIEWING THE PAST", "event 0 of"), "the oldest event")
    tmux.keys("End", "q")
    wait_for(lambda: not tmux.alive(), "the dashboard to quit")
    _, alive = psutil.wait_procs(board_procs, timeout=20)
    assert not alive, f"left running: {alive}"
    assert not sock.exists()


def test_the_terminal_size_wins_over_stale_columns_and_lines(
    tmux: Tmux, start_daemon: Callable[[str], Daemon]
) -> None:
    """A shell's exported COLUMNS and LINES go stale when the terminal is resized (and
    tmux's default shell sets them to 80x24 whatever the window); in a terminal the
    dashboard takes its size from the terminal, not from them."""
    daemon = start_daemon(SETTLING_BOARD)
    argv = [sys.executable, "-m", "tockd.cli", "tui", "--control", str(daemon.sock)]
    tmux.start(argv, env=("COLUMNS=80", "LINES=24"))
    wait_for(shows(tmux, "crasher", "Faulted"), "the dashboard")
    lines = tmux.screen().splitlines()
    assert len(lines) == 40 and lines[-1].strip(), "the dashboard stops at row 24"
    assert max(len(line.rstrip()) for line in lines) > 100, "the dashboard stops at column 80"
    tmux.keys("q")
    wait_for(lambda: not tmux.alive(), "the dashboard to quit")
