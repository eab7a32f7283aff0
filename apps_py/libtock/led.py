"""LED driver (0x2) for apps: count, on, off, toggle, get."""

from __future__ import annotations

from apps_py.libtock.abi import DriverNum
from apps_py.libtock.syscalls import command
from tockd.contract.drivers import LedCommand

DRIVER = DriverNum.LED


def count() -> int:
    return command(DRIVER, LedCommand.COUNT).unwrap("led count").r1


def on(i: int) -> None:
    command(DRIVER, LedCommand.ON, i).unwrap(f"led on {i}")


def off(i: int) -> None:
    command(DRIVER, LedCommand.OFF, i).unwrap(f"led off {i}")


def toggle(i: int) -> None:
    command(DRIVER, LedCommand.TOGGLE, i).unwrap(f"led toggle {i}")


def get(i: int) -> bool:
    return bool(command(DRIVER, LedCommand.GET, i).unwrap(f"led get {i}").r1)
