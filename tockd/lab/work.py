"""The worker side of an exploration: what one work item is, how a worker runs it, and
the record each run hands back.

`explore` (tockd.lab.explore) cuts a sweep into `Work`: a batch of seeds, or for
exhaustive search a `Subtree` of the decision tree. An executor (tockd.lab.executor)
carries each item to a worker, which runs it here, whole, and hands back `Done`: compact
run records (the schedule only for a violating run) and, for a subtree, the subtrees it
split off. A run is a function of (board, strategy, seed), so where it ran changes
nothing but the `node` field of its record.

Exhaustive search is split by prefix: the first run of a subtree follows its prefix and
then the first option everywhere; every other option it passed at levels below
`split` becomes a subtree of its own (all schedules that first leave this run there).
Deeper levels are searched depth-first on the worker, `limit` runs at a time, the rest
coming back as a continuation. The subtrees are disjoint and together cover the tree, so
no run is done twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tockd.board import parse_board
from tockd.lab.dpor import Branch, Guided
from tockd.lab.properties import resolve
from tockd.lab.run import RunJson, run_once
from tockd.lab.strategy import Exhaustive, Strategy, make_strategy

#: levels of the exhaustive tree split into separate work items when several workers
#: share the search (a binary tree gives up to 2**depth subtrees)
SPLIT_DEPTH = 5


@dataclass(frozen=True)
class Exploration:
    """What every run of one sweep shares."""

    board_text: str
    board_path: str
    properties: list[str]
    strategy: str
    check: bool = True
    adversity: bool = False
    preemption_bound: int = 2
    #: exhaustive search runs one schedule per ordering (tockd/lab/dpor.py); False:
    #: every schedule, as before issue 16 (to measure against, or for adversity)
    reduce: bool = True
    #: the rule of the runs (tockd.lab.controlled: "yields-decided", or an older one:
    #: "implicit", version 1's, is the baseline bench/explore.py measures)
    timers: str = "yields-decided"
    #: a run that has taken this many steps without its board ending is cut there
    #: (a timeout, unless its prefix violates); None: tockd.lab.run.MAX_STEPS
    max_steps: int | None = None


@dataclass(frozen=True)
class Subtree:
    """Exhaustive schedules that start with `start`. Backtracking goes no higher than
    level `floor`; options passed at levels `floor..split-1` on the first run are split
    off as subtrees of their own; at most `limit` runs, then a continuation."""

    start: list[int]
    floor: int
    split: int
    limit: int


@dataclass(frozen=True)
class Work:
    """One item for a worker: a batch of seeds, a subtree of exhaustive search, or
    branches of exhaustive search with reduction (tockd/lab/dpor.py)."""

    exploration: Exploration
    seeds: tuple[int, ...] = ()
    subtree: Subtree | None = None
    branches: tuple[Branch, ...] = ()


@dataclass
class Done:
    """What a worker hands back: the records of its runs, in order, and more work."""

    records: list[RunJson]
    more: list[Subtree] = field(default_factory=list)


def run_work(work: Work, node: str) -> Done:
    """Run one work item here; each record names `node`."""
    ex = work.exploration
    if work.branches:
        return Done([_run_branch(ex, branch, node) for branch in work.branches])
    if work.subtree is not None:
        return search_subtree(
            work.subtree, ex.preemption_bound, lambda strategy: _run(ex, strategy, None, node)
        )
    return Done([_run(ex, make_strategy(ex.strategy, seed), seed, node) for seed in work.seeds])


def _run_branch(ex: Exploration, branch: Branch, node: str) -> RunJson:
    """One run of a branch of the reduced search; its record carries the trace the
    search reads back."""
    return _run(ex, Guided(branch.prefix, branch.sleep, ex.preemption_bound), None, node, True)


def _run(
    ex: Exploration, strategy: Strategy, seed: int | None, node: str, trace: bool = False
) -> RunJson:
    cfg = parse_board(ex.board_text, where=ex.board_path)
    record = run_once(
        cfg,
        strategy,
        resolve(ex.properties),
        check=ex.check,
        adversity=ex.adversity,
        seed=seed,
        timers=ex.timers,
        max_steps=ex.max_steps,
    )
    data = record.to_json(with_schedule=record.violated)
    data["node"] = node
    if trace:
        data["trace"] = record.trace_json()
    return data


def search_subtree(
    sub: Subtree, preemption_bound: int, run: Callable[[Exhaustive], RunJson]
) -> Done:
    """Depth-first search of `sub`, `run` doing each run: at most `sub.limit` runs, then
    the rest as a continuation; what the first run passed below `sub.split` split off."""
    done = Done([])
    floor = max(sub.floor, sub.split)  # levels above are split off, not backtracked
    prefix: list[int] | None = sub.start
    while prefix is not None and len(done.records) < sub.limit:
        strategy = Exhaustive(prefix, preemption_bound)
        done.records.append(run(strategy))
        if len(done.records) == 1:
            done.more.extend(split_off(strategy, sub.floor, sub.split, sub.limit))
        prefix = strategy.next_prefix()
        if prefix is not None and len(prefix) - 1 < floor:
            prefix = None  # backtracking would leave this subtree
    if prefix is not None:
        done.more.append(Subtree(prefix, floor, sub.split, sub.limit))
    return done


def split_off(run: Exhaustive, floor: int, split: int, limit: int) -> list[Subtree]:
    """The subtrees that leave `run`'s path at a level in `floor..split-1`: one per
    option not taken there, within the preemption bound (the rule of `next_prefix`)."""
    out: list[Subtree] = []
    preemptions = 0
    for level, (kind, taken, count) in enumerate(
        zip(run.kinds, run.taken, run.counts, strict=True)
    ):
        if level >= split:
            break
        costly = kind in ("switch", "adversity")
        if level >= floor and preemptions + costly <= run.preemption_bound:
            for option in range(taken + 1, count):
                out.append(Subtree([*run.taken[:level], option], level + 1, split, limit))
        preemptions += costly and taken > 0
    return out


__all__ = [
    "SPLIT_DEPTH",
    "Done",
    "Exploration",
    "RunJson",
    "Subtree",
    "Work",
    "run_work",
    "search_subtree",
    "split_off",
]
