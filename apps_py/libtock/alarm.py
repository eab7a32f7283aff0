"""Alarm driver (0x0) for apps: time from the kernel's clock, never the host's.

command 1 = frequency, 2 = now, 3 = stop, 5 = relative alarm; upcall 0 when it fires.
"""

from __future__ import annotations

from apps_py.libtock.abi import DriverNum
from apps_py.libtock.syscalls import command, subscribe, yield_for
from tockd.contract.drivers import ALARM_UPCALL, AlarmCommand

DRIVER = DriverNum.ALARM
_fired: list[int] = []


def _on_fire(now_: int, _expiry: int, _c: int, _d: int) -> None:
    _fired.append(now_)


def frequency() -> int:
    return command(DRIVER, AlarmCommand.FREQUENCY).unwrap("alarm frequency").r1


def now() -> int:
    """Current tick count."""
    return command(DRIVER, AlarmCommand.NOW).unwrap("alarm now").r1


def now_ms() -> float:
    return now() * 1000 / frequency()


def sleep_ms(ms: float) -> None:
    """Block (in yield) until `ms` milliseconds of kernel time have passed."""
    ticks = max(1, int(ms * frequency() / 1000))
    _fired.clear()
    subscribe(DRIVER, ALARM_UPCALL, _on_fire).unwrap("alarm subscribe")
    command(DRIVER, AlarmCommand.SET_RELATIVE, ticks).unwrap("alarm set")
    yield_for(lambda: bool(_fired))
