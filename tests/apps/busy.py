"""Computes for `ms` milliseconds of wall time without a syscall, then says so."""

import time

from apps_py.libtock import app_args, console


def main() -> None:
    console.write("busy start\n")
    end = time.monotonic() + float(str(app_args().get("ms", 300))) / 1000
    while time.monotonic() < end:
        pass
    console.write("busy done\n")
