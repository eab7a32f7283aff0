"""Exploration: many controlled runs, the first violation shrunk, saved, replayed.

    summary = explore("configs/rot13_report.toml", ["notify-delivered"], runs=200, jobs=2)
    summary.schedule_file  # the shrunk violating schedule, replayable with `tockd replay`

Runs spread over `jobs` worker processes, or over a Ray cluster (`ray="auto"`), through
an executor (`tockd.lab.executor`); each worker runs whole boards, apps being OS
processes on its machine. Each run writes one JSON record (appended to `out` as it
arrives, so `resume` can skip what a killed sweep finished); the first violation found
is shrunk to the fewest decisions that differ from the default and still violate, saved
as a schedule file with the board file's digest, and replayed to check its digest
(tockd.lab.shrink). Shrinking and replay run here, whichever executor found the
violation.

The schedule file goes where `save` says; without it, into tockd's one place for them,
`schedules_dir()`: `$XDG_STATE_HOME/tockd/schedules/` (`~/.local/state/tockd/schedules/`
when XDG_STATE_HOME is not set), as `BOARD-YYYYmmdd-HHMMSS.json`, never into the current
directory. `Summary.schedule_file` says where it went.

`explore` is its steps in order: check the inputs (`_prepare`), read back a resumed
sweep (`_read_back`), the sweep (`_sweep`, fed by `_Feed`, counted by `_Tally`), then
shrinking and saving (`_shrink_and_save`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from tockd.board import parse_board
from tockd.lab.controlled import TIMER_RULES, YIELDS_DECIDED
from tockd.lab.dpor import Branch, DporSearch, run_trace
from tockd.lab.executor import Executor, default_batch, make_executor
from tockd.lab.properties import resolve
from tockd.lab.run import zygote_session
from tockd.lab.shrink import (
    SCHEDULE_VERSION,
    Default,
    default_choice,
    replay,
    shrink_schedule,
    write_schedule,
)
from tockd.lab.strategy import make_strategy
from tockd.lab.work import SPLIT_DEPTH, Done, Exploration, RunJson, Subtree, Work


@dataclass
class NodeStats:
    """What one node (this machine, or one Ray node) did in this sweep."""

    runs: int = 0
    violations: int = 0
    timeouts: int = 0


@dataclass
class Summary:
    runs: int = 0
    violations: int = 0
    timeouts: int = 0
    #: why runs were cut short (the records' `cut`), with how many runs each
    cuts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    first: RunJson | None = None
    shrunk: RunJson | None = None
    schedule_file: str | None = None
    #: why the violation's schedule could not be saved (then `schedule_file` is None)
    save_error: str | None = None
    replay_digest_ok: bool | None = None
    #: distinct event streams: every order of every step counts apart, so two runs that
    #: only swap independent steps differ here (not a measure of what was covered)
    digests: set[str] = field(default_factory=set)
    #: distinct app observations (tockd.lab.run.observation_of): what the apps saw
    observations: set[str] = field(default_factory=set)
    #: the run (1-based, in arrival order) at which each new observation appeared
    new_observation_at: list[int] = field(default_factory=list)
    #: distinct orderings (tockd/lab/steps.py): runs that only swap independent steps
    #: are one ordering; what exhaustive search with reduction runs once each
    orderings: set[str] = field(default_factory=set)
    #: (runs, orderings, observations) each time one of the two counts grew
    growth: list[tuple[int, int, int]] = field(default_factory=list)
    #: racing pairs of steps, in the order runs saw them: (earlier, later) -> [runs
    #: that saw them so, of which violating]
    pairs: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: decisions taken, over all runs
    decisions: int = 0
    #: exhaustive search with reduction: runs that did not replay the schedule they
    #: were given (the board does not run the same way twice), so the search is partial
    divergent: int = 0
    #: exhaustive search with reduction: (decision points, distinct states, options
    #: tried, options offered)
    coverage: tuple[int, int, int, int] | None = None
    resumed: int = 0  # runs read back from the resume file, not run again
    nodes: dict[str, NodeStats] = field(default_factory=dict)  # this sweep's runs by node

    @property
    def runs_per_second(self) -> float:
        return (self.runs - self.resumed) / self.seconds if self.seconds else 0.0

    def node_rate(self, node: str) -> float:
        """Runs per second on `node` over the whole sweep (its share of the total)."""
        return self.nodes[node].runs / self.seconds if self.seconds else 0.0


def explore(
    board: str | Path,
    properties: list[str],
    *,
    strategy: str = "random",
    runs: int = 100,
    jobs: int = 1,
    seed: int = 0,
    check: bool = True,
    adversity: bool = False,
    out: IO[str] | None = None,
    save: str | Path | None = None,
    progress: Callable[[Summary], None] | None = None,
    stop_at_first: bool = False,
    shrink: bool = True,
    executor: Executor | None = None,
    ray: str | None = None,
    resume: str | Path | None = None,
    batch: int | None = None,
    preemption_bound: int = 2,
    timers: str = YIELDS_DECIDED,
    reduce: bool | None = None,
    max_steps: int | None = None,
) -> Summary:
    """Explore `runs` schedules of `board`; see the module docstring.

    Runs go to `executor`, or to one made from `jobs` and `ray` ("auto", "local" or a
    cluster address: see `tockd.lab.executor`), `batch` seeds at a time. `resume`: the
    JSONL file of an earlier sweep (its `out`); the seeds it holds are not run again.
    `timers`: the rule of the runs (tockd/lab/controlled.py); "implicit", the rule of
    version 1 schedules, is there to measure against. `reduce`: exhaustive search
    runs one schedule per ordering (tockd/lab/dpor.py); by default it does unless
    `adversity` is on; False runs every schedule. `max_steps`: a run that has not ended
    after that many steps is cut there and counted as a timeout (an app that makes
    syscalls without end); None: `tockd.lab.run.MAX_STEPS`.
    """
    path = Path(board)
    sweep = _prepare(path, properties, strategy, seed, check, adversity, preemption_bound)
    if timers not in TIMER_RULES:
        raise ValueError(f"timers must be one of {', '.join(TIMER_RULES)}, not {timers!r}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"a run's step budget is 1 or more, not {max_steps}")
    sweep = dataclasses.replace(sweep, timers=timers, max_steps=max_steps)
    tally = _Tally(Summary(), runs, stop_at_first, out, progress, sweep_id(sweep))
    if reduce is None:
        reduce = not adversity  # an injected fault depends on every step
    sweep = dataclasses.replace(sweep, reduce=reduce)
    done_seeds = _read_back(resume, strategy, seed, tally) if resume is not None else set()
    owned = executor is None
    ex = executor if executor is not None else make_executor(jobs, ray)
    with zygote_session():  # one warm zygote for the runs made in this process
        try:
            ex.open()
            size = batch or default_batch(runs, ex)
            seeds = (s for s in range(seed, seed + runs) if s not in done_seeds)
            feed = _Feed.of(sweep, ex, seeds, size)
            _sweep(ex, feed, tally)
        finally:
            if owned:
                ex.close()
        summary = tally.summary
        summary.seconds = time.monotonic() - tally.start
        if isinstance(feed, _ReducedFeed):
            summary.coverage = feed.search.coverage()
            summary.divergent = feed.search.divergent
        if summary.first is not None and shrink:
            _shrink_and_save(summary, summary.first, sweep, path, save)
    return summary


def _prepare(
    path: Path,
    properties: list[str],
    strategy: str,
    seed: int,
    check: bool,
    adversity: bool,
    preemption_bound: int,
) -> Exploration:
    """What every run shares; fails early on a bad board, property, strategy or bound."""
    if preemption_bound < 0:
        raise ValueError(f"a preemption bound is 0 or more, not {preemption_bound}")
    text = path.read_text()
    parse_board(text, where=str(path))
    resolve(properties)
    make_strategy(strategy, seed)
    return Exploration(
        text, str(path), list(properties), strategy, check, adversity, preemption_bound
    )


@dataclass
class _Tally:
    """Counts run records into the summary as they arrive: by verdict and by node, the
    violation to shrink, the fresh ones appended to `out`, `progress` told each time."""

    summary: Summary
    runs: int
    stop_at_first: bool
    out: IO[str] | None
    progress: Callable[[Summary], None] | None
    #: the sweep's `sweep_id`, which each fresh record carries
    sweep: str = ""
    start: float = field(default_factory=time.monotonic)

    def add(self, data: RunJson, fresh: bool = True) -> None:
        """Count one record; `fresh`: run in this sweep (not read back on resume)."""
        s = self.summary
        s.runs += 1
        s.decisions += data["decisions"]
        s.digests.add(data["digest"])
        before = len(s.orderings), len(s.observations)
        observation = data.get("observation")
        if observation and observation not in s.observations:
            s.observations.add(observation)
            s.new_observation_at.append(s.runs)
        ordering = data.get("ordering")
        if ordering:
            s.orderings.add(ordering)
        if (len(s.orderings), len(s.observations)) != before:
            s.growth.append((s.runs, len(s.orderings), len(s.observations)))
        violating = data["verdict"] == "violation"
        for earlier, later in {(a, b) for a, b in data.get("races", [])}:
            seen = s.pairs.setdefault((earlier, later), [0, 0])
            seen[0] += 1
            seen[1] += violating

        node = s.nodes.setdefault(str(data.get("node")), NodeStats()) if fresh else None
        if node is not None:
            node.runs += 1
        why = data.get("cut")
        if why:
            s.cuts[why] = s.cuts.get(why, 0) + 1
        if data["verdict"] == "timeout":
            s.timeouts += 1
            if node is not None:
                node.timeouts += 1
        if data["verdict"] == "violation":
            s.violations += 1
            if node is not None:
                node.violations += 1
            if _better_first(data, s.first):
                s.first = data
        if fresh:
            data["sweep"] = self.sweep
        if self.out is not None and fresh:
            self.out.write(json.dumps(data) + "\n")
            self.out.flush()
        s.seconds = time.monotonic() - self.start
        if self.progress is not None:
            self.progress(s)

    def finished(self) -> bool:
        """All runs counted, or (if asked to stop there) a property violated."""
        first = self.summary.first
        found = self.stop_at_first and first is not None and bool(first["property_violations"])
        return found or self.summary.runs >= self.runs


def sweep_id(sweep: Exploration) -> str:
    """What a sweep's records name it by (`RunJson.sweep`): all that decides a run's
    outcome besides its strategy and seed (the board as written, the properties, the
    modes, the timer rule, the step budget). A resumed sweep must match it."""
    key = [
        sweep.board_text,
        sweep.properties,
        sweep.check,
        sweep.adversity,
        sweep.timers,
        sweep.max_steps,
    ]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]


def _read_back(resume: str | Path, strategy: str, seed: int, tally: _Tally) -> set[int]:
    """Count the runs of this sweep's seeds that the resume file holds; their seeds."""
    done_seeds: set[int] = set()
    for data in resume_records(resume):
        ran, name = data.get("seed"), data.get("strategy", {}).get("name")
        if name != strategy or not isinstance(ran, int):
            raise ValueError(
                f"{resume}: holds a run of strategy {name!r} (seed {ran}); resuming "
                f"needs the runs of a seeded sweep of strategy {strategy!r}"
            )
        mark = data.get("sweep")  # (older records name none: they are taken as they are)
        if mark is not None and mark != tally.sweep:
            raise ValueError(
                f"{resume}: holds runs of another sweep (another board, properties, "
                "--adversity, timer rule or --max-steps): resume with the options it "
                "was started with, or --out to a new file"
            )
        if seed <= ran < seed + tally.runs and ran not in done_seeds:
            done_seeds.add(ran)
            tally.add(data, fresh=False)
    tally.summary.resumed = len(done_seeds)
    return done_seeds


