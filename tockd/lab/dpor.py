"""Exhaustive search that skips schedules which only reorder independent steps.

`Exhaustive` (tockd/lab/strategy.py) tries every option at every decision, so it runs
every interleaving of steps that do not touch each other, again and again. This search
(dynamic partial-order reduction, as in Loom or Nidhugg) tries another option only
where the order of two dependent steps can change (tockd/lab/steps.py), within the same
preemption bound:

- **Races add branches** (Flanagan and Godefroid, POPL 2005). After each run, for every
  race (step j of one actor, then a dependent step k of another, nothing between them
  ordering the two) the decision that chose j gets a branch to try for the actors that
  can go first in a run where k comes before j (`steps.reversals`: the initials of
  source-DPOR, Abdulla et al., POPL 2014), unless one of them is a branch there
  already. That is k's actor only when nothing run between them orders k after it;
  otherwise it is the actor that must go first (the app whose write arms the timer k
  fires). If such an actor could not run there, every option there is tried. An
  option that races with nothing is never tried.
- **Steps taken away count as races** (`disabled`): an actor that could go at a
  decision, did not, and could not at the next (the last app exited, so a timer
  never fired) gets a branch there. No race shows it, since its step never ran.
- **The preemption bound** holds as in `Exhaustive`: a switch away from a process that
  could go on costs one. A branch over the bound goes instead to the latest earlier
  decision where the actor could be chosen at no cost (after a process blocked): the
  conservative rule of bounded POR (Coons, Musuvathi and McKinley, OOPSLA 2013).
  This holds for races past the point where a run's path stops being folded in (see
  below) too: their fallback may be a decision before that point.
- **Sleep sets, only with no preemption bound** (Godefroid 1996). At a decision, an
  actor whose step was already tried from there sleeps in a sibling branch while the
  steps taken are independent of that step: no branch is added for it, a run takes an
  awake option first, and a run that could go on only with sleeping actors has nothing
  new past that point (it is not folded in further). Under a preemption bound they
  are wrong, and no rule found here mends them: the run they take as covering one of
  the branch's is the same ordering but may cost more preemptions. Taking the
  sleeper's step first can move a step that ended its turn, and with it the free
  decision that followed: one app blocks after a preemption, so time passes at a free
  decision, and another is then run at no cost; with the block moved first, time
  passes at a switch and running the other is a second preemption
  (tests/lab/test_search_model.py). Kept under the bound (even only where taking the
  sleeper first and coming back cost no more than the branch did), they lost 6 of the
  349 orderings of tests/apps/restarter.py beside hello at bound 1, and orderings in
  17 and 32 of 300 random programs of the model at bounds 1 and 2; without them,
  restarter lost none and the model 6 and 9 (4 and 5 since time stopped standing for
  the other actors that can go first, `_tried`). So a bounded search
  (`--preemption-bound N`) has none; an unbounded one (`--preemption-bound none`) has
  them.
- **States searched once.** Equivalent prefixes lead to the same state (the same steps
  ran, dependent ones in the same order). A run's path is folded into the tree only up
  to the first decision whose state (`steps.Ordering` of the steps before it, and which
  process runs) the tree already holds with no more preemptions spent: everything
  after it was searched from there, with at least as much budget left. The run's races
  are still all read, to the end: one whose later step comes past that point may ask
  for a branch before it, on this run's path, that the other path did not have.
  (Reading them only up to that point lost 1 of the 36 observations of
  configs/mailbox_race.toml at bound 1.) Nor is that run's way on all there is: every
  way on from that state, run before or after, is replayed on this path (a run made
  of this path's way there and the other's way on, `DporSearch._replay`), and its
  races ask for branches here as this run's own would. This is the summary of stateful
  DPOR (Yang et al., SPIN 2008): a race between a step before the state and one after
  it asks, on each way to the state, for a branch at another decision and cost.
- Decisions that are not an actor's (which of two timers due at once fires first,
  adversity) are branched on every option, with no sleep set below them.

`DporSearch` keeps the tree and hands out branches: a prefix of choices to replay, and
the sleep set at its last decision (`Guided` follows it). It hands them out in rounds
of `ROUND` branches, deepest first, and takes their results back in that order, so
the same runs are made however many workers run them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate
from typing import NotRequired, TypedDict

from tockd.kernel.footprint import Footprint, conflicts
from tockd.lab.steps import (
    TIME,
    HappensBefore,
    Ordering,
    Race,
    Step,
    StepJson,
    actor_of,
    initials,
    ordering_of,
    reversals,
)
from tockd.lab.strategy import UNBOUNDED, Decision, DecisionJson, Strategy, StrategyJson

#: branches handed out per round: their runs may go to several workers at once. Each
#: round ends with the workers waiting for the last of its runs and for the search to
#: fold them in: at 8, the hardened rot13_report sweep kept 2 cores 90% busy and made
#: 197 runs; at 32, 94% and 191 runs (the same orderings and observations there and on
#: mailbox_race, rot13 and rot13_report; mailbox_race took 735 runs for 731)
ROUND = 32

#: a sleep set as JSON: [[actor, [[resource, mode], ...]], ...]
SleepJson = list[list[object]]


class TraceJson(TypedDict):
    """A run's decisions and steps, for the search that chose it (tockd/lab/dpor.py)."""

    decisions: list[DecisionJson]
    steps: list[StepJson]
    sleeps: list[list[object]]  # [[decision index, SleepJson], ...]
    blocked_at: NotRequired[int | None]
    races: NotRequired[list[tuple[int, int, list[str]]]]  # `steps.reversals`
    ordering: NotRequired[str]  # `steps.ordering_of` its steps


