"""Hostile apps in the lab's runs (controlled scheduler, virtual time), where no
timeslice runs: each is faulted with the reason `tockd run` gives it
(tests/test_hostile.py), the well-behaved app beside it runs to its end, and the run's
record says so."""

from __future__ import annotations

import pytest

from tests.harness import app, board_toml
from tockd.board import parse_board
from tockd.lab import run_once
from tockd.lab.properties import no_faults
from tockd.lab.strategy import RandomWalk

SECCOMP_KILL = "killed by SIGSYS (seccomp: a system call the app's sandbox forbids)"


@pytest.mark.parametrize(
    ("how", "sandbox", "reason"),
    [
        pytest.param(
            "memory_hog",
            {"address_space_mb": 64},
            "app raised MemoryError [sandbox: address space limit 64 MiB beyond RAM (RLIMIT_AS)]",
            id="memory_hog",
        ),
        pytest.param("fork", {}, SECCOMP_KILL, id="fork"),
        pytest.param("exec", {}, SECCOMP_KILL, id="exec"),
        pytest.param(
            "half_frame_exit",
            {},
            "exited with status 0 outside the syscall interface",
            id="half_frame_exit",
        ),
        pytest.param(
            "call_then_exit",
            {},
            "exited with status 7 outside the syscall interface",
            id="call_then_exit",
        ),
        pytest.param("segv", {}, "killed by SIGSEGV (MPU fault, hardware backstop)", id="segv"),
        pytest.param("socket", {"seccomp": True}, SECCOMP_KILL, id="seccomp_socket"),
        pytest.param(
            "cpu_hog",
            {"cpu_seconds": 1},
            "killed by SIGXCPU (CPU time limit of its sandbox, RLIMIT_CPU)",
            id="cpu_hog_past_RLIMIT_CPU",
        ),
    ],
)
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
