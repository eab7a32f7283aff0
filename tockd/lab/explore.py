"""Exploration: many controlled runs, the first violation shrunk, saved, replayed.

    summary = explore("configs/rot13_report.toml", ["notify-delivered"], runs=200, jobs=2)
    summary.schedule_file  # the shrunk violating schedule, replayable with `tockd replay`

Runs spread over `jobs` worker processes, or over a Ray cluster (`ray="auto"`), through
an executor (`tockd.lab.executor`); each worker runs whole boards, apps being OS
processes on its machine. Each run writes one JSON record (appended to `out` as it
arrives, so `resume` can skip what a killed sweep finished); the first violation found
is shrunk to the fewest decisions that differ from the default and still violate, saved
as a schedule file with the board file's digest, and replayed to check its digest.
Shrinking and replay run here, whichever executor found the violation.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tockd.board import BoardConfig, load_board, parse_board
from tockd.lab.executor import (
    SPLIT_DEPTH,
    Executor,
    Exploration,
    Subtree,
    Work,
    default_batch,
    make_executor,
)
from tockd.lab.properties import resolve
from tockd.lab.run import RunRecord, run_once, zygote_session
from tockd.lab.strategy import Decision, Replay, Strategy, make_strategy

SCHEDULE_VERSION = 1


def default_choice(kind: str, options: list[str]) -> int:
    """The unremarkable choice: pending I/O and timers complete before anyone else runs
    (devices are fast next to software), then the first ready process; never preempt,
    no adversity, timers in deadline order."""
    if kind == "run" and options[-1].startswith("advance"):
        return len(options) - 1
    return 0


class Default(Strategy):
    """Always the default choice; what shrinking falls back to."""

    name = "default"

    def choose(self, kind: str, options: list[str], step: int) -> int:
        return default_choice(kind, options)


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
    seconds: float = 0.0
    first: dict[str, Any] | None = None
    shrunk: dict[str, Any] | None = None
    schedule_file: str | None = None
    replay_digest_ok: bool | None = None
    digests: set[str] = field(default_factory=set)
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
) -> Summary:
    """Explore `runs` schedules of `board`; see the module docstring.

    Runs go to `executor`, or to one made from `jobs` and `ray` ("auto", "local" or a
    cluster address: see `tockd.lab.executor`), `batch` seeds at a time. `resume`: the
    JSONL file of an earlier sweep (its `out`); the seeds it holds are not run again.
    """
    path = Path(board)
    text = path.read_text()
    parse_board(text, where=str(path))  # fail early on a bad board
    resolve(properties)
    make_strategy(strategy, seed)  # and on an unknown strategy
    sweep = Exploration(
        text, str(path), list(properties), strategy, check, adversity, preemption_bound
    )
    summary = Summary()
    start = time.monotonic()

    def consume(data: dict[str, Any], fresh: bool = True) -> None:
        summary.runs += 1
        summary.digests.add(data["digest"])
        node = summary.nodes.setdefault(str(data.get("node")), NodeStats()) if fresh else None
        if node is not None:
            node.runs += 1
        if data["verdict"] == "timeout":
            summary.timeouts += 1
            if node is not None:
                node.timeouts += 1
        if data["verdict"] == "violation":
            summary.violations += 1
            if node is not None:
                node.violations += 1
            if _better_first(data, summary.first):
                summary.first = data
        if out is not None and fresh:
            out.write(json.dumps(data) + "\n")
            out.flush()
        summary.seconds = time.monotonic() - start
        if progress is not None:
            progress(summary)

    def found() -> bool:
        first = summary.first
        return stop_at_first and first is not None and bool(first["property_violations"])

    done_seeds: set[int] = set()
    if resume is not None:
        for data in resume_records(resume):
            ran, name = data.get("seed"), data.get("strategy", {}).get("name")
            if name != strategy or not isinstance(ran, int):
                raise ValueError(
                    f"{resume}: holds a run of strategy {name!r} (seed {ran}); resuming "
                    f"needs the runs of a seeded sweep of strategy {strategy!r}"
                )
            if seed <= ran < seed + runs and ran not in done_seeds:
                done_seeds.add(ran)
                consume(data, fresh=False)
        summary.resumed = len(done_seeds)

    owned = executor is None
    ex = executor if executor is not None else make_executor(jobs, ray)
    with zygote_session():  # one warm zygote for the runs made in this process
        try:
            ex.open()
            size = batch or default_batch(runs, ex)
            subtrees: deque[Subtree] = deque()
            todo: Iterator[int] = (s for s in range(seed, seed + runs) if s not in done_seeds)
            if strategy == "exhaustive":  # the tree, split by prefix: no seeds
                subtrees.append(Subtree([], 0, 0 if ex.workers == 1 else SPLIT_DEPTH, size))
                todo = iter(())
            in_flight = 0
            while not found() and summary.runs < runs:
                while in_flight < ex.slots:
                    if subtrees:
                        work = Work(sweep, subtree=subtrees.popleft())
                    else:
                        seeds = tuple(itertools.islice(todo, size))
                        if not seeds:
                            break
                        work = Work(sweep, seeds=seeds)
                    ex.submit(work)
                    in_flight += 1
                if not in_flight:
                    break
                done = ex.next_done()
                in_flight -= 1
                subtrees.extend(done.more)
                for data in done.records:
                    if found() or summary.runs >= runs:
                        break
                    consume(data)
            if in_flight:
                ex.cancel()
        finally:
            if owned:
                ex.close()
        summary.seconds = time.monotonic() - start
        if summary.first is not None and shrink:
            cfg = parse_board(text, where=str(path))
            shrunk = shrink_schedule(
                cfg, properties, summary.first, check=check, adversity=adversity
            )
            summary.shrunk = shrunk
            target = Path(save) if save else Path(f"{path.stem}-violation.schedule.json")
            write_schedule(target, path, text, properties, shrunk, adversity=adversity, check=check)
            summary.schedule_file = str(target)
            again = replay(target)
            summary.replay_digest_ok = again["digest"] == shrunk["digest"]
    return summary


def _better_first(new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """Which violation to shrink: a property violation over a mere invariant one, then
    the lowest seed, so a sweep picks the same one however its runs were spread."""
    if old is None:
        return True
    if bool(new["property_violations"]) != bool(old["property_violations"]):
        return bool(new["property_violations"])
    a, b = new.get("seed"), old.get("seed")
    return isinstance(a, int) and isinstance(b, int) and a < b


def resume_records(path: str | Path) -> list[dict[str, Any]]:
    """The run records of an earlier sweep's JSONL file (none if there is no file). A
    last line cut short by a killed sweep is cut from the file, so appending goes on
    cleanly; that run is simply run again."""
    p = Path(path)
    if not p.exists():
        return []
    raw = p.read_bytes()
    records: list[dict[str, Any]] = []
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
            records.append(data)
        kept += len(line)
    if kept < len(raw):
        with p.open("r+b") as f:
            f.truncate(kept)
    elif raw and not raw.endswith(b"\n"):
        with p.open("ab") as f:
            f.write(b"\n")
    return records


def _replay_choices(
    cfg: BoardConfig, properties: list[str], choices: list[Decision], check: bool, adversity: bool
) -> RunRecord:
    strategy = Replay(choices, Default())
    return run_once(cfg, strategy, resolve(properties), check=check, adversity=adversity)


def shrink_schedule(
    cfg: BoardConfig,
    properties: list[str],
    violating: dict[str, Any],
    *,
    check: bool = True,
    adversity: bool = False,
    budget: int = 60,
) -> dict[str, Any]:
    """Fewest non-default decisions that still violate (greedy, from the end).

    Each candidate replays the schedule with one more decision set to its default (0);
    decisions after a divergence fall back to the defaults, so trying a prefix and
    trying a simplification are the same operation.
    """
    best = violating
    signature = _signature(violating)
    tries = 0
    changed = True
    while changed and tries < budget:
        changed = False
        decisions = [Decision.from_json(d) for d in best["schedule"]]
        for i in reversed(range(len(decisions))):
            d = decisions[i]
            default = default_choice(d.kind, d.options)
            if d.choice == default:
                continue
            # set this one decision to its default; later decisions that no longer
            # fit fall back to their defaults too
            trial = [
                Decision(x.kind, x.options, default if j == i else x.choice)
                for j, x in enumerate(decisions)
            ]
            tries += 1
            record = _replay_choices(cfg, properties, trial, check, adversity)
            if record.violated and _signature(record.to_json(True)) == signature:
                best = record.to_json(with_schedule=True)
                changed = True
                break
            if tries >= budget:
                break
    best["essential"] = sum(1 for d in best["schedule"] if d[2] != default_choice(d[0], d[1]))
    best["shrink_tries"] = tries
    return best


def _signature(record: dict[str, Any]) -> str:
    """What kind of violation this is (the first message, minus addresses and numbers),
    so shrinking keeps the same bug instead of wandering to another one."""
    import re

    first = (record["property_violations"] + record["invariant_violations"] + [""])[0]
    return re.sub(r"0x[0-9a-f]+|\d+", "#", first)


def write_schedule(
    target: Path,
    board_path: Path,
    board_text: str,
    properties: list[str],
    record: dict[str, Any],
    *,
    adversity: bool,
    check: bool,
) -> None:
    cfg = parse_board(board_text)
    data = {
        "version": SCHEDULE_VERSION,
        "board": str(board_path),
        "board_digest": cfg.digest,
        "properties": properties,
        "adversity": adversity,
        "check": check,
        "seed": record.get("seed"),
        "digest": record["digest"],
        "verdict": record["verdict"],
        "violations": record["property_violations"] + record["invariant_violations"],
        "essential_decisions": record.get("essential"),
        "decisions": record["schedule"],
    }
    target.write_text(json.dumps(data, indent=1) + "\n")


def replay(schedule_file: str | Path, *, board: str | Path | None = None) -> dict[str, Any]:
    """Run a schedule file again. Follows the recorded decisions while they fit; if the
    board or apps changed, reports where it diverged and continues with defaults."""
    data = json.loads(Path(schedule_file).read_text())
    if data.get("version") != SCHEDULE_VERSION:
        raise ValueError(f"{schedule_file}: unsupported schedule version {data.get('version')}")
    board_path = Path(board or data["board"])
    cfg = load_board(board_path)
    decisions = [Decision.from_json(d) for d in data["decisions"]]
    strategy = Replay(decisions, make_strategy("random", int(data.get("seed") or 0)))
    with zygote_session():
        record = run_once(
            cfg,
            strategy,
            resolve(data["properties"]),
            check=data["check"],
            adversity=data["adversity"],
        )
    result = record.to_json(with_schedule=True)
    result["board_changed"] = cfg.digest != data["board_digest"]
    result["recorded_digest"] = data["digest"]
    result["identical"] = record.digest == data["digest"] and not strategy.divergence
    result["divergence"] = strategy.detail
    return result


def progress_bar(total: int, stream: IO[str] = sys.stderr) -> Callable[[Summary], None]:
    """One status line: runs done, runs/s, violations; with several nodes, each node's
    runs and runs/s too."""

    def show(s: Summary) -> None:
        line = (
            f"\r  runs {s.runs}/{total}  {s.runs_per_second:6.1f} runs/s  "
            f"violations {s.violations}  timeouts {s.timeouts}"
        )
        if len(s.nodes) > 1:
            shown = sorted(s.nodes)[:4]
            line += "  | " + "  ".join(
                f"{n[:8]} {s.nodes[n].runs} ({s.node_rate(n):.1f}/s)" for n in shown
            )
            if len(s.nodes) > len(shown):
                line += f"  +{len(s.nodes) - len(shown)} nodes"
        stream.write(line + "   ")
        if s.runs >= total:
            stream.write("\n")
        stream.flush()

    return show


__all__ = [
    "Default",
    "NodeStats",
    "Summary",
    "explore",
    "replay",
    "resume_records",
    "shrink_schedule",
]