#: a decision point's state (`DporSearch._key`)
_Key = tuple[str, str, str]

#: a sleep set: actor -> the footprint of the step it would take
Sleep = dict[str, Footprint]


def sleep_to_json(sleep: Sleep) -> SleepJson:
    return [[actor, sorted(fp.items())] for actor, fp in sorted(sleep.items())]


def sleep_from_json(data: SleepJson) -> Sleep:
    out: Sleep = {}
    for actor, fp in data:
        assert isinstance(fp, list)
        out[str(actor)] = {str(r): int(m) for r, m in fp}
    return out


def wake(sleep: Sleep, step: Step) -> Sleep:
    """The sleep set after `step`: an actor stays asleep while the steps taken are
    independent of the step it would take."""
    return {
        actor: fp
        for actor, fp in sleep.items()
        if actor != step.actor and not conflicts(fp, step.fp)
    }


def _costly(kind: str, option: int) -> bool:
    """Does taking `option` of a `kind` decision count against the preemption bound?"""
    return kind in ("switch", "adversity") and option > 0


class Guided(Strategy):
    """Replays `prefix`, then takes the first option whose actor is not asleep and that
    the preemption bound allows; `sleep` is the sleep set at the prefix's last decision
    (the branch). When every option left sleeps, `blocked_at` says where, and the run
    goes on with the first the bound allows (what follows is already searched)."""

    name = "dpor"

    def __init__(self, prefix: list[int], sleep: Sleep, preemption_bound: int = 2) -> None:
        self.prefix = list(prefix)
        self.preemption_bound = preemption_bound
        self.sleep = dict(sleep)
        self.active = not self.prefix  # the sleep set applies from the branch on
        self.preemptions = 0
        self.taken: list[int] = []
        #: the sleep set at each decision after the branch, by decision index
        self.sleeps: dict[int, Sleep] = {}
        #: the decision at which only sleeping actors could go on, if it came to that:
        #: the run goes on, but what follows repeats runs already made
        self.blocked_at: int | None = None

    def choose(self, kind: str, options: list[str], step: int) -> int:
        i = len(self.taken)
        if i < len(self.prefix):
            pick = min(self.prefix[i], len(options) - 1)
            if i == len(self.prefix) - 1:
                self.active = True
        else:
            pick = self._first_awake(kind, options, i)
        self.preemptions += _costly(kind, pick)
        self.taken.append(pick)
        return pick

    def _first_awake(self, kind: str, options: list[str], i: int) -> int:
        if any(actor_of(o) is None for o in options):
            self.sleep = {}  # not an actor's decision: nothing sleeps below it
        self.sleeps[i] = dict(self.sleep)
        allowed = [
            p
            for p in range(len(options))
            if self.preemptions + _costly(kind, p) <= self.preemption_bound
        ]
        for pick in allowed:
            if actor_of(options[pick]) not in self.sleep:
                return pick
        self._block(i)  # every way on was searched already
        return allowed[0] if allowed else 0

    def _block(self, decision: int) -> None:
        if self.blocked_at is None:
            self.blocked_at = decision
        self.sleep = {}

    def on_step(self, step: Step) -> None:
        if not self.active:
            return
        if step.actor in self.sleep:  # the only way on was searched already
            self._block(len(self.taken))
            return
        self.sleep = wake(self.sleep, step)

    def describe(self) -> StrategyJson:
        return {
            "name": self.name,
            "prefix": self.prefix,
            "preemption_bound": self.preemption_bound,
        }


