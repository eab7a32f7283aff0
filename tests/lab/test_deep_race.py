"""configs/mailbox_race.toml: a lost log line that needs two preemptions, one in each
client, each right after its notify (apps_py/mailbox_logger.py tells the story).

Fast checks of the schedules themselves: the default schedule passes, alpha's
preemption alone passes, both together lose a line. (Exhaustive search over the
whole tree is slower: bound 1, 4832 runs, no violation, in about four minutes here.)
"""

from __future__ import annotations

from pathlib import Path

from tockd.board import load_board
from tockd.lab import run_once
from tockd.lab.properties import resolve
from tockd.lab.run import RunRecord
from tockd.lab.strategy import Exhaustive

ROOT = Path(__file__).resolve().parents[2]
BOARD = ROOT / "configs/mailbox_race.toml"
LOGGER = "org.tockos.examples.mailbox_logger"
PROPS = [f"prints:{LOGGER}:alpha says hello", f"prints:{LOGGER}:beta says hello"]


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


def test_two_preemptions_lose_a_line_one_does_not() -> None:
    default = run([])
    assert default.verdict == "ok", default.property_violations
    taken = [d[2] for d in default.schedule]
    # alpha (process 1) preempted right after its notify, in favour of beta (process 2)
    a = last_switch_of(default, 1, 0)
    assert default.schedule[a][1] == ["continue 1", "preempt 0", "preempt 2"]
    one = run([*taken[:a], 2])
    assert one.verdict == "ok", one.property_violations
    # then beta preempted right after its own notify, in favour of the logger
    b = last_switch_of(one, 2, a)
    assert one.schedule[b][1][1] == "preempt 0"
    both = run([*[d[2] for d in one.schedule[:b]], 1])
    assert both.verdict == "violation"
    assert both.property_violations == [f"{LOGGER} never printed 'alpha says hello'"]
