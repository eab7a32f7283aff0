"""Replaying a race schedule: under `tockd run --schedule`, and stepped through in the
dashboard (`tockd replay FILE --tui`, in tmux; the dashboard on the same daemon, with
a Pilot) or through the control socket.

A stepped replay is the recorded run: the same decisions in the same order, the same
events and trace lines, the same digest as plain `tockd replay` (issue 15, item 2: a
paused process used to lose the CPU at every step, so each step added a decision of
its own, and time jumped ahead while the board was paused).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.tui.conftest import ROOT, Daemon, NotYet, drawn, run_async, until, wait_for
from tests.tui.schedules import (
    ADVERSITY,
    LOGGER_RACE,
    ROT13_REPORT,
    Case,
    reference_run,
    saved_schedule,
    stable,
    trace_lines,
)
from tests.tui.test_tmux import Tmux, shows, tmux  # noqa: F401 - the fixture
from tockd.contract.control import ReplayView
from tockd.lab.explore import replay
from tockd.lab.shrink import default_choice
from tockd.tui.app import TockdApp
from tockd.tui.replay import ReplayPane

REPORT = ROOT / "configs/rot13_report.toml"
SIZE = (120, 40)
#: more steps than any of these schedules' runs takes
MAX_STEPS = 400


def race_schedule(where: Path) -> Path:
    return saved_schedule(where, ROT13_REPORT)


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
    # the test process's C environment may carry COLUMNS=80 LINES=24 (Python's os.environ
    # does not show them), which the dashboard would take over tmux's 120x40
    size = ["env", "-u", "COLUMNS", "-u", "LINES"]
    tmux.start([*size, sys.executable, "-m", "tockd.cli", "replay", str(schedule), "--tui"])
    wait_for(shows(tmux, "examples.rot13", "PAUSED"), "the paused replay")
    # PAUSED is drawn from the first keyframe; keys act once the dashboard says attached
    wait_for(shows(tmux, "attached"), "the dashboard to attach")
    launcher = psutil.Process(tmux.pane_pid())  # `env` execs the launcher in its place
    (daemon,) = wait_for(launcher.children, "the daemon")
    board_procs = [daemon, *daemon.children(recursive=True)]
    assert "--schedule" in daemon.cmdline()
    assert "memop(0," not in tmux.screen()  # nothing has run yet
    # the replay pane, or on a small screen its summary in the Scheduler pane's border
    total = len(json.loads(schedule.read_text())["decisions"])
    marks = (f"decision 0 of {total}", f"replay 0/{total}")
    wait_for(lambda: any(t in tmux.screen() for t in marks), "the replay pane at decision 0")
    for n in range(1, 13):  # one decision per key
        tmux.keys("n")
        wait_for(shows(tmux, f"decisions {n} "), f"decision {n}")
    wait_for(shows(tmux, "memop(0,"), "the first steps in the trace")
    # the board started paused: exactly the twelve decisions asked for have happened
    wait_for(shows(tmux, "decisions 12 "), "twelve decisions")
    assert "PAUSED" in tmux.screen()
    # on to the end of the run, as the issue did (30 keys): the recorded run, its digest
    for n in range(13, MAX_STEPS):
        if "= recorded" in tmux.screen():
            break
        tmux.keys("n")
        wait_for(step_or_end(tmux, n), f"decision {n}")
    assert "this run: violation of notify-delivered" in tmux.screen()
    tmux.keys("q")
    wait_for(lambda: not tmux.alive(), "the dashboard to quit")
    _, alive = psutil.wait_procs(board_procs, timeout=20)
    assert not alive, f"left running: {alive}"


def step_or_end(tmux: Tmux, n: int) -> Callable[[], bool]:  # noqa: F811
    """A condition: the dashboard shows decision `n`, or the replay's end (the last
    step asked for is never spent: the run is over)."""
    return lambda: any(t in tmux.screen() for t in (f"decisions {n} ", "= recorded"))


# ---- stepped replays against plain `tockd replay` ------------------------------------


def follow(start_daemon: Callable[..., Daemon], schedule: Path) -> Daemon:
    """`tockd run BOARD --schedule FILE --paused` as `tockd replay FILE --tui` starts it
    (tockd/cli/run.py: with --quiet --forever), on the board's own text."""
    board = Path(json.loads(schedule.read_text())["board"])
    return start_daemon(board.read_text(), "--paused", "--schedule", str(schedule))


