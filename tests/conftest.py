"""Shared fixtures. Every test is checked for leaked child processes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psutil
import pytest


@pytest.fixture(autouse=True)
def no_leaked_children() -> Iterator[None]:
    """Fail any test that leaves a child process (or grandchild) of pytest running."""
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    yield
    deadline = time.monotonic() + 3.0
    while True:
        leaked = [p for p in me.children(recursive=True) if p.pid not in before and _alive(p)]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    for p in leaked:
        try:
            p.kill()
            p.wait(1)
        except psutil.Error:
            pass
    assert not leaked, f"test leaked child processes: {[(p.pid, _cmd(p)) for p in leaked]}"


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
