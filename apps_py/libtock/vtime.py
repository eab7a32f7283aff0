"""Kernel time for Python's clocks, in controlled runs.

A controlled run must be a function of its schedule alone, so an app may not read the
host's clock. `install()` replaces `time.time`, `time.monotonic`, `time.perf_counter`
(and their `_ns` forms) with the kernel's alarm counter (command 2 of driver 0x0, a
syscall, so reading the clock is itself a decision point), and `time.sleep` with an
alarm sleep. Before `_start` (while the module imports) the clocks read 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from apps_py.libtock import runtime

_WRAP = 1 << 32
_state = {"last": 0, "epochs": 0}


def _ticks() -> int:
    rt = runtime.current()
    if not rt.started:
        return 0
    ret = rt.syscall(2, 0x0, 2, 0, 0)  # alarm: now
    now = ret.r1
    if now < _state["last"]:
        _state["epochs"] += 1
    _state["last"] = now
    return _state["epochs"] * _WRAP + now


def _ns() -> int:
    return _ticks() * 1000  # the alarm runs at 1 MHz


def _seconds() -> float:
    return _ns() / 1e9


def _sleep(seconds: float) -> None:
    from apps_py.libtock import alarm

    if seconds > 0:
        alarm.sleep_ms(seconds * 1000)


def install() -> None:
    replacements: dict[str, Callable[..., object]] = {
        "time": _seconds,
        "monotonic": _seconds,
        "perf_counter": _seconds,
        "time_ns": _ns,
        "monotonic_ns": _ns,
        "perf_counter_ns": _ns,
        "sleep": _sleep,
    }
    for name, fn in replacements.items():
        setattr(time, name, fn)