@dataclass
class Node:
    """A decision of the search tree."""

    kind: str
    options: list[str]
    depth: int
    parent: Node | None
    choice_in_parent: int
    cost_before: int  # preemptions on the way here
    sleep: Sleep = field(default_factory=dict)  # asleep on arrival
    backtrack: set[int] = field(default_factory=set)
    done: set[int] = field(default_factory=set)
    #: the footprint of the step each tried option led to
    fps: dict[int, Footprint] = field(default_factory=dict)
    children: dict[int, Node] = field(default_factory=dict)
    #: its state (`DporSearch._key`)
    key: _Key = ("", "", "")

    @cached_property
    def actors(self) -> list[str | None]:
        """Whose step each option starts (`steps.actor_of`); a node's options never
        change."""
        return [actor_of(o) for o in self.options]

    def allowed(self, option: int, bound: int) -> bool:
        return self.cost_before + _costly(self.kind, option) <= bound

    def path(self) -> list[int]:
        out: list[int] = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            out.append(node.choice_in_parent)
            node = node.parent
        return out[::-1]


@dataclass
class _Run:
    """A run (or a replay, `DporSearch._replay`) and its path in the tree."""

    path: list[Node]
    trace: RunTrace
    ordering: str  # `steps.ordering_of` its steps
    #: for a visit (a run's way to a state searched from elsewhere): the vector clocks
    #: of its steps, worked out at its first replay and copied for each
    hb: HappensBefore | None = None


@dataclass
class _Held:
    node: Node
    cost: int


@dataclass(frozen=True)
class Branch:
    """One run to make: follow `prefix`, with `sleep` asleep at its last decision."""

    prefix: list[int]
    sleep: Sleep


@dataclass
class RunTrace:
    """What the search needs back from a run."""

    decisions: list[Decision]
    steps: list[Step]
    sleeps: dict[int, Sleep]
    #: the decision from which the run only repeated runs already made (`Guided`)
    blocked_at: int | None = None
    #: its races and their reversals (`steps.reversals`), when the run already
    #: worked them out
    races: list[Race] | None = None
    #: its ordering (`steps.ordering_of`), when the run already worked it out
    ordering: str = ""

    def cut(self, at: int) -> RunTrace:
        """Its decisions before decision `at`, and the steps taken before it."""
        return RunTrace(self.decisions[:at], [s for s in self.steps if s.after <= at], {})

    def join(self, other: RunTrace, at: int) -> RunTrace:
        """This run, then `other` from its decision `at` on (where `other` was in the
        state this run ends in), renumbered to follow on."""
        shift = len(self.decisions) - at
        tail = [
            Step(s.actor, s.node + shift if s.node >= 0 else -1, s.fp, s.label, s.after + shift)
            for s in other.steps
            if s.after > at
        ]
        return RunTrace([*self.decisions, *other.decisions[at:]], [*self.steps, *tail], {})


