"""In controlled runs, time passes and timers fire only at the schedule's decisions
(issue 16, item 1): never behind a running process's back. Schedules of version 1,
recorded when the clock moved per syscall and timers fired on their own, and of version
2, recorded when a yield took what was queued for it with no switch decision before,
still replay as recorded.

The board: `sleeper` (index 0) arms a 1 ms alarm and yields; `busy` (index 1) makes 300
null commands without yielding. Under the old rule the alarm fired after 100 of them
(10 µs of virtual time each); now only an "advance" decision fires it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness import app, board_toml
from tockd.board import parse_board
from tockd.contract.events import Event, EventKind
from tockd.kernel.abi import SyscallClass
from tockd.kernel.kernel import Kernel
from tockd.lab.controlled import TIMERS_DECIDED, TIMERS_IMPLICIT, YIELDS_DECIDED
from tockd.lab.run import run_once
from tockd.lab.shrink import SCHEDULE_VERSION, replay
from tockd.lab.strategy import Strategy

ROOT = Path(__file__).resolve().parents[2]
V1 = Path(__file__).parent / "v1_schedules"
V2 = Path(__file__).parent / "v2_schedules"
BOARD = board_toml(
    [
        app("apps_py.spin", name="sleeper", args={"n": 2, "every_ms": 1}),
        app("apps_py.spin", name="busy", args={"n": 300}),
    ],
    mpu="cortex-m",
)
ALARM = 0x0
YIELD = int(SyscallClass.YIELD)


class Picks(Strategy):
    """Option 0 everywhere, but `pick(kind, options, step)` where it says (not None)."""

    name = "picks"

    def __init__(self, pick: Callable[[str, list[str], int], int | None]) -> None:
        self.pick = pick

    def choose(self, kind: str, options: list[str], step: int) -> int:
        chosen = self.pick(kind, options, step)
        return 0 if chosen is None else chosen


def events_of(strategy: Strategy, timers: str) -> list[Event]:
    seen: list[Event] = []

    def keep(events: list[Event], kernel: Kernel) -> list[str]:
        seen.extend(events)
        return []

    record = run_once(parse_board(BOARD), strategy, [keep], timers=timers)
    assert record.verdict == "ok", record
    return seen


def alarm_fired(e: Event) -> bool:
    return e["kind"] == EventKind.SCHEDULE and e.get("driver") == ALARM and e.get("index") == 0


def busy_syscalls(events: list[Event]) -> list[int]:
    return [e["seq"] for e in events if e["kind"] == EventKind.SYSCALL and e.get("index") == 1]


def never_advance(kind: str, options: list[str], step: int) -> int | None:
    return None


def test_a_running_process_never_makes_a_timer_fire() -> None:
    events = events_of(Picks(never_advance), YIELDS_DECIDED)
    fired = [e["seq"] for e in events if alarm_fired(e)]
    busy = busy_syscalls(events)
    assert len(busy) >= 300 and fired, (len(busy), fired)
    assert fired[0] > busy[-1]  # only once busy had stopped: nothing else could happen


def test_under_the_old_rule_the_clock_fired_it_behind_the_schedule() -> None:
    """What the new rule removes: the same picks, the alarm fires during busy's run."""
    events = events_of(Picks(never_advance), TIMERS_IMPLICIT)
    fired = [e["seq"] for e in events if alarm_fired(e)]
    busy = busy_syscalls(events)
    assert fired and busy[0] < fired[0] < busy[-1]


def test_an_advance_decision_fires_the_timer_then_and_there() -> None:
    switches: list[int] = []

    def advance_at_the_50th_switch(kind: str, options: list[str], step: int) -> int | None:
        if kind != "switch":
            return None
        switches.append(step)
        if len(switches) == 50:
            assert options[-1].startswith("advance ")  # offered while the alarm is pending
            return len(options) - 1
        return None

    events = events_of(Picks(advance_at_the_50th_switch), YIELDS_DECIDED)
    decisions = [e for e in events if e["kind"] == EventKind.DECISION]
    advances = [e for e in decisions if e["options"][e["choice"]].startswith("advance ")]
    chosen = next(e for e in decisions if e["step"] == switches[49])
    assert advances[0] is chosen
    after = events[events.index(chosen) + 1]
    assert alarm_fired(after), after  # the very next thing the kernel does
    busy = busy_syscalls(events)
    assert busy[0] < after["seq"] < busy[-1]  # in the middle of busy's run


@pytest.mark.parametrize(("rule", "decided"), [(YIELDS_DECIDED, True), (TIMERS_DECIDED, False)])
def test_a_yield_that_finds_its_upcall_is_followed_by_a_switch(rule: str, decided: bool) -> None:
    """Time passes right after sleeper arms its alarm, so its yield finds the upcall
    queued. As Tock's do_process asks `continue_process` before it takes a task, the
    scheduler decides whether sleeper goes on (schedule version 3); under version 2's
    rule it took the upcall at once."""
    advanced: list[int] = []

    def advance_once(kind: str, options: list[str], step: int) -> int | None:
        if kind == "switch" and options[-1].startswith("advance ") and not advanced:
            advanced.append(step)
            return len(options) - 1
        return None

    events = events_of(Picks(advance_once), rule)
    yields = [
        i
        for i, e in enumerate(events)
        if e["kind"] == EventKind.SYSCALL and e.get("index") == 0 and e["cls"] == YIELD
    ]
    upcall = next(
        i
        for i, e in enumerate(events)
        if i > yields[0] and e["kind"] == EventKind.FUNCTION_CALL and e.get("index") == 0
    )
    assert advanced and events.index(next(e for e in events if alarm_fired(e))) < yields[0]
    between = [e for e in events[yields[0] : upcall] if e["kind"] == EventKind.DECISION]
    if decided:
        assert [(e["decision"], e["options"]) for e in between] == [
            ("switch", ["continue 0", "preempt 1"])
        ]
    else:
        assert between == []


