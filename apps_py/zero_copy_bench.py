"""zero_copy_bench: hands the kernel `size` bytes through one allowed buffer, `n` times.

The buffer lives in the app's RAM and is allowed once (read-only allow 0 of the bulk
test driver 0xA0001, tockd/capsules/bulk.py), as a Tock app streaming data keeps its
buffer allowed; each transfer is then one command: command 1 (the kernel takes the
bytes in place, zero copy) or command 2 (the kernel copies them out once, as the console
does). None of the bytes crosses the socket. Each transfer is timed from inside the
app; the times (ns) go to its console after the runs (an app can write no file): one
line for command 1, one for 2.
"""

import time

from apps_py.libtock import app_args, console, runtime
from apps_py.libtock.syscalls import allow_ro, command

BULK = 0xA0001


def main() -> None:
    args = app_args()
    size = int(str(args.get("size", 1 << 20)))
    n = int(str(args.get("n", 20)))
    warmup = int(str(args.get("warmup", 2)))
    rt = runtime.current()
    buf = rt.heap.alloc(size)
    rt.memory.write(buf, bytes(range(32, 127)) * (size // 95) + b"\n" * (size % 95))
    allow_ro(BULK, 0, buf, size).unwrap("allow")
    clock = time.perf_counter_ns
    lines = []
    for cmd in (1, 2):
        samples = []
        for i in range(warmup + n):
            t0 = clock()
            ret = command(BULK, cmd, size, 0)
            elapsed = clock() - t0
            if ret.unwrap("bulk").r1 != size:
                raise RuntimeError(f"the kernel took {ret.r1} of {size} bytes")
            if i >= warmup:
                samples.append(elapsed)
        lines.append(" ".join(map(str, samples)))
    console.write("\n".join(lines) + "\n")
