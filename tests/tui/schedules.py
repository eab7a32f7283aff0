"""Saved schedules and their plain replays, for the tests of a board that follows one
(`tockd run --schedule`, stepped through the control socket or the dashboard).

`saved_schedule` explores a board until it finds a violation and saves its schedule
file as `tockd explore --save` does; `reference_run` runs that schedule unpaused with
`tockd run --schedule --trace-jsonl` and checks that its events are `tockd replay`'s
run (the same digest), so a stepped run can be compared with it event for event.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tockd.lab.explore import explore
from tockd.lab.run import digest_events
from tockd.trace import format_event

ROOT = Path(__file__).resolve().parents[2]
#: fields that differ between two identical runs (tockd/lab/run.py digests without them)
VOLATILE = ("t", "seq", "os_pid", "generation")
#: events that are not the run's: the spawns before a client subscribes, and pausing
NOT_THE_RUN = ("spawn", "paused", "resumed_scheduler")


@dataclass(frozen=True)
class Case:
    """A board, the properties `tockd explore` checks on it, and explore's options."""

    name: str
    board: str
    properties: tuple[str, ...]
    adversity: bool = False


#: the rot13 race of Tock's report: one decision off the default path (the client runs
#: before the UART completes), and the notify lands on a null upcall
ROT13_REPORT = Case("rot13_report", "configs/rot13_report.toml", ("notify-delivered",))
#: the logger race: mixed console lines, and IPC windows left open (an invariant)
LOGGER_RACE = Case("logger_race", "configs/logger_race.toml", ("lines-intact",))
#: injected faults and restarts (adversity decisions)
ADVERSITY = Case("adversity", "configs/rot13.toml", ("no-faults",), adversity=True)


def saved_schedule(where: Path, case: Case) -> Path:
    """Explore `case` until a violation, shrink it and save its schedule under `where`."""
    target = where / f"{case.name}.json"
    s = explore(
        ROOT / case.board,
        list(case.properties),
        strategy="pct",
        runs=200,
        adversity=case.adversity,
        save=target,
        stop_at_first=True,
    )
    assert s.first is not None and s.replay_digest_ok, f"{case.name}: no violation saved"
    return target


def stable(events: list[Any]) -> list[dict[str, Any]]:
    """The events of a run, without what differs between identical runs or is not the
    run's own (spawns before a client subscribed, pausing and resuming)."""
    return [
        {k: v for k, v in e.items() if k not in VOLATILE}
        for e in events
        if e["kind"] not in NOT_THE_RUN
    ]


def trace_lines(events: list[Any]) -> list[str]:
    """Tock's syscall trace of these events (tockd/trace.py)."""
    return [line for e in events if (line := format_event(e)) is not None]


def reference_run(schedule: Path, where: Path, digest: str) -> list[Any]:
    """The events of `schedule` run unpaused (`tockd run --schedule`), checked to be
    `tockd replay`'s run: their digest is `digest`, the one plain replay gave."""
    data = json.loads(schedule.read_text())
    out = where / f"{schedule.stem}.jsonl"
    run = [sys.executable, "-m", "tockd.cli", "run", data["board"], "--schedule", str(schedule)]
    r = subprocess.run(
        [*run, "--quiet", "--trace-jsonl", str(out), "--control", str(where / "ref.sock")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    out.unlink()
    assert digest_events(events) == digest
    return events
