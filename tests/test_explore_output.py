"""What `tockd explore` leaves behind and prints: the schedule where the user asked or in
tockd's schedules directory (never the current directory), always with its path; and
its progress as a live bar on a terminal, as plain lines in a file or a pipe.

The commands run as a user runs them: subprocesses, stderr on a pipe or on a pseudo
terminal (the `pty` module).
"""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tockd.lab.explore import Summary, new_schedule_file, schedules_dir
from tockd.lab.progress import progress_lines

TOCKD = [sys.executable, "-m", "tockd.cli"]
#: a quick sweep with no violation: five runs of one app that prints and exits
QUICK = ["explore", "hello", "--property", "no-faults", "--runs", "5"]


def env_with_state(state: Path) -> dict[str, str]:
    return {**os.environ, "XDG_STATE_HOME": str(state)}


def explore(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TOCKD, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env_with_state(cwd.parent / "state"),
    )


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    """An empty working directory, with the schedules directory beside it."""
    where = tmp_path / "cwd"
    where.mkdir()
    return where


def saved_path(stdout: str) -> Path:
    line = next(line for line in stdout.splitlines() if line.startswith("schedule saved"))
    return Path(line.split(maxsplit=2)[2])


# ---- item 10: where the schedule goes ------------------------------------------------


def test_without_save_the_schedule_goes_to_the_schedules_dir_and_is_named(cwd: Path) -> None:
    r = explore(cwd, "explore", "rot13_report", "--strategy", "pct", "--runs", "40")
    assert r.returncode == 3, r.stderr
    saved = saved_path(r.stdout)
    assert saved.is_absolute()
    assert saved.parent == cwd.parent / "state" / "tockd" / "schedules"
    assert saved.name.startswith("rot13_report-") and saved.suffix == ".json"
    assert saved.is_file()
    assert list(cwd.iterdir()) == [], "nothing is left in the current directory"


def test_with_save_the_schedule_goes_there_and_is_named(cwd: Path) -> None:
    target = cwd.parent / "mine.json"
    r = explore(cwd, "explore", "rot13_report", "--runs", "40", "--save", str(target))
    assert r.returncode == 3, r.stderr
    assert saved_path(r.stdout) == target and target.is_file()
    assert not (cwd.parent / "state").exists()
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize(
    "bad",
    [
        ["--runs", "0"],
        ["--runs", "-1"],
        ["--jobs", "0"],
        ["--batch", "0"],
        ["--max-steps", "0"],
        ["--strategy", "exhaustive", "--preemption-bound", "-1"],
    ],
)
def test_a_count_below_its_least_is_refused_before_anything_runs(cwd: Path, bad: list[str]) -> None:
    """`--runs 0` once reported "no violation found" after running nothing; `--jobs 0`
    and `--batch 0` were taken as 1."""
    r = explore(cwd, "explore", "hello", *bad)
    assert r.returncode == 2
    assert f"argument {bad[-2]}: a count" in r.stderr and "or more" in r.stderr
    assert "exploring" not in r.stderr


def test_a_save_path_that_cannot_be_written_is_refused_before_the_sweep(cwd: Path) -> None:
    target = cwd / "no-such-folder" / "bug.json"
    r = explore(cwd, "explore", "rot13_report", "--runs", "40", "--save", str(target))
    assert r.returncode == 1
    assert f"--save {target}: cannot write a file there" in r.stderr
    assert "runs 1/" not in r.stderr, "refused before the first run"


def test_a_schedule_that_cannot_be_saved_still_reports_the_violation(cwd: Path) -> None:
    """The schedules directory cannot be made (under /proc, for root too): the sweep's
    finding is printed all the same, with why its file is missing."""
    r = subprocess.run(
        [*TOCKD, "explore", "rot13_report", "--strategy", "pct", "--runs", "40"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "XDG_STATE_HOME": "/proc/tockd-nowhere"},
    )
    assert r.returncode == 3, r.stderr
    assert "first violation" in r.stdout and "dropped" in r.stdout
    assert "schedule NOT saved" in r.stdout and "cannot write /proc/tockd-nowhere" in r.stdout
    assert "schedule saved" not in r.stdout and "replay" not in r.stdout
    assert list(cwd.iterdir()) == []


