"""A dashboard that fails takes no board with it and does not pass for a success.

`tockd run BOARD --tui` whose dashboard raises (tests/tui/failing_dashboard.py stands in
for any bug) exits with a non-zero status, and the board it started (the daemon and
every app) is stopped and reaped. Once, the shell saw status 0."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import psutil

from tests.tui.conftest import SETTLING_BOARD, wait_for
from tests.tui.test_tmux import Tmux, shows, tmux  # noqa: F401 - the fixture


def test_a_failing_dashboard_exits_non_zero_and_stops_the_board(
    tmux: Tmux,  # noqa: F811
    sock_dir: Path,
) -> None:
    board = sock_dir / "fail.toml"
    board.write_text(SETTLING_BOARD)
    sock, status = sock_dir / "c.sock", sock_dir / "status"
    run = [sys.executable, "-m", "tests.tui.failing_dashboard", str(board), "--control", str(sock)]
    # the shell reports the command's exit status once the dashboard has gone
    tmux.start(["sh", "-c", f"{shlex.join(run)}; echo $? > {shlex.quote(str(status))}"])
    wait_for(shows(tmux, "examples.buttons", "resume: scheduler running"), "the board")
    shell = psutil.Process(tmux.pane_pid())
    launcher = wait_for(lambda: shell.children() and shell.children()[0], "the launcher")
    (daemon,) = wait_for(launcher.children, "the daemon")
    board_procs = [daemon, *daemon.children(recursive=True)]
    assert len(board_procs) > 1, board_procs  # the daemon and its apps
    tmux.keys("?")  # the dashboard fails
    code = wait_for(lambda: status.exists() and status.read_text().strip(), "the exit status")
    assert int(code) != 0
    _, alive = psutil.wait_procs([launcher, *board_procs], timeout=20)
    assert not alive, f"left running: {alive}"
    assert not sock.exists()
