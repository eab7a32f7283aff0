"""Syscall round trip: tockd's null command against a raw msgpack ping-pong floor.

    python bench/syscall_rtt.py [--n 20000] [--cpu N]

All measured in one run on this machine, each both unpinned and pinned to one core
(both processes on the same CPU, `--cpu`, by default the one tockd's "auto" picks):
(1) the floor, two Python processes exchanging the same frames (`[2, 2, 0, 0, 0]` /
`[0, 129, 4, 0, 0]`) over a Unix socketpair, a blocking loop on each side; (2) tockd,
a real app process (forked from the zygote) making null commands to the real daemon
(trio kernel loop, syscall dispatch, LED capsule), with the board's `cpu = "off"` and
`cpu = N`. Each side times its own round trips with perf_counter_ns; the medians and
their ratios are printed. Target: tockd pinned <= 3x the pinned floor.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import socket, sys, time, msgpack
s = socket.socket(fileno=int(sys.argv[1])); n = int(sys.argv[2]); warm = int(sys.argv[3])
req = msgpack.packb([2, 2, 0, 0, 0]); up = msgpack.Unpacker()
def rt():
    s.sendall(req)
    while True:
        up.feed(s.recv(65536))
        for _ in up:
            return
for _ in range(warm): rt()
out = []
clock = time.perf_counter_ns
for _ in range(n):
    t0 = clock(); rt(); out.append(clock() - t0)
sys.stdout.write("\n".join(map(str, out)))
"""


def floor(n: int, warmup: int) -> list[int]:
    """Raw msgpack ping-pong between two Python processes over a socketpair."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(child.fileno()), str(n), str(warmup)],
        pass_fds=(child.fileno(),),
        stdout=subprocess.PIPE,
        text=True,
    )
    child.close()
    reply = msgpack.packb([0, 129, 4, 0, 0])
    up = msgpack.Unpacker()
    for _ in range(n + warmup):
        data = parent.recv(65536)
        if not data:
            break
        up.feed(data)
        for _ in up:
            parent.sendall(reply)
    out, _ = proc.communicate()
    parent.close()
    return [int(x) for x in out.split()]


def pinned_floor(n: int, warmup: int, cpu: int) -> list[int]:
    """The floor with both processes on one core (the child inherits the affinity)."""
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        return floor(n, warmup)
    finally:
        os.sched_setaffinity(0, saved)


def tockd(n: int, warmup: int, cpu: int | None) -> list[int]:
    from tockd.board import parse_board
    from tockd.daemon import Daemon
    from tockd.kernel.events import collect_console

    placement = '"off"' if cpu is None else str(cpu)
    cfg = parse_board(
        f'[board]\nname = "bench"\nmpu = "cortex-m"\ncpu = {placement}\nuart_baud = 0\n'
        f'[[apps]]\nname = "bench"\n'
        f'module = "apps_py.syscall_bench"\n[apps.args]\nn = {n}\n'
        f"warmup = {warmup}\n"
    )
    daemon = Daemon(cfg, quiet=True)
    text = collect_console(daemon.kernel.events)  # the samples come back on the console
    status = trio.run(daemon.run)
    samples = "".join(text).split()
    if status != 0 or len(samples) != n:
        raise SystemExit("tockd benchmark run failed")
    return [int(x) for x in samples]


def describe(samples: list[int]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"median {statistics.median(samples) / 1000:6.1f} µs   p99 {q[98] / 1000:6.1f} µs"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="timed round trips per side")
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--cpu", type=int, help="the core of the pinned runs (default: auto)")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    from tockd.daemon import resolve_cpu

    cpu = resolve_cpu("auto" if args.cpu is None else args.cpu)
    assert cpu is not None
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    print(f"{args.n} round trips each, after {args.warmup} warm-up; pinned runs on CPU {cpu}")
    t0 = time.monotonic()
    raw = floor(args.n, args.warmup)
    raw_pin = pinned_floor(args.n, args.warmup, cpu)
    kern = tockd(args.n, args.warmup, None)
    kern_pin = tockd(args.n, args.warmup, cpu)
    med = statistics.median
    print(f"raw msgpack ping-pong (floor), unpinned  {describe(raw)}")
    print(f"raw msgpack ping-pong (floor), pinned    {describe(raw_pin)}")
    print(f"tockd null command, unpinned             {describe(kern)}")
    print(f"tockd null command, pinned               {describe(kern_pin)}")
    print(
        f"ratio tockd / floor (medians): pinned {med(kern_pin) / med(raw_pin):.2f} "
        f"(target <= 3), unpinned {med(kern) / med(raw):.2f}"
    )
    print(f"tockd pinned is {med(kern) / med(kern_pin):.2f}x faster than unpinned")
    print(f"({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
