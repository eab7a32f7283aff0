"""Boards by name: `tockd boards` lists the shipped boards, and every command that takes a
board takes a shipped board's name as well as a file, from any directory.

The commands run as a user runs them (subprocesses), from an empty directory outside
the checkout, so a board found there can only be a shipped one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
TOCKD = [sys.executable, "-m", "tockd.cli"]


def tockd(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`tockd ARGS` run in `cwd`, with schedules kept under it too (XDG_STATE_HOME)."""
    env = {**os.environ, "XDG_STATE_HOME": str(cwd / "state")}
    return subprocess.run(
        [*TOCKD, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def descriptions() -> dict[str, str]:
    """Each board file of configs/ by name, with its [board] description."""
    return {
        p.stem: tomllib.loads(p.read_text())["board"]["description"]
        for p in sorted(CONFIGS.glob("*.toml"))
    }


def test_boards_lists_every_shipped_board_with_its_description(tmp_path: Path) -> None:
    r = tockd(tmp_path, "boards")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    expected = descriptions()
    assert len(lines) == len(expected) > 0
    for line, (name, about) in zip(lines, expected.items(), strict=True):
        assert line.split()[0] == name
        assert line.endswith(about) and about, line
        assert len(line) <= 80, f"one line each, on an 80-column terminal: {line!r}"


def test_help_names_the_boards_command(tmp_path: Path) -> None:
    r = tockd(tmp_path, "--help")
    assert r.returncode == 0
    assert "boards" in r.stdout and "tockd boards" in r.stdout


def test_run_takes_a_shipped_board_by_name_from_any_directory(tmp_path: Path) -> None:
    for name in ("hello", "hello.toml"):
        r = tockd(tmp_path, "run", name)
        assert r.returncode == 0, r.stderr
        assert "[org.tockos.examples.hello] Hello World!" in r.stdout
        assert "board hello:" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_file_of_that_name_wins_over_the_shipped_board(tmp_path: Path) -> None:
    local = (CONFIGS / "hello.toml").read_text().replace('name = "hello"', 'name = "mine"')
    for name in ("hello", "hello.toml"):
        (tmp_path / name).write_text(local)
        r = tockd(tmp_path, "run", name)
        assert r.returncode == 0, r.stderr
        assert "board mine:" in r.stderr
        (tmp_path / name).unlink()


def test_a_directory_of_that_name_does_not_hide_the_shipped_board(tmp_path: Path) -> None:
    (tmp_path / "hello").mkdir()
    r = tockd(tmp_path, "run", "hello")
    assert r.returncode == 0, r.stderr
    assert "board hello:" in r.stderr


def test_an_unknown_name_says_which_boards_exist(tmp_path: Path) -> None:
    r = tockd(tmp_path, "run", "no_such_board")
    assert r.returncode == 1
    assert "no_such_board" in r.stderr and "tockd boards" in r.stderr
    for name in descriptions():
        assert name in r.stderr
    assert "Traceback" not in r.stderr


def test_a_missing_path_is_reported_as_a_path(tmp_path: Path) -> None:
    r = tockd(tmp_path, "run", "boards/no_such_board.toml")
    assert r.returncode == 1
    assert "cannot read board file boards/no_such_board.toml" in r.stderr


@pytest.mark.parametrize(
    "args", [["explore", "no_such_board"], ["replay", "x.json", "--board", "no_such_board"]]
)
def test_the_lab_names_an_unknown_board_like_run(tmp_path: Path, args: list[str]) -> None:
    r = tockd(tmp_path, *args)
    assert r.returncode == 1
    assert "no shipped board" in r.stderr and "tockd boards" in r.stderr


def test_explore_and_replay_take_shipped_boards_by_name(tmp_path: Path) -> None:
    r = tockd(tmp_path, "explore", "rot13_report", "--strategy", "pct", "--runs", "40")
    assert r.returncode == 3, r.stderr  # the race of Tock's report
    assert "exploring rot13_report:" in r.stderr
    saved = next(line for line in r.stdout.splitlines() if line.startswith("schedule saved"))
    schedule = saved.split(maxsplit=2)[2]
    r = tockd(tmp_path, "replay", schedule, "--board", "rot13_report")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "identical" in r.stdout
    assert "changed" not in r.stdout  # the very board the sweep ran


def test_a_reader_that_goes_away_gets_no_traceback(tmp_path: Path) -> None:
    """`tockd boards | head -1`: once the reader has gone, tockd stops quietly with the
    status a shell gives a process SIGPIPE ended, not a BrokenPipeError traceback."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before tockd writes a line
    try:
        r = subprocess.run(
            [sys.executable, "-m", "tockd.cli", "boards"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    finally:
        os.close(write)
    assert r.returncode == 128 + signal.SIGPIPE, r.stderr
    assert r.stderr == ""
