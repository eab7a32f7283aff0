"""Apps that never end, under the controlled scheduler: a run is cut by its budget and
the daemon stays in reach. An app that makes syscalls without end, each answered at
once, used to keep the kernel loop from ever letting trio in under virtual time: no
timeout fired, no signal or control request was served, and `tockd explore` never
returned (nor did its memory stop growing)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
import trio

from tests.harness import app, board_toml, run_board
from tockd.board import parse_board
from tockd.cli import main
from tockd.daemon import Daemon
from tockd.lab import run as lab_run
from tockd.lab import run_once
from tockd.lab.controlled import ControlledScheduler
from tockd.lab.dpor import Guided
from tockd.lab.explore import explore
from tockd.lab.properties import no_faults, prints
from tockd.lab.steps import Step
from tockd.lab.strategy import Strategy

#: an app that commands the LED driver forever, each syscall answered at once
ENDLESS = app("apps_py.spin", "endless", args={"n": 0})
#: an app that sleeps on the alarm forever: only time passing wakes it
SLEEPER = app("tests.apps.forever", "sleeper")
SLEEPER_TOML = 'module = "tests.apps.forever"\n'
REPORT = Path(__file__).resolve().parents[2] / "configs/rot13_report.toml"


def _tockd(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tockd.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class _Hung(Exception):
    pass


@pytest.fixture
def alarm_after() -> Iterator[None]:
    """Fail (rather than hang the suite) if the test is still running after 60 s: a
    Python signal handler runs even inside a loop that never awaits."""

    def hung(signum: int, frame: FrameType | None) -> None:
        raise _Hung("still running after 60 s: the kernel loop never let trio in")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("strategy", ["exhaustive", "pct"])
def test_explore_cuts_runs_that_never_end_and_says_why(tmp_path: Path, strategy: str) -> None:
    board = tmp_path / "endless.toml"
    board.write_text(board_toml([ENDLESS, app("apps_py.hello")], name="endless"))
    started = time.monotonic()
    r = _tockd("explore", str(board), "--strategy", strategy, "--runs", "3", "--max-steps", "3000")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - started < 60
    lines = r.stdout.splitlines()
    runs = int(next(line for line in lines if line.startswith("runs "))[5:])
    assert runs >= 2  # exhaustive search may finish its tree before the third
    assert f"timeouts              {runs}" in lines  # every run cut, none lost
    assert (
        f"cut short             {runs} run(s): the board had not ended after 3,000 steps" in lines
    )


def test_time_passing_without_end_is_cut_too(tmp_path: Path) -> None:
    """A sleeper makes few syscalls; time passing is a step of its own, so the budget
    counts it."""
    board = tmp_path / "sleeper.toml"
    board.write_text(board_toml([SLEEPER], name="sleeper"))
    r = _tockd("explore", str(board), "--runs", "2", "--max-steps", "500")
    assert r.returncode == 0, r.stderr
    assert "cut short             2 run(s): the board had not ended after 500 steps" in r.stdout


def test_the_wall_clock_budget_holds_under_virtual_time(alarm_after: None) -> None:
    """With no step budget to speak of, the run's timeout still ends it: the kernel
    loop lets trio in while the endless app keeps the CPU."""
    cfg = parse_board(board_toml([ENDLESS], name="endless"))
    started = time.monotonic()
    r = run_once(cfg, Guided([], {}), [], timeout=0.5, max_steps=10**9)
    assert time.monotonic() - started < 10
    assert r.verdict == "timeout"
    assert r.to_json()["cut"].startswith("the board had not ended after 0.5 s (endless on the CPU")
    assert len(r.steps) > 100  # it did run: the budget, not a failure, ended it


def test_a_run_cut_at_its_wall_clock_names_the_process_on_the_cpu() -> None:
    """An app that computes without a syscall holds the CPU until the wall-clock budget
    (no timeslice under virtual time); the reason says who and for how long."""
    cfg = parse_board(board_toml([app("tests.apps.compute"), app("apps_py.hello")]))
    r = run_once(cfg, Guided([], {}), [], timeout=1.0)  # compute runs first
    assert r.verdict == "timeout"
    cut = r.to_json()["cut"]
    assert cut.startswith("the board had not ended after 1 s (compute on the CPU, ")
    assert float(cut.split(", ")[1].split(" s ")[0]) >= 0.5


@pytest.mark.parametrize("name", ["compute", "blocks"])
def test_an_app_that_holds_the_cpu_without_a_syscall_loses_it_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """No timeslice ends its turn under virtual time: once it has computed STEP_CPU_S of
    CPU time in one step (compute), or waited STEP_BLOCKED_S in the host OS using none
    (blocks: it waits on an event nobody sets), its slice ends there and hello runs to
    its end (the run used to be cut there, hello never ran). It gets the CPU again only
    when nothing else can happen; holding it on alone then, it cuts the run, well
    before its 20 s budget."""
    monkeypatch.setattr(lab_run, "STEP_CPU_S", 0.5)  # the run is in this process
    monkeypatch.setattr(lab_run, "STEP_BLOCKED_S", 0.5)
    cfg = parse_board(board_toml([app(f"tests.apps.{name}"), app("apps_py.hello")]))
    r = run_once(cfg, Guided([], {}), [])  # it runs first
    assert r.console == {"hello": "Hello World!\n"}
    labels = [s.label for s in r.steps]
    ended = f"{name}: runs without a syscall (its slice ended)"
    assert labels.count(ended) == 2
    assert labels.index(ended) < labels.index("hello: exit 0")
    assert r.verdict == "timeout"
    assert (
        r.cut == f"the board had not ended: only {name} could run, and it runs on without a syscall"
    )
    assert r.seconds < 5


def test_a_paused_board_keeps_the_app_it_holds_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paused under virtual time (the dashboard's pause, following a schedule), the app
    on the CPU keeps it, waiting for the reply the kernel holds back: it uses no CPU,
    and that is the kernel's doing, so its slice does not end, and the run goes on
    as if never paused."""
    monkeypatch.setattr(lab_run, "STEP_CPU_S", 0.2)
    monkeypatch.setattr(lab_run, "STEP_BLOCKED_S", 0.2)
    cfg = parse_board(
        board_toml([app("apps_py.spin", "spin", args={"n": 3000}), app("apps_py.hello")])
    )
    cfg.scheduler = "controlled"
    daemon = Daemon(
        cfg, quiet=True, scheduler=lambda k: ControlledScheduler(k, Guided([], {}), keep_steps=True)
    )
    sched = daemon.scheduler
    assert isinstance(sched, ControlledScheduler)
    held: list[str] = []

    async def pause_a_while() -> None:
        while daemon.decisions < 10:
            await trio.lowlevel.checkpoint()
        daemon.paused = True
        await trio.sleep(1.0)  # five times STEP_BLOCKED_S
        held.append(daemon.current.name if daemon.current is not None else "")
        daemon.paused = False
        daemon.wake()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lab_run.StepWatch(daemon, sched).run)
            nursery.start_soon(pause_a_while)
            await daemon.run()
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert held == ["spin"]
    assert not sched.cut
    assert not [s for s in sched.steps if "slice ended" in s.label]


