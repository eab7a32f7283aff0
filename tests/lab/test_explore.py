"""The race laboratory end to end: controlled runs of real boards with real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tockd.board import load_board
from tockd.lab import PCT, RandomWalk, explore, notify_delivered, replay, run_once
from tockd.lab.controlled import YIELDS_DECIDED
from tockd.lab.properties import lines_intact
from tockd.lab.shrink import SCHEDULE_VERSION
from tockd.lab.strategy import Strategy

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "configs/rot13_report.toml"
RACE = "dropped: null upcall"


def test_rot13_race_found_shrunk_saved_and_replayed(tmp_path: Path) -> None:
    schedule = tmp_path / "race.json"
    s = explore(REPORT, ["notify-delivered"], strategy="pct", runs=60, save=schedule)
    assert s.first is not None, "the race was not found"
    assert any(RACE in v for v in s.first["property_violations"])
    assert s.shrunk is not None
    assert s.shrunk["essential"] == 1  # run the client before the UART finished
    assert s.replay_digest_ok
    data = json.loads(schedule.read_text())
    assert data["board_digest"] == load_board(REPORT).digest
    again = replay(schedule)
    assert again["identical"]
    assert any(RACE in v for v in again["property_violations"])


def test_hardened_exploration_finds_no_violation_in_the_same_budget(tmp_path: Path) -> None:
    board = tmp_path / "hardened.toml"
    board.write_text(REPORT.read_text().replace('kernel_mode = "tock"', 'kernel_mode = "hardened"'))
    # were there a violation, its schedule is saved: here, not in the current directory
    save = tmp_path / "violation.json"
    s = explore(
        board, ["notify-delivered"], strategy="pct", runs=60, stop_at_first=False, save=save
    )
    assert s.runs == 60
    assert s.violations == 0, s.first


def test_same_schedule_replayed_20_times_gives_one_digest(tmp_path: Path) -> None:
    record = run_once(load_board(REPORT), RandomWalk(5), [notify_delivered])
    schedule = tmp_path / "s.json"
    schedule.write_text(
        json.dumps(
            {
                "version": SCHEDULE_VERSION,
                "timers": YIELDS_DECIDED,
                "board": str(REPORT),
                "board_digest": load_board(REPORT).digest,
                "properties": ["notify-delivered"],
                "adversity": False,
                "check": True,
                "seed": 5,
                "digest": record.digest,
                "verdict": record.verdict,
                "violations": [],
                "essential_decisions": None,
                "decisions": record.schedule,
            }
        )
    )
    digests = {replay(schedule)["digest"] for _ in range(20)}
    assert digests == {record.digest}


def test_restart_resets_breaks_found_with_adversity(tmp_path: Path) -> None:
    # rot13 as it is: nothing in the board restarts anyone. With adversity on, the
    # strategy may restart the client while the service still maps its buffer; the
    # invariant "app_break never drops below memory another process maps" catches it.
    board = tmp_path / "share.toml"
    board.write_text((ROOT / "configs/rot13.toml").read_text())
    found = None
    for seed in range(300):
        r = run_once(load_board(board), RandomWalk(seed), [], adversity=True, seed=seed)
        if any("dropped below memory" in v for v in r.invariant_violations):
            found = r
            break
    assert found is not None, "no restart-while-shared found in 300 runs"
    assert any("restart" in d[1][d[2]] for d in found.schedule if d[0] == "adversity")
    # the hardened kernel, the same seed and the twenty before it: the restart revokes
    # the window, no invariant fails
    hard = tmp_path / "hardened.toml"
    hard.write_text(board.read_text().replace('kernel_mode = "tock"', 'kernel_mode = "hardened"'))
    assert found.seed is not None
    for seed in range(max(0, found.seed - 20), found.seed + 1):
        h = run_once(load_board(hard), RandomWalk(seed), [], adversity=True, seed=seed)
        assert not h.invariant_violations, (seed, h.invariant_violations)


class _FaultTheFirst(Strategy):
    """Option 0 everywhere, but at an adversity decision: fault process 0."""

    name = "fault-the-first"

    def choose(self, kind: str, options: list[str], step: int) -> int:
        return options.index("fault 0") if kind == "adversity" else 0


def test_faulting_the_last_process_ends_the_run() -> None:
    """The adversity decision that faults hello (the board's only app) is taken while
    the scheduler chooses who runs; nothing is left to run, and the run ends there. It
    used to wait for work that could not come, until the run's timeout."""
    r = run_once(load_board(ROOT / "configs/hello.toml"), _FaultTheFirst(), [], adversity=True)
    assert r.verdict == "ok" and r.decisions == 1
    assert r.faults == ["adversity: fault injected by the strategy"]


def test_logger_interleaving_race_is_found() -> None:
    record = None
    for seed in range(40):
        r = run_once(load_board(ROOT / "configs/logger_race.toml"), PCT(seed), [lines_intact])
        if r.property_violations:
            record = r
            break
    assert record is not None, "no interleaving found in 40 PCT runs"
    assert "mixed line" in record.property_violations[0]


def test_explore_cli_progress_summary_and_replay(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    sched = tmp_path / "race.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tockd.cli",
            "explore",
            str(REPORT),
            "--property",
            "notify-delivered",
            "--strategy",
            "pct",
            "--runs",
            "40",
            "--out",
            str(out),
            "--save",
            str(sched),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert r.returncode == 3, r.stderr  # 3: a violation was found
    assert "runs/s" in r.stderr and "violations" in r.stderr
    assert "shrunk to" in r.stdout and "identical digest" in r.stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records
    assert {
        "seed",
        "strategy",
        "digest",
        "decisions",
        "faults",
        "invariant_violations",
        "property_violations",
        "verdict",
    } <= set(records[0])
    r = subprocess.run(
        [sys.executable, "-m", "tockd.cli", "replay", str(sched)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "identical" in r.stdout


def test_replay_after_the_board_changed_reports_divergence(tmp_path: Path) -> None:
    sched = tmp_path / "race.json"
    explore(REPORT, ["notify-delivered"], strategy="pct", runs=60, save=sched)
    changed = tmp_path / "changed.toml"
    changed.write_text(
        REPORT.read_text()
        .replace("rounds = 2", "rounds = 3")
        .replace("delay_print = true", "delay_print = false")
    )
    r = replay(sched, board=changed)
    assert r["board_changed"]
    assert r["divergence"].startswith("decision")
    assert not r["identical"]
