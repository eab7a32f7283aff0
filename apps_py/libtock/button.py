"""Button driver (0x3) for apps: count, read, and waiting for presses (upcall 0)."""

from __future__ import annotations

from collections.abc import Callable

from apps_py.libtock.abi import DriverNum
from apps_py.libtock.syscalls import command, subscribe, yield_for
from tockd.contract.drivers import BUTTON_UPCALL, ButtonCommand

DRIVER = DriverNum.BUTTON


def count() -> int:
    return command(DRIVER, ButtonCommand.COUNT).unwrap("button count").r1


def read(i: int) -> bool:
    return bool(command(DRIVER, ButtonCommand.READ, i).unwrap(f"button read {i}").r1)


def enable(i: int) -> None:
    command(DRIVER, ButtonCommand.ENABLE_INTERRUPT, i).unwrap(f"button enable {i}")


def disable(i: int) -> None:
    command(DRIVER, ButtonCommand.DISABLE_INTERRUPT, i).unwrap(f"button disable {i}")


def on_change(callback: Callable[[int, bool], None]) -> None:
    """Call `callback(index, pressed)` (inside yield) whenever a button changes."""
    subscribe(DRIVER, BUTTON_UPCALL, lambda i, p, _c, _d: callback(i, bool(p))).unwrap(
        "button subscribe"
    )


def wait() -> tuple[int, bool]:
    """Enable every button and block until one changes."""
    events: list[tuple[int, bool]] = []
    on_change(lambda i, p: events.append((i, p)))
    for i in range(count()):
        enable(i)
    yield_for(lambda: bool(events))
    return events[0]