def run_trace(data: TraceJson) -> RunTrace:
    """A run's trace as its record carries it (`RunRecord.trace_json`)."""
    sleeps: dict[int, Sleep] = {}
    for index, sleep in data["sleeps"]:
        assert isinstance(index, int) and isinstance(sleep, list)
        sleeps[index] = sleep_from_json(sleep)
    return RunTrace(
        [Decision.from_json(d) for d in data["decisions"]],
        [Step.from_json(s) for s in data["steps"]],
        sleeps,
        data.get("blocked_at"),
        [Race(j, k, tuple(first)) for j, k, first in data["races"]] if "races" in data else None,
        data.get("ordering", ""),
    )


def disabled(decisions: list[Decision], steps: list[Step], since: int = 0) -> list[tuple[int, str]]:
    """The actors whose step a run took away: (decision, actor) where the actor could
    go at that decision, did not, and could not at the next (or the run ended there).
    The step taken there (an app's exit, or the last app's, after which a timer never
    fires) conflicts with the step that actor would have taken, which no race shows,
    since that step never ran. Time counts as taken away when the timer it would fire
    is no longer the next (`advance ...` changed). Only decisions from `since` on."""
    stepped: dict[int, set[str]] = {}
    for step in steps:
        if step.after > since:
            stepped.setdefault(step.after, set()).add(step.actor)
    out: list[tuple[int, str]] = []
    for i in range(since, len(decisions)):
        d = decisions[i]
        labels = set(decisions[i + 1].options if i + 1 < len(decisions) else [])
        actors = {actor_of(label) for label in labels}
        chosen = actor_of(d.options[d.choice])
        for option in d.options:
            actor = actor_of(option)
            if actor is None or actor == chosen or actor in stepped.get(i + 1, ()):
                continue
            gone = option not in labels if actor == TIME else actor not in actors
            if gone:
                out.append((i, actor))
    return out


@dataclass
class _Move:
    """What a decision's choice led to: its actor's step, and that actor's steps that
    followed with no decision between (a yield that found an upcall queued when nothing
    else could run and no timer was pending, then the step that takes it)."""

    actor: str
    fp: Footprint


def _moves(steps: list[Step]) -> dict[int, _Move]:
    """Each decision's move (`_Move`), by decision index. A sibling that sleeps sleeps
    on all of it: the steps that follow its step with no decision between cannot be
    put off, so a step that conflicts with any of them wakes it. (With the first
    step's footprint alone, a sleeping yield was taken to commute with a timer whose
    firing the take that follows it depends on: tests/lab/test_search_model.py.)"""
    out: dict[int, _Move] = {}
    for step in steps:
        index = step.after - 1
        if index < 0:
            continue
        move = out.get(index)
        if move is None:
            out[index] = _Move(step.actor, dict(step.fp))
        elif step.actor == move.actor:
            for resource, mode in step.fp.items():
                move.fp[resource] = move.fp.get(resource, 0) | mode
    return out