def _replays_as_recorded(source: Path, tmp_path: Path) -> Path:
    """Replay a saved schedule file (a copy) on the shipped board it names: it gives
    its recorded digest and verdict. The board, for more replays."""
    data = json.loads(source.read_text())
    board = ROOT / "configs" / Path(data["board"]).name
    shutil.copy(source, tmp_path / source.name)
    again = replay(tmp_path / source.name, board=board)
    assert again["identical"], again["divergence"]
    assert again["digest"] == data["digest"] and again["verdict"] == data["verdict"]
    return board


@pytest.mark.parametrize("name", ["rot13_report", "logger_race", "adversity"])
def test_a_version_1_schedule_replays_as_recorded(name: str, tmp_path: Path) -> None:
    """Saved before timers were decisions (by `tockd explore ... --save`, tockd at
    b9219cb): replayed under the rule it was recorded with, it gives its digest."""
    data = json.loads((V1 / f"{name}.json").read_text())
    assert data["version"] == 1 and "timers" not in data and SCHEDULE_VERSION == 3
    _replays_as_recorded(V1 / f"{name}.json", tmp_path)


@pytest.mark.parametrize("name", ["rot13_report", "logger_race", "adversity"])
def test_a_version_2_schedule_replays_as_recorded(name: str, tmp_path: Path) -> None:
    """Saved before a yield that finds work was followed by a switch decision (by
    `tockd explore ... --save`, tockd at ead18a2): replayed under its own rule it gives
    its digest. Two of them take a switch the new rule adds, and diverge under it."""
    data = json.loads((V2 / f"{name}.json").read_text())
    assert data["version"] == 2 and data["timers"] == TIMERS_DECIDED
    board = _replays_as_recorded(V2 / f"{name}.json", tmp_path)
    if name != "rot13_report":  # its run never yields with work queued and others ready
        newer = tmp_path / "as_v3.json"
        newer.write_text(json.dumps({**data, "version": 3, "timers": YIELDS_DECIDED}))
        assert not replay(newer, board=board)["identical"]


def test_an_unknown_schedule_version_is_refused(tmp_path: Path) -> None:
    data = json.loads((V1 / "rot13_report.json").read_text())
    data["version"] = 4
    bad = tmp_path / "future.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="unsupported schedule version 4"):
        replay(bad, board=ROOT / "configs" / "rot13_report.toml")


def test_a_sweep_runs_under_the_timer_rule_it_is_given(tmp_path: Path) -> None:
    """`explore(timers=...)` reaches every run (bench/explore.py measures the version 1
    rule against today's this way); a rule it does not know is refused before any run."""
    from tockd.lab.explore import explore

    board = ROOT / "configs" / "rot13_report.toml"
    digests = {}
    for rule in (TIMERS_IMPLICIT, YIELDS_DECIDED):
        out = tmp_path / f"{rule}.jsonl"
        with out.open("w") as f:
            s = explore(board, ["notify-delivered"], strategy="pct", runs=4, out=f,
                        stop_at_first=False, shrink=False, timers=rule)  # fmt: skip
        assert s.runs == 4
        digests[rule] = [json.loads(line)["digest"] for line in out.read_text().splitlines()]
    # same seeds, same strategy: only the rule differs, and every run shows it
    assert all(a != b for a, b in zip(*digests.values(), strict=True)), digests
    with pytest.raises(ValueError, match="timers must be one of"):
        explore(board, ["notify-delivered"], runs=1, timers="sometimes")


def test_tockd_replay_names_the_file_once_and_the_bad_rule(tmp_path: Path) -> None:
    data = json.loads((V1 / "rot13_report.json").read_text())
    data["version"], data["timers"] = 3, "sometimes"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    r = subprocess.run(
        [sys.executable, "-m", "tockd.cli", "replay", str(bad), "--board", "rot13_report"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 1
    assert r.stderr == (
        f"tockd: cannot replay {bad}: unknown timer rule 'sometimes'"
        " (known: yields-decided, decided, implicit)\n"
    )


def always_advance(kind: str, options: list[str], step: int) -> int | None:
    return len(options) - 1 if options[-1].startswith("advance ") else None


def test_a_strategy_that_always_lets_time_pass_still_runs_the_board_to_its_end() -> None:
    """Every offer to let time pass taken: timers fire at once, processes still run (an
    advance is followed by the choice taken again, in a loop), and the board ends."""
    events = events_of(Picks(always_advance), YIELDS_DECIDED)
    decisions = [e for e in events if e["kind"] == EventKind.DECISION]
    offered = [e for e in decisions if e["options"][-1].startswith("advance ")]
    assert len(offered) >= 2 and all(e["choice"] == len(e["options"]) - 1 for e in offered)
    assert len(busy_syscalls(events)) >= 300  # busy ran to its end
    fired = [e for e in events if alarm_fired(e)]
    assert len(fired) == 2  # the sleeper's two alarms, each at its advance
