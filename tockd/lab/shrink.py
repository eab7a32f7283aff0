"""A violation found by a sweep: shrunk to its essential decisions, saved as a schedule
file, replayed.

    shrunk = shrink_schedule(cfg, ["notify-delivered"], violating_record)
    write_schedule(Path("bug.schedule.json"), board_path, board_text, props, shrunk, ...)
    replay("bug.schedule.json")["identical"]

Shrinking and replay fall back to the default choice (`default_choice`) wherever a
schedule says nothing, so a schedule only has to hold the decisions that differ from it.
Split from tockd.lab.explore (issue 14: module size); explore re-exports these names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tockd.board import BoardConfig, load_board, parse_board
from tockd.lab.controlled import TIMER_RULES, TIMERS_DECIDED, TIMERS_IMPLICIT, YIELDS_DECIDED
from tockd.lab.properties import resolve
from tockd.lab.run import RunJson, RunRecord, run_once, zygote_session
from tockd.lab.strategy import Decision, Replay, Strategy, make_strategy

#: version 3: a yield with something queued is followed by a switch decision; the file
#: names its rule ("timers", tockd/lab/controlled.py). Files of version 2 (timers fire
#: only at decisions, a yield takes what is queued at once) and of version 1 (the clock
#: moved per syscall) replay under their own rule
SCHEDULE_VERSION = 3

#: replays shrinking may spend on one violation
SHRINK_BUDGET = 60


class ReplayJson(RunJson):
    """What `replay` returns: the run's record, and how it compares to the saved one."""

    board_changed: bool
    recorded_digest: str
    identical: bool


def schedule_timers(data: dict[str, object]) -> str:
    """The rule a schedule file's run was recorded under (tockd/lab/controlled.py):
    version 1, before timers were decisions, "implicit"; version 2, before a yield that
    found work was a decision, "decided"; version 3 says. ValueError for a version or
    rule this tockd does not know."""
    version = data.get("version")
    if version == 1:
        return TIMERS_IMPLICIT
    if version not in (2, SCHEDULE_VERSION):
        raise ValueError(f"unsupported schedule version {version!r} (known: 1, 2, 3)")
    rule = data.get("timers", TIMERS_DECIDED if version == 2 else YIELDS_DECIDED)
    if rule not in TIMER_RULES:
        raise ValueError(f"unknown timer rule {rule!r} (known: {', '.join(TIMER_RULES)})")
    return str(rule)


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


def _replay_choices(
    cfg: BoardConfig,
    properties: list[str],
    choices: list[Decision],
    check: bool,
    adversity: bool,
    max_steps: int | None,
) -> RunRecord:
    strategy = Replay(choices, Default())
    return run_once(
        cfg, strategy, resolve(properties), check=check, adversity=adversity, max_steps=max_steps
    )


def shrink_schedule(
    cfg: BoardConfig,
    properties: list[str],
    violating: RunJson,
    *,
    check: bool = True,
    adversity: bool = False,
    budget: int = SHRINK_BUDGET,
    max_steps: int | None = None,
) -> RunJson:
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
            default = default_choice(decisions[i].kind, decisions[i].options)
            if decisions[i].choice == default:
                continue
            tries += 1
            candidate = _with_default(decisions, i, default)
            record = _replay_choices(cfg, properties, candidate, check, adversity, max_steps)
            data = record.to_json(with_schedule=True)
            if record.violated and _signature(data) == signature:
                best = data
                changed = True
                break
            if tries >= budget:
                break
    final = [Decision.from_json(d) for d in best["schedule"]]
    best["essential"] = sum(1 for d in final if d.choice != default_choice(d.kind, d.options))
    best["shrink_tries"] = tries
    return best


def _with_default(decisions: list[Decision], i: int, default: int) -> list[Decision]:
    """`decisions` with decision `i` set to its default; later decisions that no longer
    fit fall back to their defaults too, when replayed."""
    return [
        Decision(x.kind, x.options, default if j == i else x.choice)
        for j, x in enumerate(decisions)
    ]