def stepped(daemon: Daemon, before: int) -> Callable[[], bool]:
    """A condition: the step was spent (one more syscall or upcall), or the run is over
    (a step asked for at the very end is never spent: nothing is left to run)."""

    def done() -> bool:
        if daemon.request("sched")["decisions"] > before:
            return True
        return daemon.request("replay")["outcome"] is not None

    return done


def pane(tui: TockdApp) -> ReplayPane:
    found = tui._replay
    if found is None:
        raise NotYet("no replay pane")
    return found


def pane_lines(tui: TockdApp) -> list[str]:
    return str(pane(tui).render()).splitlines()


def shows_now(tui: TockdApp, daemon: Daemon) -> Callable[[], bool]:
    """A condition: the dashboard has every event the kernel emitted so far, the replay
    pane the daemon's answer of now, and both are drawn."""
    target = daemon.request("snapshot")["seq"]
    view = daemon.request("replay")

    def done() -> bool:
        board = tui.history.live()
        fresh = board is not None and board.seq >= target and pane(tui).view == view
        return fresh and drawn(tui)

    return done


def check_the_pane(tui: TockdApp, view: ReplayView, decisions: list[list[Any]]) -> None:
    """The pane says where the run is and what the next recorded decision is."""
    total = len(decisions)
    lines = pane_lines(tui)
    assert lines[1].startswith(f"schedule decision {view['taken']} of {total}")
    if view["taken"] >= total:
        return
    kind, options, choice = decisions[view["taken"]]
    assert lines[2].startswith(f"next #{view['taken'] + 1} of {total}, {kind}: ")
    assert f"▸{options[choice]}" in lines[2]
    off = choice != default_choice(kind, options)
    assert ("OFF the default path" in lines[2]) is off


async def step_to_the_end(tui: TockdApp, pilot: Any, daemon: Daemon, decisions: list[Any]) -> None:
    """Press `n` until the run is over, checking the pane after every step."""
    for steps in range(MAX_STEPS):
        await until(pilot, shows_now(tui, daemon), f"the dashboard after {steps} steps")
        view = pane(tui).view
        check_the_pane(tui, view, decisions)
        if view["outcome"] is not None:
            return
        before = daemon.request("sched")["decisions"]
        await pilot.press("n")
        await until(pilot, stepped(daemon, before), f"step {steps + 1}")
    raise AssertionError(f"the run was not over after {MAX_STEPS} steps")