@dataclass
class _Feed:
    """The work still to hand out: subtrees of exhaustive search first (workers split
    off more as they go), else the next `size` seeds."""

    sweep: Exploration
    seeds: Iterator[int]
    size: int
    subtrees: deque[Subtree] = field(default_factory=deque)

    @classmethod
    def of(
        cls, sweep: Exploration, ex: Executor, seeds: Iterator[int], size: int
    ) -> _Feed | _ReducedFeed:
        """Exhaustive search has no seeds: the whole tree, split by prefix when several
        workers share it, or searched with reduction (the default without adversity)."""
        if sweep.strategy != "exhaustive":
            return cls(sweep, seeds, size)
        if sweep.reduce:
            return _ReducedFeed(sweep, DporSearch(sweep.preemption_bound))
        split = 0 if ex.workers == 1 else SPLIT_DEPTH
        return cls(sweep, iter(()), size, deque([Subtree([], 0, split, size)]))

    def next(self) -> Work | None:
        """The next item, or None when nothing is left to hand out now."""
        if self.subtrees:
            return Work(self.sweep, subtree=self.subtrees.popleft())
        seeds = tuple(itertools.islice(self.seeds, self.size))
        return Work(self.sweep, seeds=seeds) if seeds else None

    def take(self, done: Done) -> list[RunJson]:
        """The records of a finished item, to count now; keeps the work it split off."""
        self.subtrees.extend(done.more)
        return done.records


