"""Exhaustive search with reduction (tockd/lab/dpor.py) against the full sweep: the same
observations and violations from fewer runs; and the pieces it stands on: footprints,
races, orderings."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tockd.board import board_text, parse_board
from tockd.kernel.footprint import ADD, EVERYTHING, READ, WRITE, conflicts
from tockd.lab.dpor import Branch, DporSearch, Guided, RunTrace, disabled
from tockd.lab.explore import Summary, explore
from tockd.lab.run import run_once, zygote_session
from tockd.lab.steps import TIME, Race, Step, ordering_of, races, reversals
from tockd.lab.strategy import Decision

ROOT = Path(__file__).resolve().parents[2]


def _hardened(tmp_path: Path) -> Path:
    text = (ROOT / "configs/rot13_report.toml").read_text()
    board = tmp_path / "rot13_report_hardened.toml"
    board.write_text(text.replace('kernel_mode = "tock"', 'kernel_mode = "hardened"'))
    return board


def _sweep(
    board: Path, reduce: bool, bound: int, props: tuple[str, ...] = ("notify-delivered",)
) -> tuple[Summary, set[tuple[str, ...]]]:
    out = io.StringIO()
    s = explore(
        board,
        list(props),
        strategy="exhaustive",
        runs=100_000,
        stop_at_first=False,
        shrink=False,
        preemption_bound=bound,
        reduce=reduce,
        out=out,
        jobs=2,  # the same runs as one job makes (`dpor.ROUND`), sooner
    )
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == s.runs
    violations = {
        tuple(r["property_violations"] + r["invariant_violations"])
        for r in records
        if r["verdict"] != "ok"
    }
    return s, violations


def _both(
    board: Path, bound: int, props: tuple[str, ...] = ("notify-delivered",)
) -> tuple[Summary, Summary]:
    """The full and the reduced sweep of `board`; they saw the same observations and
    the same violations. (The observations alone are a weak check: in hardened mode
    the apps see the same in every schedule. The callers compare orderings too.)"""
    full, full_violations = _sweep(board, reduce=False, bound=bound, props=props)
    reduced, reduced_violations = _sweep(board, reduce=True, bound=bound, props=props)
    assert reduced.observations == full.observations
    assert reduced_violations == full_violations
    return full, reduced


def _two_apps(tmp_path: Path, first: str, **kw: object) -> Path:
    """`first` (a module) and hello, on a Tock-mode board."""
    apps = [
        {"name": "first", "module": first, "ram": 8192, **kw},
        {"name": "org.tockos.examples.hello", "module": "apps_py.hello"},
    ]
    board = tmp_path / "two.toml"
    board.write_text(
        board_text(apps, name="two", ram_size=65536, mpu="cortex-m", kernel_mode="tock")
    )
    return board


@pytest.mark.parametrize(
    "name",
    [
        "rot13_report",
        "rot13_report_hardened",
        "rot13",
        # its full sweep alone takes about 20 s: with the other long sweeps (-m slow)
        pytest.param("restarter", marks=pytest.mark.slow),
    ],
)
def test_the_reduced_sweep_sees_what_the_full_sweep_sees(name: str, tmp_path: Path) -> None:
    """restarter (it exits and comes back, beside hello) is the one of these that
    needs a race reversed by who can go first (`steps.reversals`): reversed by the
    later step's actor, 1 of its 338 orderings was lost (schedule version 2). And it
    is the one that showed sleep sets wrong under a bound: with them, 6 of its 349
    orderings were lost (version 3)."""
    if name == "restarter":
        board = _two_apps(tmp_path, "tests.apps.restarter", args={"times": 2})
    elif name.endswith("hardened"):
        board = _hardened(tmp_path)
    else:
        board = ROOT / f"configs/{name}.toml"
    full, reduced = _both(board, bound=1)
    assert reduced.runs < full.runs
    # the full sweep runs orderings over and over; the reduced one runs every one of
    # them (complete), and no other (it runs schedules of the full tree only)
    assert len(full.orderings) < full.runs
    assert reduced.orderings == full.orderings
    assert reduced.coverage is not None and full.coverage is None


def test_with_no_bound_every_ordering_is_run(tmp_path: Path) -> None:
    """`--preemption-bound none` (sleep sets on): two hellos' 76 orderings in 76 runs.
    The full sweep reaches 52 of them at bound 1 (174 runs), 72 at bound 2 (1,230), all
    76 only at bound 3 (5,462)."""
    board = _two_apps(tmp_path, "apps_py.hello")
    out = tmp_path / "runs.jsonl"
    cmd = [sys.executable, "-m", "tockd.cli", "explore", str(board), "--jobs", "2",
           "--strategy", "exhaustive", "--preemption-bound", "none", "--out", str(out)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    orderings = {x["ordering"] for x in records}
    assert len(orderings) == len(records) == 76
    assert "orderings             76 distinct" in r.stdout
    full, _ = _sweep(board, reduce=False, bound=1)
    assert full.orderings < orderings and full.runs > 2 * len(records)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rot13_report", "rot13_report_hardened"])
def test_at_bound_two_too(name: str, tmp_path: Path) -> None:
    """The bound the issue measures at: about 5 minutes for both (-m slow)."""
    board = _hardened(tmp_path) if name.endswith("hardened") else ROOT / f"configs/{name}.toml"
    full, reduced = _both(board, bound=2)
    assert reduced.runs * 4 < full.runs
    assert reduced.orderings == full.orderings


@pytest.mark.slow
def test_three_apps_and_a_deeper_race_at_bound_one() -> None:
    """mailbox_race (tests/lab/test_deep_race.py) in full: about 2 minutes (-m slow).
    Before the search read every race of a run, and every race to the run's end, it
    saw 27, then 35 of these 36 observations."""
    board = ROOT / "configs/mailbox_race.toml"
    props = ("prints:org.tockos.examples.mailbox_logger:alpha says hello",)
    full, reduced = _both(board, bound=1, props=props)
    assert reduced.runs * 2 < full.runs
    assert reduced.orderings == full.orderings


@pytest.mark.slow
def test_a_queue_filled_beside_hello_at_bound_one(tmp_path: Path) -> None:
    """tests/apps/overflow.py fills its upcall queue while hello runs: about a minute
    (-m slow). Reversing races by the later step's actor lost 160 of its 994
    orderings; without the steps that a step takes away (`dpor.disabled`) 1, without
    the branches asked for past where a run met a searched state 2."""
    full, reduced = _both(_two_apps(tmp_path, "tests.apps.overflow"), bound=1)
    assert reduced.runs < full.runs
    assert reduced.orderings == full.orderings


def test_footprints_conflict_as_documented() -> None:
    assert conflicts({"p0": WRITE}, {"p0": READ})
    assert not conflicts({"time": READ}, {"time": READ})
    assert not conflicts({"timers": ADD}, {"timers": ADD})
    assert conflicts({"timers": ADD}, {"timers": READ})
    assert conflicts({"timers": ADD}, {"timers": WRITE})
    assert not conflicts({"p0": WRITE}, {"p1": WRITE})
    assert conflicts({EVERYTHING: WRITE}, {"p1": READ})


def _step(actor: str, **fp: int) -> Step:
    return Step(actor, -1, dict(fp), f"{actor} {sorted(fp)}", 0)


def test_races_and_orderings() -> None:
    a = _step("0", p0=WRITE, q1=WRITE)  # 0 notifies 1
    b = _step("1", p1=WRITE)  # 1 computes: independent of the notify
    c = _step("1", p1=WRITE, q1=WRITE)  # 1 yields: takes from its queue
    # the notify races with the yield, not with the computing before it
    assert races([a, b, c]) == [(0, 2)]
    # two steps of others that k depends on, unordered between them: both race with k
    add0, add2 = _step("0", q1=ADD), _step("2", q1=ADD)
    assert races([add0, add2, c]) == [(0, 2), (1, 2)]
    # ordered between them: only the later one races with k
    assert races([a, _step("2", q1=WRITE), c]) == [(0, 1), (1, 2)]
    # swapping independent neighbours keeps the ordering; swapping dependent ones not
    assert ordering_of([a, b, c]) == ordering_of([b, a, c])
    assert ordering_of([a, b, c]) != ordering_of([b, c, a])
    # a step ordered after another through a third does not race with it
    d = _step("2", q1=WRITE)
    assert races([a, c, d]) == [(0, 1), (1, 2)]


def test_a_race_is_reversed_by_who_can_go_first() -> None:
    """j, then a step of another actor, then k: when that step orders k after it
    (a write arms the timer that k fires), its actor has to go first, not k's."""
    j = _step("0", g0=WRITE)  # 0 subscribes
    write = _step("1", d1=WRITE)  # 1 writes: arms the console timer
    fires = _step(TIME, d1=WRITE, g0=READ)  # the timer fires, reads 0's grant
    assert reversals([j, write, fires]) == [Race(0, 2, ("1",)), Race(1, 2, (TIME,))]
    # nothing orders k after the step between: both can go first
    alone = _step(TIME, g0=READ)
    assert reversals([j, write, alone]) == [Race(0, 2, ("1", TIME))]
    # a step that happens after j is not a way to go first (and orders k after j)
    after_j = _step("1", g0=WRITE, d1=WRITE)
    assert reversals([j, after_j, fires]) == [Race(0, 1, ("1",)), Race(1, 2, (TIME,))]


