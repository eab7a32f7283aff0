"""Waiting in tests: for a condition, never for a fixed time.

A test that sleeps a fixed time to let something happen is slow on a fast machine and
flaky on a loaded one. These helpers look at a condition until it holds, with a
generous timeout (the machine may be a loaded 2-core VM) after which the test fails
with what it was waiting for. The short sleep between two looks is the only sleep a
test needs. A condition may raise `NotYet` when what it looks at does not exist yet:
that counts as false.

- `wait_for`: blocking, for plain tests and threads;
- `wait_until`: the same inside a trio run (an in-process daemon);
- `poll`: blocking, returns None on timeout instead of failing, for a test that states
  a bound of its own or cleans up either way.

The dashboard tests wait with `until` (tests/tui/conftest.py), which lets the Textual
app run between two looks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import trio

#: generous: the machine may be a loaded 2-core VM
WAIT_S = 30.0
#: between two looks at a condition
POLL_S = 0.02
#: between two looks inside a trio run: an in-process daemon's state is cheap to look at,
#: and some of it lasts only a few milliseconds (an IPC window of a short exchange)
TRIO_POLL_S = 0.005

T = TypeVar("T")


class NotYet(Exception):
    """Raised by a condition when what it looks at does not exist yet (say, the
    dashboard has no keyframe while its first snapshot waits for the stream)."""


def look(condition: Callable[[], T]) -> T | None:
    """The condition's value, None if it raised NotYet."""
    try:
        return condition()
    except NotYet:
        return None


def poll(condition: Callable[[], T], timeout: float = WAIT_S) -> T | None:
    """Look at `condition` until it is truthy; returns its value, or None once
    `timeout` seconds have passed without."""
    deadline = time.monotonic() + timeout
    while True:
        value = look(condition)
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(POLL_S)


def wait_for(condition: Callable[[], T], what: str, timeout: float = WAIT_S) -> T:
    """Look at `condition` until it is truthy and return its value; fail the test,
    naming `what`, after `timeout` seconds."""
    value = poll(condition, timeout)
    if value is None:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
    return value


async def wait_until(condition: Callable[[], T], what: str, timeout: float = WAIT_S) -> T:
    """`wait_for` inside a trio run: the other tasks (the daemon's) run between looks."""
    deadline = trio.current_time() + timeout
    while True:
        value = look(condition)
        if value:
            return value
        if trio.current_time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await trio.sleep(TRIO_POLL_S)
