"""Replaying a race schedule: under `tockd run --schedule`, and stepped through in the
dashboard (`tockd replay FILE --tui`, in tmux)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil

from tests.tui.conftest import ROOT, wait_for
from tests.tui.test_tmux import Tmux, shows, tmux  # noqa: F401 - the fixture
from tockd.lab.explore import explore

REPORT = ROOT / "configs/rot13_report.toml"


def race_schedule(where: Path) -> Path:
    target = where / "race.json"
    s = explore(REPORT, ["notify-delivered"], strategy="pct", runs=60, save=target)
    assert s.replay_digest_ok
    return target


def test_run_follows_a_schedule_and_shows_the_race(sock_dir: Path) -> None:
    schedule = race_schedule(sock_dir)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tockd.cli",
            "run",
            str(REPORT),
            "--schedule",
            str(schedule),
            "--trace",
            "--control",
            str(sock_dir / "c.sock"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    # the service's null upcall for the client's notify, as in Tock's report
    assert "[0] schedule[0x10000:0] @0x0(0x1, 0x40," in r.stdout
    assert "Uryyb" not in r.stdout


def test_replay_tui_steps_through_the_schedule(tmux: Tmux, sock_dir: Path) -> None:  # noqa: F811
    schedule = race_schedule(sock_dir)
    tmux.start([sys.executable, "-m", "tockd.cli", "replay", str(schedule), "--tui"])
    wait_for(shows(tmux, "examples.rot13", "PAUSED"), "the paused replay")
    # PAUSED is drawn from the first keyframe; keys act once the dashboard says attached
    wait_for(shows(tmux, "attached"), "the dashboard to attach")
    launcher = psutil.Process(tmux.pane_pid())
    (daemon,) = wait_for(launcher.children, "the daemon")
    board_procs = [daemon, *daemon.children(recursive=True)]
    assert "--schedule" in daemon.cmdline()
    assert "memop(0," not in tmux.screen()  # nothing has run yet
    for n in range(1, 13):  # one decision per key
        tmux.keys("n")
        wait_for(shows(tmux, f"decisions {n} "), f"decision {n}")
    wait_for(shows(tmux, "memop(0,"), "the first steps in the trace")
    # the board started paused: exactly the twelve decisions asked for have happened
    wait_for(shows(tmux, "decisions 12 "), "twelve decisions")
    assert "PAUSED" in tmux.screen()
    tmux.keys("q")
    wait_for(lambda: not tmux.alive(), "the dashboard to quit")
    _, alive = psutil.wait_procs(board_procs, timeout=20)
    assert not alive, f"left running: {alive}"
