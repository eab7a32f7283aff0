"""Hostile apps in the lab's runs (controlled scheduler, virtual time), where no
timeslice runs: each crash kind is faulted with the reason `tockd run` gives it
(tests/test_hostile.py, `CRASH_KINDS`), the well-behaved app beside it runs to its
end, and the run's record says so."""

from __future__ import annotations

import pytest

from tests.harness import app, board_toml
from tests.test_hostile import CRASH_KINDS
from tockd.board import parse_board
from tockd.lab import run_once
from tockd.lab.properties import no_faults
from tockd.lab.strategy import RandomWalk


@pytest.mark.parametrize(("how", "sandbox", "reason"), CRASH_KINDS)
def test_a_hostile_app_in_a_lab_run_is_faulted_and_the_other_ends(
    how: str, sandbox: dict[str, object], reason: str
) -> None:
    hostile = app("tests.apps.hostile", args={"how": how}, sandbox=sandbox)
    steady = app("tests.apps.steady", args={"rounds": 10})
    cfg = parse_board(board_toml([hostile, steady], ram_size=65536))
    r = run_once(cfg, RandomWalk(3), [no_faults])
    assert r.faults == [reason]
    assert r.console["steady"] == "steady done 10\n"
    assert r.verdict == "violation" and not r.cut
    assert r.property_violations and reason in r.property_violations[0]
