"""syscall_bench: times `n` null commands (command 0 of the LED driver) from inside an
app, then writes the per-call round trips (ns) to its console, one a line (an app can
write no file; a board with `uart_baud = 0` takes them at once)."""

import time

from apps_py.libtock import app_args, console
from apps_py.libtock.abi import DriverNum
from apps_py.libtock.syscalls import command


def main() -> None:
    args = app_args()
    n = int(str(args.get("n", 20000)))
    warmup = int(str(args.get("warmup", 2000)))
    clock = time.perf_counter_ns
    for _ in range(warmup):
        command(DriverNum.LED, 0)
    samples = []
    for _ in range(n):
        t0 = clock()
        command(DriverNum.LED, 0)
        samples.append(clock() - t0)
    console.write("\n".join(map(str, samples)) + "\n")
