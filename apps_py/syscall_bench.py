"""syscall_bench: times `n` null commands (command 0 of the LED driver) from inside an
app and writes the per-call round trips (ns) to the file named by its `out` argument."""

import time
from pathlib import Path

from apps_py.libtock import app_args
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
    Path(str(args["out"])).write_text("\n".join(map(str, samples)))
