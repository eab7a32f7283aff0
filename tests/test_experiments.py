"""The flaw catalogue: every flaw REPRODUCED in tock mode and PREVENTED in hardened mode,
and for every hardened switch, turning only that switch off brings back only its flaw."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tockd.board import HARDENED_SWITCHES
from tockd.experiment import all_switches_but, catalogue

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = catalogue()


def test_the_catalogue_has_the_eight_flaws() -> None:
    assert list(EXPERIMENTS) == [
        "expose_failure",
        "existence_leak",
        "callee_grant",
        "silent_drop",
        "odd_buffer",
        "fault_keeps_window",
        "rot13_race",
        "restart_breaks",
        "stale_grant",
    ]
    assert {e.switch for e in EXPERIMENTS.values()} == set(HARDENED_SWITCHES)


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_reproduced_in_tock_and_prevented_in_hardened(name: str) -> None:
    exp = EXPERIMENTS[name]
    tock = exp.run("tock")
    assert tock.reproduced, tock.evidence
    assert tock.evidence
    hardened = exp.run("hardened")
    assert not hardened.reproduced, hardened.evidence


@pytest.mark.parametrize("switch", HARDENED_SWITCHES)
def test_turning_one_switch_off_brings_back_only_its_flaws(switch: str) -> None:
    for name, exp in EXPERIMENTS.items():
        verdict = exp.run("hardened", all_switches_but(switch))
        assert verdict.reproduced == (exp.switch == switch), (name, verdict.evidence)


def test_experiment_scripts_and_cli() -> None:
    r = subprocess.run(
        [sys.executable, "experiments/f5_odd_buffer.py"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    assert "[tock    ] REPRODUCED" in r.stdout
    assert "[hardened] PREVENTED" in r.stdout
    assert "AllowReadWriteFailure(SIZE" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "tockd.cli", "experiment", "--list"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == len(EXPERIMENTS)
    r = subprocess.run(
        [sys.executable, "-m", "tockd.cli", "experiment", "rot13_race", "--mode", "tock"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert "REPRODUCED" in r.stdout
    assert "schedule[0x10000:1] @0x0(" in r.stdout  # the null upcall, in Tock's trace shape
    r = subprocess.run(
        [sys.executable, "-m", "tockd.cli", "experiment", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert r.returncode == 1
    assert "no experiment 'nope'" in r.stderr


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_hardened_exposes_no_byte_of_another_app_or_the_kernel(name: str) -> None:
    # after every kernel step: no MPU opens memory its owner does not share (now), no
    # shared memory sits above its owner's break or in grant memory, no allowed buffer
    # overlaps grant memory
    obs = EXPERIMENTS[name].observe("hardened")
    assert obs.invariants == []
    tock = EXPERIMENTS[name].observe("tock")
    if name in ("fault_keeps_window", "restart_breaks"):
        assert tock.invariants, "tock mode exposes memory here, and the check sees it"
