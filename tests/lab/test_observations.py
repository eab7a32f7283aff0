"""Honest coverage (issue 16, item 3): a sweep counts what the apps observed, not only
distinct event streams. Two runs that only order independent steps differently have
different event-stream digests but one observation; runs in which an app sees something
else are new observations. The records carry it, and `tockd explore` prints the count
and how it grew."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.harness import app, board_toml
from tests.lab.test_timers import Picks
from tockd.board import parse_board
from tockd.contract.events import EventKind
from tockd.lab.run import observation_of, run_once

ROOT = Path(__file__).resolve().parents[2]
#: two apps that never meet: each makes five null commands on its own LED driver
APART = board_toml(
    [app("apps_py.spin", name=n, args={"n": 5}) for n in ("left", "right")], mpu="cortex-m"
)


def first_run(index: int) -> Picks:
    """Run process `index` first, then always the first option."""
    return Picks(lambda kind, options, step: index if step == 1 else None)


def test_independent_orders_are_one_observation() -> None:
    a = run_once(parse_board(APART), first_run(0), [])
    b = run_once(parse_board(APART), first_run(1), [])
    assert a.schedule[0][2] == 0 and b.schedule[0][2] == 1  # two orders were taken
    assert a.digest != b.digest  # the event streams differ...
    assert a.observation == b.observation  # ...and the apps saw the same


def test_explore_counts_observations_and_records_them(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    r = subprocess.run(
        [
            sys.executable, "-m", "tockd.cli", "explore", "rot13_report",
            "--strategy", "exhaustive", "--runs", "120", "--keep-going",
            "--out", str(out), "--save", str(tmp_path / "s.json"),
        ],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 3, r.stderr  # 3: violations found (Tock's rot13 race)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    observed = {rec["observation"] for rec in records}
    streams = {rec["digest"] for rec in records}
    line = next(x for x in r.stdout.splitlines() if x.startswith("observations"))
    assert line.split()[1] == str(len(observed)), line
    firsts = [i + 1 for i, rec in enumerate(records) if rec["observation"] not in {
        x["observation"] for x in records[:i]
    }]  # fmt: skip
    assert line.endswith(f"{len(observed)} by run {firsts[-1]})"), line  # how it grew
    assert 1 < len(observed) < len(streams) == len(records)
    assert "observations" in r.stderr  # the progress lines show it growing


def _events(*items: tuple[int, str, object]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for index, kind, value in items:
        if kind == "sys":
            out.append({"kind": EventKind.SYSCALL, "index": index, "cls": 2, "args": value})
        else:
            out.append({"kind": EventKind.CONSOLE, "index": index, "text": value})
    return out


def test_when_text_leaves_the_uart_is_not_an_observation_of_its_app() -> None:
    """An app cannot tell whether its next syscall came before or after its text left
    the UART; the order in which the apps' texts left it, anyone at the console can."""
    before = _events((0, "sys", [1]), (0, "out", "hi\n"), (0, "sys", [2]), (1, "out", "yo\n"))
    after = _events((0, "sys", [1]), (0, "sys", [2]), (0, "out", "hi\n"), (1, "out", "yo\n"))
    swapped = _events((0, "sys", [1]), (0, "sys", [2]), (1, "out", "yo\n"), (0, "out", "hi\n"))
    said_else = _events((0, "sys", [1]), (0, "sys", [2]), (0, "out", "ho\n"), (1, "out", "yo\n"))
    assert observation_of(before) == observation_of(after)  # type: ignore[arg-type]
    assert observation_of(after) != observation_of(swapped)  # type: ignore[arg-type]
    assert observation_of(after) != observation_of(said_else)  # type: ignore[arg-type]
