"""configs/mailbox_race.toml: a lost log line that needs two preemptions, one in each
client, each right after its notify (apps_py/mailbox_logger.py tells the story).

Through `explore`, exhaustive search with reduction (tockd/lab/dpor.py): with
preemption bound 1 the whole tree holds no violation; with bound 2 the search finds
one, shrinks it to two preemptions (plus the two "a process runs before the 1 ms retry
is due" choices the default path would not take) and its schedule file replays to the
same digest. About 7 s each here. A fast check of a hand-built schedule comes first:
the default schedule passes, alpha's preemption alone passes, both together lose a line.
"""

from __future__ import annotations

from pathlib import Path

from tockd.board import load_board
from tockd.lab import run_once
from tockd.lab.explore import explore
from tockd.lab.properties import resolve
from tockd.lab.run import RunRecord
from tockd.lab.shrink import Default, default_choice
from tockd.lab.strategy import Exhaustive

ROOT = Path(__file__).resolve().parents[2]
BOARD = ROOT / "configs/mailbox_race.toml"
LOGGER = "org.tockos.examples.mailbox_logger"
PROPS = [f"prints:{LOGGER}:alpha says hello", f"prints:{LOGGER}:beta says hello"]
LOST_ALPHA = f"{LOGGER} never printed 'alpha says hello'"


def run(prefix: list[int]) -> RunRecord:
    return run_once(load_board(BOARD), Exhaustive(prefix), resolve(PROPS))


def last_switch_of(record: RunRecord, index: int, after: int) -> int:
    """The decision after process `index`'s last syscall of its first stretch that
    starts after decision `after` (its notify: the syscall before it yields)."""
    last = -1
    for i, (kind, options, _choice) in enumerate(record.schedule):
        if i <= after:
            continue
        if kind == "switch" and options[0] == f"continue {index}":
            last = i
        elif last >= 0:
            return last
    raise AssertionError(f"process {index} never ran after decision {after}")


def test_the_default_schedule_logs_both_lines() -> None:
    record = run_once(load_board(BOARD), Default(), resolve(PROPS))
    assert record.verdict == "ok", record.property_violations


def test_two_preemptions_lose_a_line_one_does_not() -> None:
    first = run([])  # the logger first, then the first ready process each time
    assert first.verdict == "ok", first.property_violations
    taken = [d[2] for d in first.schedule]
    # alpha (process 1) preempted right after its notify, in favour of beta (process 2)
    a = last_switch_of(first, 1, 0)
    assert first.schedule[a][1] == ["continue 1", "preempt 0", "preempt 2"]
    one = run([*taken[:a], 2])
    assert one.verdict == "ok", one.property_violations
    # then beta preempted right after its own notify, in favour of the logger
    b = last_switch_of(one, 2, a)
    assert one.schedule[b][1][1] == "preempt 0"
    both = run([*[d[2] for d in one.schedule[:b]], 1])
    assert both.verdict == "violation"
    assert both.property_violations == [LOST_ALPHA]


def test_bound_1_whole_tree_holds_no_violation() -> None:
    runs = 100_000
    summary = explore(BOARD, PROPS, strategy="exhaustive", runs=runs, preemption_bound=1, jobs=2)
    assert summary.runs < runs  # the search ran out of branches: the whole tree
    assert summary.coverage is not None  # with reduction
    assert (summary.violations, summary.timeouts) == (0, 0)


def test_bound_2_finds_the_lost_line_and_it_replays(tmp_path: Path) -> None:
    saved = tmp_path / "lost.json"
    summary = explore(
        BOARD,
        PROPS,
        strategy="exhaustive",
        runs=100_000,
        preemption_bound=2,
        stop_at_first=True,
        save=saved,
        jobs=2,
    )
    assert summary.violations == 1 and summary.coverage is not None
    shrunk = summary.shrunk
    assert shrunk is not None and shrunk["property_violations"] == [LOST_ALPHA]
    assert summary.schedule_file == str(saved) and saved.exists()
    assert summary.replay_digest_ok
    off = [
        (options[0], options[choice])
        for kind, options, choice in shrunk["schedule"]
        if choice != default_choice(kind, options)
    ]
    # each client preempted right after its notify, the second in favour of the logger
    preempted = [(was, now) for was, now in off if now.startswith("preempt")]
    assert [was for was, _ in preempted] == ["continue 1", "continue 2"], off
    assert preempted[-1][1] == "preempt 0", off
    # the rest only let processes run before the retry's alarm is due
    assert all(now.startswith("run") for _, now in off if not now.startswith("preempt")), off