class _RestartWhenBehind(Strategy):
    """Option 0, but the first adversity offered once compute's slice has ended
    restarts it."""

    name = "restart-when-behind"

    def __init__(self) -> None:
        self.behind = False
        self.restarted = False

    def on_step(self, step: Step) -> None:
        self.behind = (
            self.behind or step.label == "compute: runs without a syscall (its slice ended)"
        )

    def choose(self, kind: str, options: list[str], step: int) -> int:
        if kind == "adversity" and self.behind and not self.restarted:
            self.restarted = True
            return options.index("restart 0")
        return 0


def test_a_restart_gives_an_app_whose_slice_ended_its_place_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its next life has computed nothing yet: it is offered beside the others again,
    not only when nothing else can happen."""
    monkeypatch.setattr(lab_run, "STEP_CPU_S", 0.5)
    cfg = parse_board(board_toml([app("tests.apps.compute"), app("apps_py.hello")]))
    strategy = _RestartWhenBehind()
    r = run_once(cfg, strategy, [], adversity=True)
    assert strategy.restarted
    decisions = [(str(k), list(o), int(c)) for k, o, c in r.schedule]
    at = next(i for i, (kind, options, choice) in enumerate(decisions)
              if kind == "adversity" and options[choice] == "restart 0")  # fmt: skip
    after = next(options for kind, options, _ in decisions[at + 1 :] if kind == "run")
    assert after == ["run 0", "run 1"]
    assert r.console["hello"] == "Hello World!\n"


@pytest.mark.parametrize("name", ["compute", "blocks"])
def test_a_race_beside_an_app_that_never_makes_a_syscall_is_found_and_replays(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    alarm_after: None,
    name: str,
) -> None:
    """rot13_report's race with an app that never makes a syscall loaded first (it
    computes, or waits in the host OS, for ever): its slice ends in the same step of
    every run, so the others race as without it; the race is found, shrunk, and its
    schedule replays to the same digest."""
    monkeypatch.setattr(lab_run, "STEP_CPU_S", 0.5)  # all of it runs in this process
    monkeypatch.setattr(lab_run, "STEP_BLOCKED_S", 0.5)
    text = REPORT.read_text()
    head, apps = text.split("[[apps]]", 1)
    board = tmp_path / "rot13_hog.toml"
    board.write_text(
        f'{head}[[apps]]\nname = "{name}"\nmodule = "tests.apps.{name}"\n\n[[apps]]{apps}'
    )
    saved = tmp_path / "race.json"
    s = explore(board, ["notify-delivered"], strategy="exhaustive", runs=1, save=saved)
    assert s.first is not None and "dropped: null upcall" in s.first["property_violations"][0]
    assert s.first["cut"].startswith(f"the board had not ended: only {name} could run")
    assert s.replay_digest_ok  # explore replayed the saved file: the same digest
    # `tockd run --schedule` (the dashboard's replay) ends the slice where the sweep
    # did: the service gets the null upcall, and the run ends
    capsys.readouterr()
    control = str(tmp_path / "c.sock")
    assert main(["run", str(board), "--schedule", str(saved), "--trace", "--control", control]) == 0
    assert "[1] schedule[0x10000:1] @0x0(0x2, 0x40," in capsys.readouterr().out


def test_tockd_run_of_a_controlled_board_lets_the_others_go_on(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    alarm_after: None,
) -> None:
    """A board that names the controlled scheduler, run with `tockd run`: nothing
    watched its steps (only a followed schedule's run had the watch), so an app that
    waits in the host OS held the CPU for good and the board never ended. It gets the
    lab's watch now, and says why it stopped."""
    monkeypatch.setattr(lab_run, "STEP_CPU_S", 0.5)  # the board runs in this process
    monkeypatch.setattr(lab_run, "STEP_BLOCKED_S", 0.5)
    board = tmp_path / "ctl.toml"
    apps = [app("tests.apps.blocks"), app("apps_py.hello")]
    board.write_text(board_toml(apps, name="ctl", scheduler="controlled"))
    capsys.readouterr()
    assert main(["run", str(board), "--control", str(tmp_path / "c.sock")]) == 0
    out, err = capsys.readouterr()
    assert "[hello] Hello World!" in out
    why = "the board had not ended: only blocks could run, and it runs on without a syscall"
    assert f"tockd: stopped: {why}" in err


def test_an_app_that_stops_itself_is_continued() -> None:
    """SIGSTOP to itself: round robin's next turn would continue it; under virtual time
    no turn ends, so the lab continues it (it used to hold the CPU, stopped, until the
    run's 20 s budget)."""
    cfg = parse_board(board_toml([app("tests.apps.selfstop"), app("apps_py.hello")]))
    r = run_once(cfg, Guided([], {}), [])  # selfstop runs first
    assert r.verdict == "ok" and not r.cut
    assert r.console["selfstop"] == "stopping myself\nresumed\n"


def test_a_process_that_stalls_half_way_through_a_frame_is_faulted_under_virtual_time() -> None:
    """Under virtual time no timeslice ends the wait for the rest of a frame: the wait
    itself is bounded, and the process faulted as on wall time (it used to hold the
    CPU until the run's 20 s budget, a timeout)."""
    stall = app("tests.apps.hostile", args={"how": "half_frame_stall"})
    cfg = parse_board(board_toml([stall, app("apps_py.hello")]))
    r = run_once(cfg, Guided([], {}), [])
    assert r.verdict == "ok"
    assert r.faults == [
        "sent part of a syscall frame and not the rest in 1000 ms of its time on the CPU"
    ]
    assert "Hello World!" in r.console["hello"]


def test_the_decision_budget_cuts_a_run_too() -> None:
    """Two endless apps: every syscall is a switch decision, and the decisions run out
    before the steps do."""
    cfg = parse_board(board_toml([ENDLESS, app("apps_py.spin", "other", args={"n": 0})]))
    r = run_once(cfg, Guided([], {}), [], max_decisions=50)
    assert r.verdict == "timeout"
    assert r.cut == "the board had not ended after 50 decisions"
    assert r.decisions == 50


def test_a_run_that_ends_has_no_cut() -> None:
    r = run_once(parse_board(board_toml([app("apps_py.hello")])), Guided([], {}), [])
    assert r.verdict == "ok" and "cut" not in r.to_json()


@pytest.mark.parametrize("how", ["terminate", "SIGINT"])
def test_a_controlled_board_answers_while_an_app_loops(tmp_path: Path, how: str) -> None:
    """`tockd run` of a board under the controlled scheduler (no budget there: it runs
    as long as its apps do): the control socket answers while the endless app holds
    the CPU, and terminating the app, or SIGINT, ends the board. (No timeslice ends a
    turn under virtual time: the stop has to.)"""
    board = tmp_path / "endless.toml"
    board.write_text(board_toml([ENDLESS], name="endless", scheduler="controlled"))
    sock = tmp_path / "c.sock"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "tockd.cli", "run", str(board), "--control", str(sock)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        ps = _tockd("ps", "--control", str(sock), timeout=20)
        assert ps.returncode == 0, ps.stderr
        assert "endless" in ps.stdout
        if how == "terminate":
            term = _tockd("terminate", "endless", "--control", str(sock), timeout=20)
            assert term.returncode == 0, term.stderr
            assert daemon.wait(timeout=20) == 0
        else:
            daemon.send_signal(signal.SIGINT)
            daemon.wait(timeout=20)
            assert daemon.stderr is not None
            assert "SIGINT, stopping" in daemon.stderr.read()
    finally:
        if daemon.poll() is None:
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait()
        assert daemon.stderr is not None
        daemon.stderr.close()


async def test_a_board_run_under_the_controlled_scheduler_keeps_no_steps() -> None:
    """Outside the lab nothing reads the steps: a board that runs for days must not keep
    one per syscall (it grew by about 20 MB a second with an endless app)."""
    cfg = board_toml([app("apps_py.spin", args={"n": 3000})], scheduler="controlled")
    run = await run_board(cfg)
    sched = run.daemon.scheduler
    assert run.status == 0 and isinstance(sched, ControlledScheduler)
    assert sched.taken > 3000 and sched.steps == []


def test_a_race_shows_in_runs_cut_short(tmp_path: Path) -> None:
    """rot13_report's race beside an app that sleeps forever: every run is cut, and a
    dropped notify is final once it happened, so the race is still found, shrunk,
    saved with the sweep's step budget and replayed to the same digest."""
    board = tmp_path / "rot13_forever.toml"
    board.write_text(REPORT.read_text() + '\n[[apps]]\nname = "sleeper"\n' + SLEEPER_TOML)
    saved = tmp_path / "race.json"
    r = _tockd(
        *("explore", str(board), "--strategy", "pct", "--runs", "40"),
        *("--max-steps", "400", "--save", str(saved)),
    )
    assert r.returncode == 3, r.stdout + r.stderr
    assert "cut short" in r.stdout and "400 steps" in r.stdout
    assert "dropped: null upcall" in r.stdout
    assert json.loads(saved.read_text())["max_steps"] == 400
    again = _tockd("replay", str(saved))
    assert "identical to the recorded" in again.stdout, again.stdout + again.stderr
    # a board that follows the file keeps its step budget: it stops where the run was
    # cut, though the sleeper would sleep for ever (it ran on until killed)
    followed = _tockd("run", str(board), "--schedule", str(saved), timeout=60)
    assert followed.returncode == 0, followed.stderr


def test_a_property_about_the_end_says_nothing_about_a_run_cut_short() -> None:
    """`prints` judges what the run printed by its end; a cut run had no end. A fault
    is final: `no-faults` still judges the prefix."""
    cfg = parse_board(board_toml([SLEEPER, app("tests.apps.hostile", args={"how": "segv"})]))
    props = [prints("sleeper", "never printed"), no_faults]
    r = run_once(cfg, Guided([], {}), props, max_steps=200)
    assert r.cut == "the board had not ended after 200 steps"
    assert r.verdict == "violation"
    assert r.property_violations and all("faulted" in v for v in r.property_violations)
    r = run_once(cfg, Guided([], {}), props[:1], max_steps=200)
    assert r.verdict == "timeout" and r.property_violations == []