def _signature(record: RunJson) -> str:
    """What kind of violation this is (the first message, minus addresses and numbers),
    so shrinking keeps the same bug instead of wandering to another one."""
    first = (record["property_violations"] + record["invariant_violations"] + [""])[0]
    return re.sub(r"0x[0-9a-f]+|\d+", "#", first)


def write_schedule(
    target: Path,
    board_path: Path,
    board_text: str,
    properties: list[str],
    record: RunJson,
    *,
    adversity: bool,
    check: bool,
    max_steps: int | None = None,
) -> None:
    """Save `record`'s schedule, with what replaying it needs (the board, its digest,
    the properties and modes, a step budget other than the default) and what it should
    give (digest, verdict)."""
    cfg = parse_board(board_text)
    data = {
        "version": SCHEDULE_VERSION,
        "timers": YIELDS_DECIDED,
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
    if max_steps is not None:
        data["max_steps"] = max_steps
    target.write_text(json.dumps(data, indent=1) + "\n")


@dataclass(frozen=True)
class ScheduleFile:
    """A schedule file as `write_schedule` writes it, read back: by `replay`, by a board
    that follows it (tockd/lab/follow.py) and by `tockd replay --tui`."""

    path: Path
    timers: str  # the timer rule it was recorded under (tockd/lab/controlled.py)
    board: str
    board_digest: str
    properties: list[str]
    adversity: bool
    check: bool
    seed: int
    digest: str
    verdict: str
    violations: list[str]
    decisions: list[Decision]
    #: the step budget of the sweep that saved it (None: the default)
    max_steps: int | None = None

    @staticmethod
    def read(path: Path) -> ScheduleFile:
        """The file at `path`; OSError, ValueError or KeyError if it is not one."""
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a schedule file (a JSON object)")
        board = data["board"]
        if not isinstance(board, str) or not board:
            raise ValueError(f"the board is a file's path, not {board!r}")
        max_steps = data.get("max_steps")
        if max_steps is not None and (type(max_steps) is not int or max_steps < 1):
            raise ValueError(f"max_steps is a count of 1 or more, not {max_steps!r}")
        return ScheduleFile(
            path=path,
            timers=schedule_timers(data),
            board=board,
            board_digest=str(data["board_digest"]),
            properties=[str(p) for p in data["properties"]],
            adversity=bool(data.get("adversity")),
            check=bool(data.get("check", True)),
            seed=int(data.get("seed") or 0),
            digest=str(data["digest"]),
            verdict=str(data["verdict"]),
            violations=[str(v) for v in data.get("violations", [])],
            decisions=[Decision.from_json(d) for d in data["decisions"]],
            max_steps=max_steps,
        )

    def strategy(self) -> Replay:
        """What a replay follows it with: the recorded decisions, then, where they no
        longer fit, a random walk seeded with the file's seed."""
        return Replay(self.decisions, make_strategy("random", self.seed))


def replay(schedule_file: str | Path, *, board: str | Path | None = None) -> ReplayJson:
    """Run a schedule file again. Follows the recorded decisions while they fit; if the
    board or apps changed, reports where it diverged and continues with defaults.
    OSError, ValueError or KeyError if it is not a schedule file (the caller names it)."""
    schedule = ScheduleFile.read(Path(schedule_file))
    cfg = load_board(Path(board or schedule.board))
    strategy = schedule.strategy()
    with zygote_session():
        record = run_once(
            cfg,
            strategy,
            resolve(schedule.properties),
            check=schedule.check,
            adversity=schedule.adversity,
            timers=schedule.timers,
            max_steps=schedule.max_steps,
        )
    return {
        **record.to_json(with_schedule=True),
        "board_changed": cfg.digest != schedule.board_digest,
        "recorded_digest": schedule.digest,
        "identical": record.digest == schedule.digest and not strategy.divergence,
        "divergence": strategy.detail,
    }


__all__ = [
    "SCHEDULE_VERSION",
    "Default",
    "ReplayJson",
    "ScheduleFile",
    "default_choice",
    "replay",
    "schedule_timers",
    "shrink_schedule",
    "write_schedule",
]