@dataclass
class _ReducedFeed:
    """Exhaustive search with reduction: the branches of one round of the search
    (tockd/lab/dpor.py) go out as items; their records are folded into the search, and
    counted, in the order they went out, so where they ran changes nothing. Each is
    folded in as soon as those before it are, while the round's later runs go on."""

    sweep: Exploration
    search: DporSearch
    queue: deque[Branch] = field(default_factory=deque)
    round: list[Branch] = field(default_factory=list)
    back: dict[int, RunJson] = field(default_factory=dict)
    absorbed: int = 0  # the round's branches folded in so far

    def next(self) -> Work | None:
        if not self.queue and not self.round:
            self.round = self.search.next_round()
            self.queue.extend(self.round)
        if not self.queue:
            return None
        return Work(self.sweep, branches=(self.queue.popleft(),))

    def take(self, done: Done) -> list[RunJson]:
        for data in done.records:
            prefix = data["strategy"].get("prefix")
            slot = next(i for i, b in enumerate(self.round) if b.prefix == prefix)
            self.back[slot] = data
        records: list[RunJson] = []
        while self.absorbed in self.back:
            data = self.back.pop(self.absorbed)
            self.search.absorb(self.round[self.absorbed], run_trace(data.pop("trace")))
            records.append(data)
            self.absorbed += 1
        if self.absorbed == len(self.round):
            self.round, self.absorbed = [], 0
        return records


