"""Syscall round trip: tockd's null command against a raw msgpack ping-pong floor.

    python bench/syscall_rtt.py [--n 20000]

Both are measured in one run on this machine: (1) the floor, two Python processes
exchanging the same frames (`[2, 2, 0, 0, 0]` / `[0, 129, 4, 0, 0]`) over a Unix
socketpair, a blocking loop on each side; (2) tockd, a real app process making null
commands to the real daemon (trio kernel loop, syscall dispatch, LED capsule). Each side
times its own round trips with perf_counter_ns; the medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
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


def tockd(n: int, warmup: int) -> list[int]:
    from tockd.board import parse_board
    from tockd.daemon import Daemon

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "samples"
        cfg = parse_board(
            '[board]\nname = "bench"\nmpu = "cortex-m"\n[[apps]]\nname = "bench"\n'
            f'module = "apps_py.syscall_bench"\n[apps.args]\nout = "{out}"\nn = {n}\n'
            f"warmup = {warmup}\n"
        )
        status = trio.run(lambda: Daemon(cfg, quiet=True).run())
        if status != 0 or not out.exists():
            raise SystemExit("tockd benchmark run failed")
        return [int(x) for x in out.read_text().split()]


def describe(samples: list[int]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"median {statistics.median(samples) / 1000:6.1f} µs   p99 {q[98] / 1000:6.1f} µs"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="timed round trips per side")
    ap.add_argument("--warmup", type=int, default=2000)
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    print(f"{args.n} round trips each, after {args.warmup} warm-up")
    t0 = time.monotonic()
    raw = floor(args.n, args.warmup)
    kern = tockd(args.n, args.warmup)
    raw_med, k_med = statistics.median(raw), statistics.median(kern)
    print(f"raw msgpack ping-pong (floor)   {describe(raw)}")
    print(f"tockd null command              {describe(kern)}")
    print(f"ratio tockd / floor (medians)   {k_med / raw_med:.2f}")
    print(f"({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