def test_a_step_that_takes_another_away_counts() -> None:
    """The last app's exit ends the run, so the console timer never fires: its step
    was taken away, and no race shows it. A timer that stops being the next counts
    as taken away too; an actor that is still there, or that stepped, does not."""
    run = [Decision("run", ["run 1", "advance 955us"], 0)]
    assert disabled(run, [_at(_step("1", p1=WRITE), 0)]) == [(0, TIME)]
    moved = [*run, Decision("run", ["run 0", "advance 12us"], 0)]
    assert disabled(moved, [_at(_step("1", p1=WRITE), 0)]) == [(0, TIME), (1, TIME)]
    still = [*run, Decision("run", ["advance 955us"], 0)]
    assert disabled(still, [_at(_step("1", p1=WRITE), 0)]) == []  # then it fired
    two = [Decision("switch", ["continue 0", "preempt 1"], 0), Decision("run", ["run 1"], 0)]
    assert disabled(two, []) == []


def _run_at(decisions: list[Decision], steps: list[Step]) -> RunTrace:
    return RunTrace(decisions, [_at(s, i) for i, s in enumerate(steps)], {})


def test_a_way_on_from_a_state_is_replayed_on_each_way_there() -> None:
    """Two runs reach one state by independent steps in either order; the second stops
    there. A way on from that state run later, whose step races with one before the
    state, asks for a branch on the second run's path too."""
    a, b = _step("0", r=WRITE), _step("1", s=WRITE)  # independent
    c = _step("2", x=WRITE, r=WRITE)  # c and e conflict; both conflict with a
    e = _step("3", x=WRITE, r=WRITE)
    every = ["run 0", "run 1", "run 2", "run 3"]
    last = [Decision("run", ["run 2", "run 3"], 0), Decision("run", ["run 3"], 0)]
    search = DporSearch(preemption_bound=0)
    first = [Decision("run", every, 0), Decision("run", every[1:], 0), *last]
    search.absorb(Branch([], {}), _run_at(first, [a, b, c, e]))
    # the other way to the state after a and b: it stops there
    other = [Decision("run", every, 1), Decision("run", ["run 0", "run 2", "run 3"], 0), *last]
    search.absorb(Branch([1], {}), _run_at(other, [b, a, c, e]))
    visitor = search.root.children[1] if search.root else None  # a's decision there
    assert visitor is not None and not visitor.children  # it stopped after a
    assert visitor.backtrack == {0, 1}  # a races with c (option 1), not with e
    assert search.replays == 1  # the first run's way on, on the visitor's path
    # the way on where e goes first: a races with e
    e_first = [*first[:2], Decision("run", ["run 2", "run 3"], 1), Decision("run", ["run 2"], 0)]
    search.absorb(Branch([0, 0, 1], {}), _run_at(e_first, [a, b, e, c]))
    assert search.replays == 2
    assert visitor.backtrack == {0, 1, 2}  # so e goes first there too ("run 3")


