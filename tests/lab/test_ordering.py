"""`steps.Ordering` keeps a run's equivalence class up to date step by step, and
`steps.ordering_of` works it out from a whole run. Both must tell runs apart exactly as
the definition of an ordering does: the same steps, and every pair that does not
commute in the same order."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tockd.kernel.footprint import ADD, EVERYTHING, READ, WRITE, conflicts
from tockd.lab.steps import (
    HappensBefore,
    Ordering,
    Step,
    initials,
    ordering_of,
    races,
    reversals,
)

ACTORS = ["0", "1", "2", "time"]
RESOURCES = ["p0", "p1", "q0", "q0.1", "timers", "d3"]


def canonical(steps: list[Step]) -> object:
    """The plain definition, as traces define it: the steps (each named by its actor,
    its number among that actor's steps, what it did and what it touched), and the
    order of every pair of them that does not commute (the same actor's, or
    conflicting footprints). Two runs are one ordering exactly when these are equal."""
    counts: dict[str, int] = {}
    names = []
    for step in steps:
        n = counts.get(step.actor, 0)
        counts[step.actor] = n + 1
        names.append(f"{step.actor}#{n} {step.label} {sorted(step.fp.items())}")
    ordered = {
        (names[i], names[k])
        for k in range(len(steps))
        for i in range(k)
        if steps[i].actor == steps[k].actor or conflicts(steps[i].fp, steps[k].fp)
    }
    return frozenset(names), frozenset(ordered)


footprints = st.one_of(
    st.just({EVERYTHING: WRITE}),
    st.dictionaries(st.sampled_from(RESOURCES), st.sampled_from([READ, ADD, WRITE]), max_size=3),
)
steps = st.lists(
    st.builds(
        lambda actor, fp, label: Step(actor, -1, fp, label, 0),
        st.sampled_from(ACTORS),
        footprints,
        st.sampled_from(["a", "b"]),
    ),
    max_size=10,
)


def digest(run: list[Step]) -> str:
    ordering = Ordering()
    for step in run:
        ordering.add(step)
    return ordering.digest()


@settings(max_examples=400, deadline=None)
@given(steps, st.randoms(use_true_random=False))
def test_the_digest_is_the_class_of_the_plain_definition(
    run: list[Step], rng: random.Random
) -> None:
    """Every prefix of a run and of a shuffle of it: equal digests exactly when the
    plain definition is equal."""
    other = list(run)
    rng.shuffle(other)
    for cut in range(len(run) + 1):
        for a in (run[:cut], other[:cut]):
            for b in (run[:cut], other[:cut], run, other):
                same = canonical(a) == canonical(b)
                assert (digest(a) == digest(b)) == same
                assert (ordering_of(a) == ordering_of(b)) == same


@settings(max_examples=200, deadline=None)
@given(steps)
def test_the_digest_so_far_is_the_digest_of_the_prefix(run: list[Step]) -> None:
    """Asking for the digest along the way (as the search does at every decision) does
    not change what comes after."""
    ordering = Ordering()
    for i, step in enumerate(run):
        ordering.add(step)
        assert ordering.digest() == digest(run[: i + 1])


def _races_by_definition(run: list[Step]) -> list[tuple[int, int]]:
    """`races` from the definition, with happens-before as a transitive closure: j
    races with k when they conflict, belong to different actors, and no step between
    them that j happens before is ordered right before k (k's actor's previous step,
    or a step k conflicts with)."""
    n = len(run)

    def edge(i: int, k: int) -> bool:  # i ordered right before k
        return run[i].actor == run[k].actor or conflicts(run[i].fp, run[k].fp)

    before = [0] * n  # bitmask of the steps that happen before each step
    for k in range(n):
        for i in range(k):
            if edge(i, k):
                before[k] |= before[i] | (1 << i)
    out = []
    for k in range(n):
        for j in range(k):
            if run[j].actor == run[k].actor or not conflicts(run[j].fp, run[k].fp):
                continue
            if not any(before[i] >> j & 1 and edge(i, k) for i in range(j + 1, k)):
                out.append((j, k))
    return out


@settings(max_examples=400, deadline=None)
@given(st.lists(steps, min_size=1, max_size=8).map(lambda runs: [s for r in runs for s in r]))
def test_races_look_only_past_each_actors_last_synchronization(run: list[Step]) -> None:
    """`races` skips the steps each other actor took before k's actor last saw it:
    the same races as scanning every earlier step."""
    assert races(run) == _races_by_definition(run)
    assert [(r.earlier, r.later) for r in reversals(run)] == races(run)


@settings(max_examples=300, deadline=None)
@given(steps, steps, steps)
def test_happens_before_goes_on_from_a_copy_as_from_scratch(
    prefix: list[Step], one: list[Step], other: list[Step]
) -> None:
    """The search works a shared prefix's clocks out once and copies them for each way
    on (dpor `_replay`): each copy gives the races and initials of the whole run, and
    going on from one copy leaves the prefix and the other copies as they were."""
    shared = HappensBefore()
    for step in prefix:
        shared.add(step)
    ways = []
    for tail in (one, other):
        hb = shared.copy()
        for step in tail:
            hb.add(step)
        ways.append((hb, prefix + tail))
    assert shared.races == races(prefix) and shared.steps == prefix
    for hb, run in ways:
        assert hb.races == races(run)
        assert initials(hb, hb.races) == reversals(run)
