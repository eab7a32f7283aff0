"""Shared fixtures. Every test is checked for leaked child processes; hypothesis, and
`tockd explore`'s default schedule place, write into directories of the session."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from tests.wait import poll


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis keeps its example database and caches in a directory of this test
    session, not in the checkout (`.hypothesis/`): tests write nothing there."""
    storage = Path(tempfile.mkdtemp(prefix="hypothesis-"))
    config.add_cleanup(lambda: shutil.rmtree(storage, ignore_errors=True))
    set_hypothesis_home_dir(storage)
    # a schedule `tockd explore` saves without --save goes under $XDG_STATE_HOME: the
    # session's, never the user's (subprocesses inherit it)
    state = Path(tempfile.mkdtemp(prefix="tockd-state-"))
    config.add_cleanup(lambda: shutil.rmtree(state, ignore_errors=True))
    os.environ["XDG_STATE_HOME"] = str(state)


@pytest.fixture(autouse=True)
def no_leaked_children() -> Iterator[None]:
    """Fail any test that leaves a child process (or grandchild) of pytest running."""
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}

    def leaked() -> list[psutil.Process]:
        return [p for p in me.children(recursive=True) if p.pid not in before and _alive(p)]

    yield
    poll(lambda: not leaked(), timeout=3.0)  # a moment to exit, for what is on its way
    stray = leaked()
    for p in stray:
        try:
            p.kill()
            p.wait(1)
        except psutil.Error:
            pass
    assert not stray, f"test leaked child processes: {[(p.pid, _cmd(p)) for p in stray]}"


def _alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cmd(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())[:120]
    except psutil.Error:
        return "?"
