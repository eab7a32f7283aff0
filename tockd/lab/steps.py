"""A run as steps: who acted, what it touched, and which steps raced.

The controlled scheduler (tockd/lab/controlled.py) cuts a run into steps: a process
from the moment it gets the CPU until its next syscall is handled (or it stops
running), or time passing to the next timer, which fires. Each step carries its
footprint (tockd/kernel/footprint.py). From the steps follow:

- which steps *race*: two dependent steps of different actors with nothing in between
  that orders them (a happens-before relation built with vector clocks). Reversing a
  race gives a run that is not equivalent; reversing two independent steps does not;
- the run's *ordering*: its equivalence class (Mazurkiewicz trace), as a hash of the
  order of the dependent steps only. Two runs that differ only by swapping independent
  steps have the same ordering;
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from tockd.kernel.footprint import ADD, EVERYTHING, READ, Footprint, conflicts

#: the actor of a step of time passing (a timer firing)
TIME = "time"
#: the actor of an injected fault, restart or failure (adversity)
ADVERSITY = "adversity"

#: one step as JSON: [actor, node, [[resource, mode], ...], label, after]
StepJson = list[object]


@dataclass(frozen=True)
class Step:
    """One step of a run."""

    actor: str  # a process index ("0", "1", ...), TIME or ADVERSITY
    #: the decision (0-based) that chose this step; -1 when there was no choice
    node: int
    fp: Footprint
    label: str  # what the step did, for people ("rot13_client: command ipc.2")
    #: decisions taken before this step began
    after: int

    def to_json(self) -> StepJson:
        fp = sorted(self.fp.items())
        return [self.actor, self.node, fp, self.label, self.after]

    @staticmethod
    def from_json(data: StepJson) -> Step:
        actor, node, fp, label, after = data
        assert isinstance(fp, list) and isinstance(node, int) and isinstance(after, int)
        footprint = {str(r): int(m) for r, m in fp}
        return Step(str(actor), node, footprint, str(label), after)


@lru_cache(maxsize=4096)  # the search asks again and again of the same few options
def actor_of(option: str) -> str | None:
    """Whose step an option of a run or switch decision starts ("run 1", "continue 1",
    "preempt 1": process 1; "advance ...": time); None for an option that is not an
    actor's (which timer fires first, which adversity)."""
    head, _, rest = option.partition(" ")
    if head in ("run", "continue", "preempt"):
        return rest
    if head == "advance":
        return TIME
    return None


def races(steps: list[Step]) -> list[tuple[int, int]]:
    """The races of a run, (j, k) with j before k: step k and every earlier step j of
    another actor that k depends on with nothing between them ordering the two (j
    happens before neither k's actor's previous step nor another step k depends on).
    Running k's actor before j gives a run of another ordering. (Flanagan and
    Godefroid take only the latest j; under a preemption bound reversing that one may
    not fit, and an earlier one's reversal is then lost: 9 of 36 observations of
    configs/mailbox_race.toml at bound 1.)"""
    return HappensBefore.of(steps).races


#: `HappensBefore`'s name for "every step", apart from the resource EVERYTHING
_ALL = "\0all"


