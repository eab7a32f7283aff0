"""spin: makes null commands (command 0 of the LED driver) in a loop, forever, so a
board of many of them keeps the kernel as busy as the syscall path allows. Used by
bench/tui_overhead.py and the dashboard tests.

Arguments: `n`, stop after that many calls (0: never); `every_ms`, sleep that long
(alarm driver) between calls, for a board that stays calm."""

from apps_py.libtock import alarm, app_args
from apps_py.libtock.abi import DriverNum
from apps_py.libtock.syscalls import command


def main() -> None:
    args = app_args()
    n = int(str(args.get("n", 0)))
    every_ms = int(str(args.get("every_ms", 0)))
    done = 0
    while n == 0 or done < n:
        command(DriverNum.LED, 0)
        done += 1
        if every_ms:
            alarm.sleep_ms(every_ms)
