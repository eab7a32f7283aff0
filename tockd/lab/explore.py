"""Exploration: many controlled runs, the first violation shrunk, saved, replayed.

    summary = explore("configs/rot13_report.toml", ["notify-delivered"], runs=200, jobs=2)
    summary.schedule_file  # the shrunk violating schedule, replayable with `tockd replay`

Runs spread over `jobs` worker processes (each runs whole boards; apps are OS processes
on this machine). Each run writes one JSON record; the first violation found is shrunk
to the fewest decisions that differ from the default and still violate, saved as a
schedule file with the board file's digest, and replayed to check its digest.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tockd.board import BoardConfig, load_board, parse_board
from tockd.lab.properties import resolve
from tockd.lab.run import RunRecord, decisions_of, run_once, worker_zygote, zygote_session
from tockd.lab.strategy import Decision, Exhaustive, Replay, Strategy, make_strategy

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
class Job:
    board_text: str
    board_path: str
    properties: list[str]
    strategy: str
    seed: int
    check: bool
    adversity: bool
    prefix: list[int] = field(default_factory=list)
    preemption_bound: int = 2


def _run_job(job: Job) -> dict[str, Any]:
    cfg = parse_board(job.board_text, where=job.board_path)
    if job.strategy == "exhaustive":
        strategy: Strategy = Exhaustive(job.prefix, job.preemption_bound)
    else:
        strategy = make_strategy(job.strategy, job.seed)
    record = run_once(
        cfg,
        strategy,
        resolve(job.properties),
        check=job.check,
        adversity=job.adversity,
        seed=job.seed,
    )
    data = record.to_json(with_schedule=record.violated)
    if isinstance(strategy, Exhaustive):
        data["next_prefix"] = strategy.next_prefix()
    return data


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

    @property
    def runs_per_second(self) -> float:
        return self.runs / self.seconds if self.seconds else 0.0


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
) -> Summary:
    """Explore `runs` schedules of `board`; see the module docstring."""
    path = Path(board)
    text = path.read_text()
    parse_board(text, where=str(path))  # fail early on a bad board
    resolve(properties)
    summary = Summary()
    start = time.monotonic()

    def jobs_iter() -> Iterator[Job]:
        if strategy == "exhaustive":
            return  # driven below: each prefix depends on the previous run
        for i in range(runs):
            yield Job(text, str(path), properties, strategy, seed + i, check, adversity)

    def consume(data: dict[str, Any]) -> None:
        summary.runs += 1
        summary.digests.add(data["digest"])
        if data["verdict"] == "timeout":
            summary.timeouts += 1
        if data["verdict"] == "violation":
            summary.violations += 1
            # the user's properties come first; an invariant violation is kept only
            # until a property violation turns up
            if summary.first is None or (
                data["property_violations"] and not summary.first["property_violations"]
            ):
                summary.first = data
        if out is not None:
            out.write(json.dumps({k: v for k, v in data.items() if k != "next_prefix"}) + "\n")
            out.flush()
        summary.seconds = time.monotonic() - start
        if progress is not None:
            progress(summary)

    with zygote_session():  # one warm zygote for every run of this exploration
        if strategy == "exhaustive":
            prefix: list[int] | None = []
            while prefix is not None and summary.runs < runs:
                data = _run_job(
                    Job(
                        text,
                        str(path),
                        properties,
                        strategy,
                        summary.runs,
                        check,
                        adversity,
                        prefix,
                    )
                )
                consume(data)
                if stop_at_first and summary.first and summary.first["property_violations"]:
                    break
                prefix = data.get("next_prefix")
        elif jobs <= 1:
            for job in jobs_iter():
                consume(_run_job(job))
                if stop_at_first and summary.first and summary.first["property_violations"]:
                    break
        else:
            # each worker keeps one zygote for its life (closed by its finalizer)
            pool = multiprocessing.get_context("fork").Pool(jobs, initializer=worker_zygote)
            try:
                for data in pool.imap_unordered(_run_job, jobs_iter(), chunksize=4):
                    consume(data)
                    if stop_at_first and summary.first and summary.first["property_violations"]:
                        pool.terminate()
                        break
                else:
                    pool.close()
            finally:
                pool.join()
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
    def show(s: Summary) -> None:
        stream.write(
            f"\r  runs {s.runs}/{total}  {s.runs_per_second:6.1f} runs/s  "
            f"violations {s.violations}  timeouts {s.timeouts}   "
        )
        if s.runs >= total:
            stream.write("\n")
        stream.flush()

    return show


__all__ = ["Default", "Summary", "decisions_of", "explore", "replay", "shrink_schedule"]
