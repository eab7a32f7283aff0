"""Strategies: who decides at each choice point of a controlled run.

A decision point offers a list of options (labels such as "run 1", "advance 1300us",
"continue", "preempt", "fault 0"); the strategy picks an index. Everything a run does
follows from these picks, so the list of picks (the schedule) replays the run exactly.

- RandomWalk(seed): uniform choices, with preemption and adversity kept rare.
- PCT(seed, depth, steps): probabilistic concurrency testing (Burckhardt et al. 2010):
  random priorities, `depth - 1` priority change points; finds any bug of depth d with
  probability at least 1/(n * k^(d-1)).
- Exhaustive(prefix, preemption_bound): depth-first over decisions; each run follows a
  prefix and takes the first option after it; `next_prefix` backtracks.
- Replay(schedule, fallback): follows a recorded schedule and reports the first point
  where the offered options differ from the record, then continues with `fallback`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tockd.lab.steps import Step

#: a preemption bound that never binds (`tockd explore --preemption-bound none`): the
#: exhaustive search is then complete, and its reduction keeps sleep sets
#: (tockd/lab/dpor.py); it may not end on a big board
UNBOUNDED = 1_000_000

#: a strategy's own description of itself (its `describe()`): its shape is its own
StrategyJson = dict[str, object]
#: a decision as a schedule file and a run record hold it: [kind, options, choice]
DecisionJson = list[object]


@dataclass
class Decision:
    kind: str  # a DecisionKind: "run" | "switch" | "timer" | "adversity"
    options: list[str]
    choice: int

    def to_json(self) -> DecisionJson:
        return [self.kind, self.options, self.choice]

    @staticmethod
    def from_json(data: object) -> Decision:
        """A decision read back from JSON or msgpack; ValueError if it is not one."""
        if not isinstance(data, list) or len(data) != 3:
            raise ValueError(f"a decision is [kind, options, choice], not {data!r:.60}")
        kind, options, choice = data
        if not isinstance(options, list) or type(choice) is not int:
            raise ValueError(f"a decision is [kind, options, choice], not {data!r:.60}")
        return Decision(str(kind), [str(o) for o in options], choice)


class Strategy:
    """Picks an option at each decision point."""

    name = "strategy"

    def on_step(self, step: Step) -> None:
        """A step of the run ended (tockd/lab/steps.py); most strategies ignore it."""

    def choose(self, kind: str, options: list[str], step: int) -> int:
        raise NotImplementedError

    def describe(self) -> StrategyJson:
        return {"name": self.name}


class RandomWalk(Strategy):
    """Seeded uniform choices. Preempting a running process and injecting adversity are
    kept rare (`preempt`, `adversity` probabilities) so runs stay realistic."""

    name = "random"

    def __init__(self, seed: int, preempt: float = 0.15, adversity: float = 0.02) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.preempt = preempt
        self.adversity = adversity

    def choose(self, kind: str, options: list[str], step: int) -> int:
        if kind == "switch":  # options[0] = continue
            if self.rng.random() >= self.preempt:
                return 0
            return self.rng.randrange(1, len(options))
        if kind == "adversity":  # options[0] = none
            if self.rng.random() >= self.adversity:
                return 0
            return self.rng.randrange(1, len(options))
        return self.rng.randrange(len(options))

    def describe(self) -> StrategyJson:
        return {
            "name": self.name,
            "seed": self.seed,
            "preempt": self.preempt,
            "adversity": self.adversity,
        }


class PCT(Strategy):
    """Probabilistic concurrency testing over the labels offered.

    Every label (a process, or the passage of time) gets a random priority; the highest
    priority option is taken; at `depth - 1` random steps the priority of what ran
    drops below all others.
    """

    name = "pct"

    def __init__(self, seed: int, depth: int = 3, steps: int = 200) -> None:
        self.seed = seed
        self.depth = depth
        self.steps = steps
        self.rng = random.Random(seed)
        self.priority: dict[str, float] = {}
        self.change_points = set(self.rng.sample(range(1, steps + 1), max(0, depth - 1)))
        self.low = 0.0
        self.last: str | None = None

    def _prio(self, label: str) -> float:
        if label not in self.priority:
            self.priority[label] = 1.0 + self.rng.random()
        return self.priority[label]

    def choose(self, kind: str, options: list[str], step: int) -> int:
        if step in self.change_points and self.last is not None:
            self.low -= 1.0
            self.priority[self.last] = self.low  # below every initial priority
        if kind == "adversity":
            return 0 if self.rng.random() >= 0.02 else self.rng.randrange(1, len(options))
        labels = [_actor(o) for o in options]
        best = max(range(len(options)), key=lambda i: self._prio(labels[i]))
        self.last = labels[best]
        return best

    def describe(self) -> StrategyJson:
        return {"name": self.name, "seed": self.seed, "depth": self.depth, "steps": self.steps}


def _actor(option: str) -> str:
    """The thing an option runs: "continue 1" and "run 1" are both process 1."""
    parts = option.split()
    return parts[-1] if parts and parts[0] in ("run", "continue", "preempt") else option


class Exhaustive(Strategy):
    """Follow `prefix`, then always the first option; records the option counts so
    `next_prefix` can backtrack depth-first. At most `preemption_bound` preemptions."""

    name = "exhaustive"

    def __init__(self, prefix: list[int], preemption_bound: int = 2) -> None:
        self.prefix = list(prefix)
        self.preemption_bound = preemption_bound
        self.counts: list[int] = []
        self.taken: list[int] = []
        self.kinds: list[str] = []
        self.preemptions = 0

    def choose(self, kind: str, options: list[str], step: int) -> int:
        i = len(self.taken)
        pick = self.prefix[i] if i < len(self.prefix) else 0
        pick = min(pick, len(options) - 1)
        if kind in ("switch", "adversity") and pick > 0:
            self.preemptions += 1
        self.counts.append(len(options))
        self.taken.append(pick)
        self.kinds.append(kind)
        return pick

    def next_prefix(self) -> list[int] | None:
        """The next schedule prefix depth-first, or None when the tree is done."""
        preempted = [
            k in ("switch", "adversity") and t > 0
            for k, t in zip(self.kinds, self.taken, strict=True)
        ]
        for i in range(len(self.taken) - 1, -1, -1):
            if self.taken[i] + 1 < self.counts[i]:
                used = sum(preempted[:i])
                extra = 1 if self.kinds[i] in ("switch", "adversity") else 0
                if used + extra > self.preemption_bound:
                    continue
                return [*self.taken[:i], self.taken[i] + 1]
        return None

    def describe(self) -> StrategyJson:
        return {"name": self.name, "prefix": self.prefix, "preemption_bound": self.preemption_bound}


@dataclass
class Replay(Strategy):
    """Follow a recorded schedule; note the first divergence, then use `fallback`."""

    decisions: list[Decision]
    fallback: Strategy
    divergence: int | None = None
    detail: str = ""
    position: int = field(default=0)
    name = "replay"

    def choose(self, kind: str, options: list[str], step: int) -> int:
        i = self.position
        self.position += 1
        if self.divergence is None and i < len(self.decisions):
            rec = self.decisions[i]
            if rec.kind == kind and rec.options == options:
                return rec.choice
            self.divergence = i
            self.detail = f"decision {i}: recorded {rec.kind} {rec.options}, now {kind} {options}"
        elif self.divergence is None and i >= len(self.decisions):
            self.divergence = i
            self.detail = f"decision {i}: the recorded schedule has only {len(self.decisions)}"
        return self.fallback.choose(kind, options, step)

    def describe(self) -> StrategyJson:
        return {
            "name": self.name,
            "decisions": len(self.decisions),
            "fallback": self.fallback.describe(),
        }


def make_strategy(name: str, seed: int, **kw: Any) -> Strategy:
    if name == "random":
        return RandomWalk(seed, **kw)
    if name == "pct":
        return PCT(seed, **kw)
    if name == "exhaustive":
        return Exhaustive(kw.get("prefix", []), kw.get("preemption_bound", 2))
    raise ValueError(f"unknown strategy {name!r} (known: random, pct, exhaustive)")