def test_schedules_dir_follows_xdg_state_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert schedules_dir() == tmp_path / "tockd" / "schedules"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/dir")  # invalid by the XDG rules
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert schedules_dir() == tmp_path / "home" / ".local" / "state" / "tockd" / "schedules"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert schedules_dir() == tmp_path / "home" / ".local" / "state" / "tockd" / "schedules"


def test_a_second_schedule_of_the_same_second_gets_its_own_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr("time.strftime", lambda fmt: "20250101-120000")
    first = new_schedule_file("demo")
    first.write_text("{}")
    second = new_schedule_file("demo")
    assert first.name == "demo-20250101-120000.json"
    assert second.name == "demo-20250101-120000-2.json"


# ---- item 12: progress in a pipe and on a terminal -----------------------------------


def test_progress_into_a_pipe_is_plain_lines(cwd: Path) -> None:
    r = explore(cwd, *QUICK)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr
    progress = [line for line in r.stderr.splitlines() if line.startswith("  runs ")]
    assert progress and progress[-1].startswith("  runs 5/5 "), r.stderr
    assert len(progress) <= 3, "a line every few seconds, not one per run"
    assert "no violation found" in r.stdout and "event streams" in r.stdout


def test_progress_on_a_terminal_is_a_live_bar(cwd: Path) -> None:
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [*TOCKD, *QUICK],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env_with_state(cwd.parent / "state"),
    ) as proc:
        os.close(follower)
        shown = read_until_closed(leader)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    for n in range(1, 6):  # redrawn in place after every run
        assert f"\r  runs {n}/5 " in shown, shown
    assert b"no violation found" in out


def read_until_closed(fd: int) -> str:
    """Everything written to a pty until its last writer closes it (then Linux reports
    EIO), and the leader end closed."""
    chunks = []
    try:
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


def test_plain_lines_come_every_few_seconds_and_at_the_end() -> None:
    now = [0.0]
    out = io.StringIO()
    show = progress_lines(10, out, every=5.0, clock=lambda: now[0])
    s = Summary()
    for t in (1.0, 4.9, 6.0, 6.5, 10.9, 11.0, 12.0):  # runs 1..7 at these times
        now[0] = t
        s.runs += 1
        show(s)
    shown = [line.split()[1] for line in out.getvalue().splitlines()]
    assert shown == ["1/10", "3/10", "6/10"]  # the first, then every 5 s
    for _ in range(3):  # the last run is always shown
        s.runs += 1
        show(s)
    assert out.getvalue().splitlines()[-1].split()[1] == "10/10"
    assert "\r" not in out.getvalue()


_PAIRS_SCRIPT = """
import contextlib, io, json, sys
from tockd.cli.lab import _print_pairs
from tockd.lab.explore import Summary
s = Summary()
for earlier, later, runs in json.loads(sys.argv[1]):
    s.pairs[(earlier, later)] = [runs, 0]
out = io.StringIO()
with contextlib.redirect_stdout(out):
    _print_pairs(s)
print(out.getvalue(), end="")
"""


def test_the_racing_pairs_shown_do_not_depend_on_the_hash_seed() -> None:
    """Pairs that weigh the same (here: every one, seen 4 times each way, none
    violating) came out in the order of a set of strings, which Python's hash seed
    changes from one process to the next: two identical sweeps showed different pairs."""
    pairs = []
    for i in range(12):
        pairs += [[f"a: step {i}", f"b: step {i}", 4], [f"b: step {i}", f"a: step {i}", 4]]
    shown = set()
    for seed in ("1", "2", "3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        r = subprocess.run(
            [sys.executable, "-c", _PAIRS_SCRIPT, json.dumps(pairs)],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert r.stdout.count(" before ") == 6
        shown.add(r.stdout)
    assert len(shown) == 1