def _sweep(ex: Executor, feed: _Feed | _ReducedFeed, tally: _Tally) -> None:
    """Keep `ex.slots` items in flight and count their records as they come back, until
    the tally is finished; what is still in flight then is cancelled."""
    in_flight = 0
    while not tally.finished():
        while in_flight < ex.slots:
            work = feed.next()
            if work is None:
                break
            ex.submit(work)
            in_flight += 1
        if not in_flight:
            break
        done = ex.next_done()
        in_flight -= 1
        for data in feed.take(done):
            if tally.finished():
                break
            tally.add(data)
    if in_flight:
        ex.cancel()


def _shrink_and_save(
    summary: Summary, first: RunJson, sweep: Exploration, path: Path, save: str | Path | None
) -> None:
    """Shrink the violation to keep, save its schedule, and replay the file to check
    that it gives the same digest."""
    cfg = parse_board(sweep.board_text, where=str(path))
    properties = sweep.properties
    shrunk = shrink_schedule(
        cfg,
        properties,
        first,
        check=sweep.check,
        adversity=sweep.adversity,
        max_steps=sweep.max_steps,
    )
    summary.shrunk = shrunk
    try:  # a file that cannot be written loses the file, not the violation found
        target = Path(save) if save else new_schedule_file(path.stem)
        write_schedule(
            target,
            path,
            sweep.board_text,
            properties,
            shrunk,
            adversity=sweep.adversity,
            check=sweep.check,
            max_steps=sweep.max_steps,
        )
    except OSError as e:
        where = save or schedules_dir()
        summary.save_error = f"cannot write {where}: {e.strerror or e}"
        return
    summary.schedule_file = str(target)
    again = replay(target)
    summary.replay_digest_ok = again["digest"] == shrunk["digest"]


def schedules_dir() -> Path:
    """Where a violation's schedule is saved when the caller names no file:
    `$XDG_STATE_HOME/tockd/schedules`, or `~/.local/state/tockd/schedules` when that
    variable is unset or not an absolute path (the XDG base directory rule)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "tockd" / "schedules"


def new_schedule_file(board: str) -> Path:
    """A file name for board `board`'s schedule in `schedules_dir()` (created), named
    after the board and the time, that no earlier sweep has taken."""
    where = schedules_dir()
    where.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, n = where / f"{board}-{stamp}.json", 1
    while target.exists():
        n += 1
        target = where / f"{board}-{stamp}-{n}.json"
    return target


def _better_first(new: RunJson, old: RunJson | None) -> bool:
    """Which violation to shrink: a property violation over a mere invariant one, then
    the lowest seed, so a sweep picks the same one however its runs were spread."""
    if old is None:
        return True
    if bool(new["property_violations"]) != bool(old["property_violations"]):
        return bool(new["property_violations"])
    a, b = new.get("seed"), old.get("seed")
    return isinstance(a, int) and isinstance(b, int) and a < b


def resume_records(path: str | Path) -> list[RunJson]:
    """The run records of an earlier sweep's JSONL file (none if there is no file). A
    last line cut short by a killed sweep is cut from the file, so appending goes on
    cleanly; that run is simply run again."""
    p = Path(path)
    if not p.exists():
        return []
    raw = p.read_bytes()
    records: list[RunJson] = []
    kept = 0
    for number, line in enumerate(raw.splitlines(keepends=True), 1):
        try:
            data = json.loads(line) if line.strip() else {}
        except json.JSONDecodeError as e:
            if line.endswith(b"\n"):
                raise ValueError(f"{p}: line {number} is not a run record: {e}") from None
            break  # the last line, cut short
        if not isinstance(data, dict):
            raise ValueError(f"{p}: line {number} is not a run record")
        if data:
            records.append(cast(RunJson, data))  # a line this module wrote
        kept += len(line)
    if kept < len(raw):
        with p.open("r+b") as f:
            f.truncate(kept)
    elif raw and not raw.endswith(b"\n"):
        with p.open("ab") as f:
            f.write(b"\n")
    return records


__all__ = [
    "SCHEDULE_VERSION",
    "Default",
    "NodeStats",
    "Summary",
    "default_choice",
    "explore",
    "new_schedule_file",
    "replay",
    "resume_records",
    "schedules_dir",
    "shrink_schedule",
    "sweep_id",
    "write_schedule",
]
