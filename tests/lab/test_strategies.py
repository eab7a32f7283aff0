"""Strategies in isolation: pure decision logic, no kernel."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tockd.lab.explore import Default, default_choice
from tockd.lab.strategy import PCT, Decision, Exhaustive, RandomWalk, Replay

options = st.lists(
    st.sampled_from(["run 0", "run 1", "run 2", "advance 10us"]),
    min_size=2,
    max_size=4,
    unique=True,
)


@given(st.integers(0, 10_000), st.lists(options, min_size=1, max_size=30))
def test_random_and_pct_are_deterministic_for_a_seed(seed: int, points: list[list[str]]) -> None:
    for make in (RandomWalk, PCT):
        a, b = make(seed), make(seed)
        picks_a = [a.choose("run", o, i + 1) for i, o in enumerate(points)]
        picks_b = [b.choose("run", o, i + 1) for i, o in enumerate(points)]
        assert picks_a == picks_b
        assert all(0 <= p < len(o) for p, o in zip(picks_a, points, strict=True))


def test_exhaustive_enumerates_every_schedule_of_a_small_tree() -> None:
    # a tree: 2 options, then 3, then 2 -> 12 leaves
    seen = set()
    prefix: list[int] | None = []
    while prefix is not None:
        ex = Exhaustive(prefix, preemption_bound=10)
        picks = tuple(
            ex.choose("run", [f"run {i}" for i in range(n)], k) for k, n in enumerate((2, 3, 2))
        )
        seen.add(picks)
        prefix = ex.next_prefix()
    assert len(seen) == 12


def test_exhaustive_respects_the_preemption_bound() -> None:
    seen = set()
    prefix: list[int] | None = []
    while prefix is not None:
        ex = Exhaustive(prefix, preemption_bound=1)
        picks = tuple(ex.choose("switch", ["continue 0", "preempt 1"], k) for k in range(4))
        seen.add(picks)
        prefix = ex.next_prefix()
    assert all(sum(p) <= 1 for p in seen)
    assert len(seen) == 5  # no preemption, or one at any of 4 points


def test_replay_follows_then_reports_the_first_divergence() -> None:
    recorded = [Decision("run", ["run 0", "run 1"], 1), Decision("switch", ["continue 1"], 0)]
    r = Replay(recorded, Default())
    assert r.choose("run", ["run 0", "run 1"], 1) == 1
    assert r.divergence is None
    r.choose("run", ["run 0", "run 2"], 2)
    assert r.divergence == 1
    assert "recorded switch" in r.detail


def test_default_lets_pending_io_complete_first() -> None:
    assert default_choice("run", ["run 1", "advance 1292us"]) == 1
    assert default_choice("run", ["run 0", "run 1"]) == 0
    assert default_choice("switch", ["continue 0", "preempt 1"]) == 0
    assert default_choice("adversity", ["none", "fault 0"]) == 0