class DporSearch:
    """The tree of decisions and the branches still to run (see the module doc)."""

    def __init__(self, preemption_bound: int = 2) -> None:
        self.bound = preemption_bound
        self.root: Node | None = None
        self.pending: list[Node] = []  # nodes that may have branches left
        self.started = False
        #: runs whose decisions did not match the tree (the board is not deterministic)
        self.divergent = 0
        #: the state at each decision point (`steps.Ordering` of the steps before it,
        #: and who runs) -> the node that holds it and the fewest preemptions spent
        self.states: dict[_Key, _Held] = {}
        #: the runs that stopped at a state another node holds, by that state
        self.visits: dict[_Key, list[_Run]] = {}
        #: the ways on from each state seen so far: a run and the decision at which it
        #: was there, one for each ordering
        self.tails: dict[_Key, dict[str, tuple[RunTrace, int]]] = {}
        #: runs replayed on another path (`_replay`)
        self.replays = 0

    def coverage(self) -> tuple[int, int, int, int]:
        """Decision coverage: (decision points in the tree, the distinct states they and
        the runs folded in reached, options tried at them, options offered there)."""
        points = tried = offered = 0
        stack = [self.root] if self.root is not None else []
        while stack:
            node = stack.pop()
            points += 1
            tried += len(node.done)
            offered += len(node.options)
            stack.extend(node.children.values())
        return points, len({key[0] for key in self.states}), tried, offered

    def next_round(self) -> list[Branch]:
        """Up to ROUND branches to run now, deepest first; [] when the search is done."""
        if not self.started:
            self.started = True
            return [Branch([], {})]
        out: list[Branch] = []
        self.pending.sort(key=lambda n: n.depth)
        while self.pending and len(out) < ROUND:
            node = self.pending[-1]
            actors = node.actors
            todo = sorted(
                o
                for o in node.backtrack - node.done
                if node.allowed(o, self.bound) and actors[o] not in node.sleep
            )
            if not todo:
                self.pending.pop()
                continue
            option = todo[0]
            node.done.add(option)
            out.append(Branch([*node.path(), option], self._sleep_at(node, option)))
        return out

    def _sleep_at(self, node: Node, option: int) -> Sleep:
        """The sleep set of a branch: what slept at `node`, and the siblings tried; none
        under a preemption bound (see the module doc)."""
        actors = node.actors
        if actors[option] is None or self.bound < UNBOUNDED:
            return {}
        sleep = dict(node.sleep)
        for other in node.done:
            actor = actors[other]
            if other != option and actor is not None and other in node.fps:
                sleep[actor] = node.fps[other]
        sleep.pop(actors[option] or "", None)
        return sleep

    def absorb(self, branch: Branch, trace: RunTrace) -> None:
        """Fold one run's decisions and steps into the tree; add the branches its races
        call for."""
        walked = self._walk(branch, trace)
        if walked is None:
            return
        path, met = walked
        self._branch(path, trace)
        run = _Run(path, trace, trace.ordering or ordering_of(trace.steps))
        todo = [run]
        if met is not None:
            # the run stopped at a state searched from elsewhere: every way on from
            # there that was or will be run is also a way on for this run's path
            visit = _Run(path, trace.cut(len(path)), "")
            self.visits.setdefault(met, []).append(visit)
            tails = self.tails.setdefault(met, {})
            todo += [self._replay(visit, other, t, o) for o, (other, t) in tails.items()]
            tails.setdefault(run.ordering, (trace, len(path)))
        self._spread(todo)

    def _spread(self, todo: list[_Run]) -> None:
        """Keep each run's way on from each state on its path (its tail), and replay it
        on the paths that stopped at that state (`_replay`); so do their replays."""
        while todo:
            run = todo.pop()
            for t, node in enumerate(run.path):
                tails = self.tails.setdefault(node.key, {})
                if run.ordering in tails:
                    continue  # an equivalent way on from here is kept already
                tails[run.ordering] = (run.trace, t)
                for visit in self.visits.get(node.key, ()):
                    todo.append(self._replay(visit, run.trace, t, run.ordering))

    def _replay(self, visit: _Run, trace: RunTrace, t: int, ordering: str) -> _Run:
        """The run that goes `visit`'s way to a state, then `trace`'s way on from there
        (from its decision `t`): it can be made, since the state is the same. It is of
        `trace`'s ordering `ordering`: the ways to the state are equivalent (the state's
        key is their ordering), and the rest is the same steps. Its races
        ask for branches on `visit`'s path, as a run of its own would have. Without
        this, the state cache lost 6 of configs/mailbox_race.toml's 484 orderings at
        bound 1: a race between a step before the state and one after it asks for a
        branch at another decision, or at another cost, on each way to the state."""
        joined = visit.trace.join(trace, t)
        # the races between two steps of the way there were read when that run was
        # folded in, and ask for the same branches: only those with a later step past
        # the state are new, and the clocks up to the state are worked out once
        if visit.hb is None:
            visit.hb = HappensBefore.of(visit.trace.steps)
        hb = visit.hb.copy()
        known = len(hb.races)
        for step in joined.steps[len(hb.steps) :]:
            hb.add(step)
        since = max(0, len(visit.path) - 1)
        self._branch(visit.path, joined, initials(hb, hb.races[known:]), since)
        self.replays += 1
        return _Run(visit.path, joined, ordering)

    def _branch(
        self, path: list[Node], trace: RunTrace, raced: list[Race] | None = None, since: int = 0
    ) -> None:
        """Add the branches a run's races and the steps it took away call for: `raced`,
        its races (`steps.reversals`) when known, else worked out; the steps taken away
        at decision `since` and later."""
        # every race, also those whose later step lies past the point where the path
        # stopped being folded in: what they ask for is a branch on the path
        if raced is None:
            raced = reversals(trace.steps) if trace.races is None else trace.races
        spent = [0, *accumulate(_costly(d.kind, d.choice) for d in trace.decisions)]
        for race in raced:
            # a step nobody chose (it was all that could happen) is reversed at the
            # last decision before it
            step = trace.steps[race.earlier]
            index = step.node if step.node >= 0 else step.after - 1
            if index >= 0 and not self._tried(path, index, race.first):
                for actor in race.first:
                    self._add_branch(path, trace.decisions, index, actor, spent)
        for index, actor in disabled(trace.decisions, trace.steps, since):
            self._add_branch(path, trace.decisions, index, actor, spent)

    def _walk(self, branch: Branch, trace: RunTrace) -> tuple[list[Node], _Key | None] | None:
        """The run's path as nodes, creating those it is the first to reach, up to the
        first decision whose state another node already holds with no more preemptions
        spent (what follows was searched from there; that state is returned too), or
        where only sleeping actors could go on; None if the run left the tree (it did
        not replay its prefix)."""
        moves = _moves(trace.steps)
        path: list[Node] = []
        parent: Node | None = None
        path_choice = -1
        cost = 0
        ordering = Ordering()
        steps = trace.steps
        before = 0
        for i, d in enumerate(trace.decisions):
            if trace.blocked_at is not None and i >= trace.blocked_at:
                return path, None  # from here on it repeats runs already made
            node = self.root if parent is None else parent.children.get(path_choice)
            if node is None:  # the steps before it, taken in only when a key is needed
                while before < len(steps) and steps[before].after <= i:
                    ordering.add(steps[before])
                    before += 1
            # a node's state is the same on every run through it (runs replay it)
            key = node.key if node is not None else self._key(ordering, d)
            held = self.states.get(key)
            if held is not None and held.node is not node and held.cost <= cost:
                return path, key  # this state was searched, with as much budget
            if node is None:
                node = Node(
                    d.kind,
                    list(d.options),
                    i,
                    parent,
                    path_choice,
                    cost,
                    sleep=trace.sleeps.get(i, {}),
                    key=key,
                )
                if any(a is None for a in node.actors):
                    node.backtrack = set(range(len(d.options)))
                if parent is None:
                    self.root = node
                else:
                    parent.children[path_choice] = node
                self.pending.append(node)
            elif node.options != d.options or node.kind != d.kind:
                self.divergent += 1
                return None
            if held is None or cost < held.cost:
                self.states[key] = _Held(node, cost)
            node.backtrack.add(d.choice)
            node.done.add(d.choice)
            move = moves.get(i)
            if move is not None and d.choice not in node.fps:
                node.fps[d.choice] = move.fp
            path.append(node)
            cost += _costly(d.kind, d.choice)
            parent, path_choice = node, d.choice
        return path, None

    @staticmethod
    def _key(ordering: Ordering, d: Decision) -> _Key:
        """A decision point's state: what ran before it, up to the order of independent
        steps, and who runs (the options a switch offers depend on it)."""
        return (ordering.digest(), d.kind, d.options[0] if d.kind == "switch" else "")

    def _buy_back(self, path: list[Node], decisions: list[Decision], index: int) -> None:
        """A reversal at decision `index` is over the bound: for each preemption spent
        before it, try the actor it gave the CPU to at the latest free decision before
        it, so that the preemption is left for the reversal. (A process preempted in
        to block leaves a free decision behind it; started sooner, the budget it cost
        can go to the reversal. tests/lab/test_search_model.py has two programs whose
        orderings were lost without this.)"""
        for spent in range(min(index, len(path)) - 1, -1, -1):
            d = decisions[spent]
            if not _costly(d.kind, d.choice):
                continue
            actor = actor_of(d.options[d.choice])
            if actor is None:
                continue
            for free in range(spent - 1, -1, -1):
                if decisions[free].kind != "run":
                    continue
                node = path[free]
                fits = [o for o, a in enumerate(node.actors) if a == actor]
                if fits:  # (over the bound: no sleep sets, nothing sleeps here)
                    node.backtrack.update(fits)
                    self.pending.append(node)
                break

    def _tried(self, path: list[Node], index: int, first: tuple[str, ...]) -> bool:
        """Is one of the actors in `first` already a branch at decision `index` of the
        path, within the bound? Then one run where that actor goes first reverses the
        race, and the others need not (source-DPOR adds one of the initials). Not time
        at a switch, when others can go first too: time passing there leaves the
        running process on the CPU, so a run that goes on to another actor spends a
        second preemption, which the bound may not allow (tests/lab/
        test_search_model.py: 1 of 11 orderings lost at bound 1)."""
        if index >= len(path):
            return False
        node = path[index]
        if node.kind == "switch" and len(first) > 1:
            first = tuple(actor for actor in first if actor != TIME)
        actors = node.actors
        return any(actors[o] in first and node.allowed(o, self.bound) for o in node.backtrack)

    def _add_branch(
        self,
        path: list[Node],
        decisions: list[Decision],
        index: int,
        actor: str,
        spent: list[int],
    ) -> None:
        """Try `actor` at decision `index` of the run (or every option there, if it
        could not run there); over the preemption bound, at the latest free decision
        before, and its preemptions bought back (`_buy_back`). Only decisions on
        `path` get branches: past it, the run went where another path had gone with
        as much budget, and the branch is that path's, unless it falls back to a free
        decision before the point where they met. `spent[i]`: the preemptions the run
        spent before its decision i."""
        if index < len(path):
            node = path[index]
            if actor in node.sleep:
                return
            options = [o for o, a in enumerate(node.actors) if a == actor]
            within = [o for o in options or range(len(node.options)) if node.allowed(o, self.bound)]
            if within:
                node.backtrack.update(within)
                self.pending.append(node)
                return
        else:
            d = decisions[index]
            cost = spent[index]  # the preemptions before decision `index`
            options = [o for o, opt in enumerate(d.options) if actor_of(opt) == actor]
            costs = [_costly(d.kind, o) for o in options or range(len(d.options))]
            if cost + min(costs) <= self.bound:
                return
        self._buy_back(path, decisions, index)
        for earlier in range(index - 1, -1, -1):
            if decisions[earlier].kind != "run":
                continue
            if earlier >= len(path):
                return
            free = path[earlier]
            fits = [o for o, a in enumerate(free.actors) if a == actor]
            free.backtrack.update(fits or range(len(free.options)))
            self.pending.append(free)
            return


__all__ = [
    "ROUND",
    "Branch",
    "DporSearch",
    "Guided",
    "Node",
    "RunTrace",
    "TraceJson",
    "run_trace",
    "sleep_from_json",
    "sleep_to_json",
]