@pytest.mark.parametrize("case", [ROT13_REPORT, LOGGER_RACE], ids=lambda c: c.name)
def test_stepping_a_replay_in_the_dashboard_is_the_recorded_run(
    case: Case, start_daemon: Callable[..., Daemon], sock_dir: Path
) -> None:
    schedule = saved_schedule(sock_dir, case)
    recorded = json.loads(schedule.read_text())["decisions"]
    plain = replay(schedule)  # what `tockd replay FILE` runs
    assert plain["identical"] and plain["schedule"] == recorded
    reference = reference_run(schedule, sock_dir, plain["digest"])
    daemon = follow(start_daemon, schedule)

    async def body() -> None:
        # refreshes and event batches often: a step is drawn a few ms after it happens
        tui = TockdApp(daemon.sock, redact=True, refresh_hz=50, interval_ms=5)
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: tui.connected and pane(tui), "the replay pane")
            assert pane(tui).border_title == f"Replay {schedule}"
            await step_to_the_end(tui, pilot, daemon, recorded)
            events = list(tui.history.events_between(-1, tui.history.last_seq or 0))
            # decision for decision, event for event, line for line: plain replay's run
            taken = [
                [e["decision"], e["options"], e["choice"]]
                for e in events
                if e["kind"] == "decision"
            ]
            assert taken == recorded
            assert tui.history.missed == 0 and stable(events) == stable(reference)
            assert trace_lines(events) == trace_lines(reference)
            outcome = pane(tui).view["outcome"]
            assert outcome is not None
            assert outcome["verdict"] == plain["verdict"] == "violation"
            expected = plain["property_violations"] + plain["invariant_violations"]
            assert outcome["violations"] == expected
            assert outcome["digest"] == plain["digest"]
            first = pane_lines(tui)[0]
            assert first.startswith(f"this run: violation of {case.properties[0]}")
            assert f"digest {plain['digest']} = recorded" in first and expected[0] in first
            # in the past, the pane shows the decisions taken by then
            await pilot.press("home")
            await until(pilot, lambda: "no decision taken yet" in pane_lines(tui)[2], "the past")
            assert pane_lines(tui)[1].startswith(f"schedule decision 0 of {len(recorded)}")
            assert "tockd replay gives: violation" in pane_lines(tui)[0]

    run_async(body)
    if case is ROT13_REPORT:  # the symptom: the notify meets the null upcall
        assert any("schedule[0x10000:0] @0x0(" in line for line in trace_lines(reference))


def step_through_the_socket(daemon: Daemon) -> ReplayView:
    """`tockd step`, one at a time, until the run is over; the replay's last view."""
    for _ in range(MAX_STEPS):
        view: ReplayView = daemon.request("replay")
        if view["outcome"] is not None:
            return view
        before = daemon.request("sched")["decisions"]
        daemon.request("step")
        wait_for(stepped(daemon, before), "the step")
    raise AssertionError(f"the run was not over after {MAX_STEPS} steps")


def test_a_schedule_with_adversity_stepped_through_the_socket_is_the_recorded_run(
    start_daemon: Callable[..., Daemon], sock_dir: Path
) -> None:
    schedule = saved_schedule(sock_dir, ADVERSITY)
    plain = replay(schedule)
    assert plain["identical"]
    view = step_through_the_socket(follow(start_daemon, schedule))
    assert view["taken"] == view["total"] == len(plain["schedule"])
    assert view["divergence"] == "" and view["next"] is None
    assert view["outcome"] is not None
    assert view["outcome"]["digest"] == plain["digest"] == view["recorded_digest"]
    assert view["outcome"]["violations"] == (
        plain["property_violations"] + plain["invariant_violations"]
    )


def test_a_stepped_replay_that_leaves_the_schedule_goes_on_as_tockd_replay_does(
    start_daemon: Callable[..., Daemon], sock_dir: Path
) -> None:
    data = json.loads(race_schedule(sock_dir).read_text())
    kind, options, choice = data["decisions"][2]
    data["decisions"][2] = [kind, [*options, "preempt 7"], choice]  # offered nowhere
    changed = sock_dir / "changed.json"
    changed.write_text(json.dumps(data))
    plain = replay(changed)
    assert plain["divergence"].startswith("decision 2: recorded switch")
    view = step_through_the_socket(follow(start_daemon, changed))
    assert view["divergence"] == plain["divergence"]
    assert view["outcome"] is not None and view["outcome"]["digest"] == plain["digest"]


def test_a_board_that_follows_no_schedule_has_no_replay_pane(
    start_daemon: Callable[..., Daemon],
) -> None:
    daemon = start_daemon(REPORT.read_text(), "--paused")
    with pytest.raises(SystemExit, match="follows no schedule"):
        daemon.request("replay")

    async def body() -> None:
        tui = TockdApp(daemon.sock, redact=True)
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: tui.connected and tui.history.live(), "attached")
            assert tui._replay is None and not tui.query("#replay")

    run_async(body)