class HappensBefore:
    """Each step's vector clock (for every actor, its latest step that happens before
    or is this one) and the run's races (`races`), built step by step: `add` takes the
    next step. `copy` gives an independent one that can go on from here another way:
    the search reads the races of many runs that share a prefix (tockd/lab/dpor.py,
    `_replay`) and works the prefix out once."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.clocks: list[dict[str, int]] = []
        #: (j, k) for each race, in the order `races` gives them
        self.races: list[tuple[int, int]] = []
        self._last: dict[str, int] = {}
        # the steps of each actor that touched each resource, in order (ALL: every
        # step): those up to the actor's entry in k's actor's previous clock are
        # ordered before k, whatever else k depends on, so only later ones are read
        self._by_resource: dict[str, dict[str, list[int]]] = {}

    @classmethod
    def of(cls, steps: list[Step]) -> HappensBefore:
        """The clocks and races of `steps`."""
        hb = cls()
        for step in steps:
            hb.add(step)
        return hb

    def copy(self) -> HappensBefore:
        out = HappensBefore()
        out.steps = list(self.steps)
        out.clocks = list(self.clocks)  # a step's clock never changes once made
        out.races = list(self.races)
        out._last = dict(self._last)
        out._by_resource = {
            r: {a: list(seen) for a, seen in by.items()} for r, by in self._by_resource.items()
        }
        return out

    def add(self, step: Step) -> None:
        steps, clocks, last, by_resource = self.steps, self.clocks, self._last, self._by_resource
        actor, fp = step.actor, step.fp
        k = len(steps)
        steps.append(step)
        at = last.get(actor)
        prev = clocks[at] if at is not None else _NO_CLOCK
        clock = prev.copy()
        candidates: set[int] = set()
        for resource in (_ALL,) if EVERYTHING in fp else (EVERYTHING, *fp):
            by = by_resource.get(resource)
            if by is None:
                continue
            for other, seen in by.items():
                if other != actor:
                    start = bisect_right(seen, prev.get(other, -1))
                    if start < len(seen):
                        candidates.update(seen[start:])
        raced: list[int] = []
        # scanning down, `clock` is k's actor's previous step's clock joined with the
        # clocks of the steps k depends on after j: j races with k unless one of them
        # (or that previous step) happens after it, and then j's clock adds nothing
        for j in sorted(candidates, reverse=True):
            other_step = steps[j]
            if clock.get(other_step.actor, -1) >= j or not conflicts(other_step.fp, fp):
                continue
            raced.append(j)
            for who, when in clocks[j].items():
                if clock.get(who, -1) < when:
                    clock[who] = when
        clock[actor] = k
        clocks.append(clock)
        last[actor] = k
        for resource in (_ALL, *fp):
            by = by_resource.get(resource)
            if by is None:
                by_resource[resource] = {actor: [k]}
                continue
            mine = by.get(actor)
            if mine is None:
                by[actor] = [k]
            else:
                mine.append(k)
        if raced:
            self.races.extend((j, k) for j in reversed(raced))


#: the clock before an actor's first step
_NO_CLOCK: dict[str, int] = {}


class Race(NamedTuple):
    """A race (`races`) and who can go first to reverse it."""

    earlier: int  # step j
    later: int  # step k
    #: the actors that can take the first step of a run where k comes before j: the
    #: *initials* of source-DPOR (Abdulla et al., POPL 2014)
    first: tuple[str, ...]


def reversals(steps: list[Step]) -> list[Race]:
    """Each race (j, k) with the actors that can go first in a run where k comes before
    j. They are the actors whose first step among v, the steps after j that do not
    happen after j and then k, has nothing in v happening before it. k's actor is one
    only when no step of v orders k after it. When k waits on another actor's step of
    v (a timer fires only after a write armed it), that actor has to go first: trying
    k's actor at j gives a run where k still comes after j, or one that costs another
    preemption (the step of v, then k), which the bound may not allow. On
    tests/apps/overflow.py beside hello at bound 1, taking k's actor missed 160 of the
    full sweep's 994 orderings."""
    hb = HappensBefore.of(steps)
    return initials(hb, hb.races)


def initials(hb: HappensBefore, raced: list[tuple[int, int]]) -> list[Race]:
    """`reversals` of the races `raced` of the run `hb` holds."""
    steps, clocks = hb.steps, hb.clocks
    out: list[Race] = []
    for j, k in raced:
        actor_j = steps[j].actor
        between = [i for i in range(j + 1, k) if clocks[i].get(actor_j, -1) < j]
        between.append(k)
        first: list[str] = []
        seen: set[str] = set()
        for pos, i in enumerate(between):
            actor = steps[i].actor
            if actor in seen:
                continue
            seen.add(actor)
            if not any(clocks[i].get(steps[e].actor, -1) >= e for e in between[:pos]):
                first.append(actor)
        out.append(Race(j, k, tuple(first)))
    return out


