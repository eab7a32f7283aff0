"""spin: makes null commands (command 0 of the LED driver) in a loop, forever, so a
board of many of them keeps the kernel as busy as the syscall path allows. Used by
bench/tui_overhead.py and the dashboard tests. An optional `n` argument stops it after
that many calls."""

from apps_py.libtock import app_args
from apps_py.libtock.abi import DriverNum
from apps_py.libtock.syscalls import command


def main() -> None:
    n = int(str(app_args().get("n", 0)))
    if n > 0:
        for _ in range(n):
            command(DriverNum.LED, 0)
        return
    while True:
        command(DriverNum.LED, 0)
