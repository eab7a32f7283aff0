"""What `tockd explore` leaves behind and prints: the schedule where the user asked or in
tockd's schedules directory (never the current directory), always with its path.

The commands run as a user runs them, as subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tockd.lab.explore import new_schedule_file, schedules_dir

TOCKD = [sys.executable, "-m", "tockd.cli"]


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