def test_explore_prints_orderings_and_racing_pairs(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tockd.cli",
            "explore",
            "rot13_report",
            "--strategy",
            "exhaustive",
            "--preemption-bound",
            "1",
            "--keep-going",
            "--save",
            str(tmp_path / "s.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert r.returncode == 3, r.stderr  # the rot13 race, found
    lines = {line.split()[0]: line for line in r.stdout.splitlines() if line.strip()}
    assert "distinct" in lines["orderings"], r.stdout
    assert "distinct states" in lines["decisions"], r.stdout
    assert "racing" in lines, r.stdout
    assert "(notify service)" in r.stdout and "violating" in r.stdout, r.stdout


@pytest.mark.parametrize(
    ("args", "says", "status"),
    [
        (["--no-reduce"], "strategy pct takes neither", 1),
        (["--strategy", "random", "--preemption-bound", "1"], "strategy random takes neither", 1),
        (["--strategy", "exhaustive", "--preemption-bound", "-1"], "0 or more) or none", 2),
    ],
)
def test_explore_refuses_options_that_would_do_nothing(
    args: list[str], says: str, status: int, tmp_path: Path
) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "tockd.cli", "explore", "rot13_report", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert r.returncode == status and says in r.stderr, r.stderr
    assert not list(tmp_path.iterdir())  # nothing run, nothing written


def test_a_run_that_does_not_replay_its_branch_is_counted_not_folded_in() -> None:
    search = DporSearch(preemption_bound=2)
    first = search.next_round()
    assert [b.prefix for b in first] == [[]]
    run0, run1 = _step("0", q1=WRITE), _step("1", q1=WRITE)  # they race on q1
    decided = [Decision("run", ["run 0", "run 1"], 0)]
    search.absorb(first[0], RunTrace(decided, [_at(run0, 0), _at(run1, -1)], {}))
    branch = search.next_round()
    assert [b.prefix for b in branch] == [[1]]  # the race asks for 1 first
    # the board answered the same prefix with other options: not the same board run
    other = [Decision("run", ["run 0", "run 2"], 1)]
    search.absorb(branch[0], RunTrace(other, [_at(run1, 0)], {}))
    assert search.divergent == 1
    assert search.next_round() == []  # nothing was taken from it


def _at(step: Step, node: int) -> Step:
    return Step(step.actor, node, step.fp, step.label, node + 1 if node >= 0 else 1)


def _steps_of(board: Path) -> list[Step]:
    """The steps of `board`'s first schedule, in a real run."""
    with zygote_session():
        record = run_once(parse_board(board.read_text()), Guided([], {}), [])
    return record.steps


def test_a_yield_ends_a_step_and_touches_no_queue(tmp_path: Path) -> None:
    """The kernel's footprints of the upcall queue (tockd/kernel/footprint.py), on a
    real run of the hardened rot13_report: a yield after which the process slept
    touches nothing of a queue; one after which it went on is followed by a step of
    its own that takes a task; each task is touched by the step that queued it and the
    one that took it."""
    steps = _steps_of(_hardened(tmp_path))
    queue_parts = ("q", "l", "u")
    yields = [i for i, s in enumerate(steps) if s.label.endswith(": yield 1")]
    # went on: its process's next step follows it (on this schedule, nobody else could
    # run and no timer was due there, so with no decision: the step was all that
    # could happen); slept: another actor's step follows
    went_on = [i for i in yields if i + 1 < len(steps) and steps[i + 1].actor == steps[i].actor]
    asleep = [i for i in yields if i not in went_on]
    assert went_on and asleep
    # (a step that only took an IPC task and went back to sleep is labelled so too)
    assert any(not any(r.startswith(queue_parts) for r in steps[i].fp) for i in asleep)
    for i in went_on:  # the next step takes a task
        assert steps[i + 1].node == -1 and any(r.startswith("q") for r in steps[i + 1].fp)
    touched: dict[str, list[Step]] = {}
    for step in steps:
        for resource in step.fp:
            touched.setdefault(resource, []).append(step)
    taken = 0
    for resource, by in touched.items():
        owner, _, serial = resource[1:].partition(".")
        if resource[0] != "q" or serial in ("", "0"):
            continue
        # queued by one step (its own or another's), taken by the owner in one step
        assert len(by) <= 2 and by[-1].actor == owner, resource
        taken += len(by) == 2
    assert taken >= 5
