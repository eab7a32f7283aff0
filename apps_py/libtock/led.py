"""LED driver (0x2) for apps: count, on, off, toggle, get."""

from __future__ import annotations

from apps_py.libtock.abi import DriverNum
from apps_py.libtock.syscalls import command

DRIVER = DriverNum.LED


def count() -> int:
    return command(DRIVER, 0).unwrap("led count").r1


def on(i: int) -> None:
    command(DRIVER, 1, i).unwrap(f"led on {i}")


def off(i: int) -> None:
    command(DRIVER, 2, i).unwrap(f"led off {i}")


def toggle(i: int) -> None:
    command(DRIVER, 3, i).unwrap(f"led toggle {i}")


def get(i: int) -> bool:
    return bool(command(DRIVER, 4, i).unwrap(f"led get {i}").r1)