class Ordering:
    """A run's equivalence class, built step by step: for every resource, the order in
    which actors' steps used it (each step named by its actor, its number among that
    actor's steps and what it did). Reads between two writes are kept as a set, adds
    as a set; so runs that only reorder independent steps give the same `digest`. A
    step that touches everything is ordered against every other step. After the steps
    of a run's prefix, equal digests mean the kernel and the apps are in the same
    state: the same steps ran, dependent ones in the same order.

    The digest is kept up to date as steps come, in time of the step's footprint
    alone: exploration asks for it at every decision of a run, and a run of 20,000
    steps must not cost 20,000 passes over all of them. Each resource's sequence is a
    hash chain, a set of reads or adds the sum of its members' hashes (any order gives
    the same sum), and the whole a sum over resources and actors' step counts."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        #: resource -> (hash chain of what is closed, kind of the open set or "", the
        #: sum of its members' hashes, the hash of all three with the resource's name)
        self._seq: dict[str, tuple[str, str, int, int]] = {}
        self._total = 0  # the sum of the resources' hashes, mod 2**128
        self._actors: dict[str, int] = {}  # actor -> hash of its name and step count

    def add(self, step: Step) -> None:
        actor = step.actor
        n = self.counts.get(actor, 0)
        self.counts[actor] = n + 1
        self._actors[actor] = _h("n", actor, str(n + 1))
        name = f"{actor}#{n} {step.label}"
        member = _h("m", name)
        fp = step.fp if EVERYTHING in step.fp else {**step.fp, EVERYTHING: READ}
        total = self._total
        seqs = self._seq
        for resource, mode in fp.items():
            chain, kind, members, old = seqs.get(resource) or ("", "", 0, 0)
            new = "r" if mode == READ else "a" if mode == ADD else "w"
            if new == kind:
                members = (members + member) % _MOD
            else:
                if kind:  # the open set is closed by what comes after it
                    chain = _hex("s", chain, kind, str(members))
                if new == "w":
                    chain, kind, members = _hex("w", chain, name), "", 0
                else:
                    kind, members = new, member
            state = _h("r", resource, chain, kind, str(members))
            seqs[resource] = (chain, kind, members, state)
            total += state - old
        self._total = total % _MOD

    def digest(self) -> str:
        actors = sum(self._actors.values()) % _MOD
        return _hex("d", str(actors), str(self._total))[:16]


_MOD = 1 << 128


@lru_cache(maxsize=1 << 16)  # the search walks the same steps again and again
def _hex(*parts: str) -> str:
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()


@lru_cache(maxsize=1 << 16)
def _h(*parts: str) -> int:
    return int(_hex(*parts), 16)


def ordering_of(steps: list[Step]) -> str:
    """The run's equivalence class as a short hash: the same classes as `Ordering`,
    worked out at once from the whole run (the canonical form, hashed once, costs less
    than keeping it up to date step by step when only the end is wanted)."""
    counts: dict[str, int] = {}
    per_resource: dict[str, list[object]] = {}
    for step in steps:
        n = counts.get(step.actor, 0)
        counts[step.actor] = n + 1
        name = f"{step.actor}#{n} {step.label}"
        fp = step.fp if EVERYTHING in step.fp else {**step.fp, EVERYTHING: READ}
        for resource, mode in fp.items():
            seq = per_resource.setdefault(resource, [])
            kind = "r" if mode == READ else "a" if mode == ADD else "w"
            if kind == "w":
                seq.append(name)
            elif seq and isinstance(seq[-1], list) and seq[-1][0] == kind:
                seq[-1].append(name)
            else:
                seq.append([kind, name])
    canon = {
        r: [sorted(x) if isinstance(x, list) else x for x in seq] for r, seq in per_resource.items()
    }
    text = json.dumps([sorted(counts.items()), sorted(canon.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


__all__ = [
    "ADVERSITY",
    "TIME",
    "HappensBefore",
    "Ordering",
    "Race",
    "Step",
    "StepJson",
    "actor_of",
    "initials",
    "ordering_of",
    "races",
    "reversals",
]
