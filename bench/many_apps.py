"""Boards of many apps: start time, aggregate syscalls/s, kernel and app memory.

    python bench/many_apps.py [--counts 64,256] [--window 0]

For each count, one board of that many apps (apps_py/spin_on_press.py, forked from the
warm zygote, 4 KiB of RAM each, the default placement on one core) runs in this
process's trio loop, with nothing subscribed to the event stream:

- spawn: from `Daemon.run()` until every app process exists (zygote start included);
- start: until every app has run its first syscalls and waits in yield (subscribed and
  enabled button 0);
- then button 0 is pressed and every app turns busy making null commands; after a
  settling moment the kernel's syscall counters are read over a window long enough
  for the round-robin scheduler to give every app at least one timeslice;
- memory, with all apps busy: the daemon process's RSS (this process: the kernel, trio
  and the bench), and per app RSS, PSS and USS (`memory_full_info`, smaps);
- stop: from the stop request until every app has been reaped.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tockd.board import parse_board  # noqa: E402
from tockd.capsules.button import Button  # noqa: E402
from tockd.daemon import Daemon  # noqa: E402
from tockd.kernel.abi import DriverNum  # noqa: E402
from tockd.kernel.process import State  # noqa: E402

MB = 1 << 20
APP_BLOCK = 4096  # `ram = 2048` loads as one 4 KiB block under the cortex-m MPU


@dataclass
class Result:
    apps: int
    spawn_s: float
    start_s: float
    syscalls_per_s: float
    window_s: float
    kernel_rss: int
    app_rss: float
    app_pss: float
    app_uss: float
    zygote_rss: int
    stop_s: float


def board(n: int, cpu: str, spawn: str) -> str:
    ram = max(64 * 1024, 2 * n * APP_BLOCK)
    lines = [
        "[board]",
        f'name = "many-{n}"',
        'mpu = "cortex-m"',
        f"ram_size = {ram}",
        f"cpu = {cpu}",
        f'spawn = "{spawn}"',
    ]
    for i in range(n):
        lines += ["[[apps]]", f'name = "spin{i}"', 'module = "apps_py.spin_on_press"']
        lines += ["ram = 2048", "stack = 512"]
    return "\n".join(lines) + "\n"


async def measure(n: int, window: float, cpu: str, spawn: str) -> Result:
    daemon = Daemon(parse_board(board(n, cpu, spawn)), quiet=True, forever=True)
    kernel = daemon.kernel
    procs = kernel.processes
    result: Result | None = None
    stop_requested = 0.0

    async def observe() -> None:
        nonlocal result, stop_requested
        await daemon.started.wait()
        spawn_s = time.perf_counter() - t0
        while not all(p.syscall_count > 0 and p.state is State.YIELDED for p in procs):  # noqa: ASYNC110
            await trio.sleep(0.002)
        start_s = time.perf_counter() - t0
        button = kernel.capsules[DriverNum.BUTTON]
        assert isinstance(button, Button)

        def press() -> None:
            button.set_button(0, True)

        daemon.post(press)
        await trio.sleep(0.3)  # every app is runnable now; let the first turns go by
        span = window or (n * daemon.cfg.timeslice_us / 1e6 * 1.2 + 0.5)
        c0, w0 = sum(p.syscall_count for p in procs), time.perf_counter()
        await trio.sleep(span)
        c1, w1 = sum(p.syscall_count for p in procs), time.perf_counter()
        busy = sum(1 for p in procs if p.syscall_count > 20)
        if busy < n:
            print(f"  warning: only {busy} of {n} apps got a timeslice in the window")
        kernel_rss = psutil.Process().memory_info().rss
        rss, pss, uss = [], [], []
        for p in procs:
            assert p.pid is not None
            try:
                info = psutil.Process(p.pid).memory_full_info()
            except psutil.AccessDenied:  # smaps of a non-dumpable app: root only
                rss.append(psutil.Process(p.pid).memory_info().rss)
                continue
            rss.append(info.rss)
            pss.append(info.pss)
            uss.append(info.uss)
        zygote = daemon.zygote
        zygote_rss = 0
        if zygote is not None and zygote.popen is not None:
            zygote_rss = psutil.Process(zygote.popen.pid).memory_info().rss
        result = Result(
            n,
            spawn_s,
            start_s,
            (c1 - c0) / (w1 - w0),
            w1 - w0,
            kernel_rss,
            statistics.mean(rss),
            statistics.mean(pss) if pss else math.nan,
            statistics.mean(uss) if uss else math.nan,
            zygote_rss,
            0.0,
        )
        stop_requested = time.perf_counter()
        daemon.request_stop()

    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(observe)
        await daemon.run()
    assert result is not None
    result.stop_s = time.perf_counter() - stop_requested
    return result


async def run_all(counts: list[int], window: float, cpu: str, spawn: str) -> list[Result]:
    return [await measure(n, window, cpu, spawn) for n in counts]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="64,256", help="board sizes, comma-separated")
    ap.add_argument(
        "--window", type=float, default=0.0, help="busy window in s (0: one round of turns)"
    )
    ap.add_argument("--cpu", default='"auto"', help='board cpu setting: N, "auto" or "off"')
    ap.add_argument("--spawn", default="zygote", choices=("zygote", "cold"))
    args = ap.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    os.chdir(ROOT)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    rss0 = psutil.Process().memory_info().rss
    print(f"this process before any board: RSS {rss0 / MB:.1f} MB (Python, trio, psutil)")
    t0 = time.monotonic()
    print(f"apps: {args.spawn}, cpu = {args.cpu}")
    results = trio.run(run_all, counts, args.window, args.cpu, args.spawn)
    print(
        f"{'apps':>5} {'spawn':>8} {'start':>8} {'syscalls/s':>11} {'window':>7} "
        f"{'kernel RSS':>11} {'app RSS':>8} {'app PSS':>8} {'app USS':>8} {'zygote':>7} "
        f"{'stop':>7}"
    )
    for r in results:
        print(
            f"{r.apps:>5} {r.spawn_s:>7.2f}s {r.start_s:>7.2f}s {r.syscalls_per_s:>11,.0f} "
            f"{r.window_s:>6.1f}s {r.kernel_rss / MB:>8.1f} MB {r.app_rss / MB:>5.1f} MB "
            f"{_mb(r.app_pss, 1)} {_mb(r.app_uss, 2)} {r.zygote_rss / MB:>4.1f} MB "
            f"{r.stop_s:>6.2f}s"
        )
    if any(math.isnan(r.app_pss) for r in results):
        print("(app PSS and USS need root: an app is not dumpable, so only root reads its smaps)")
    print("targets: 256 apps start < 3 s; >= 20,000 syscalls/s; kernel RSS < 150 MB")
    print(f"({time.monotonic() - t0:.1f} s)")
    return 0


def _mb(size: float, digits: int) -> str:
    """A memory column: MB, or n/a where it could not be read."""
    return f"{'n/a':>5}   " if math.isnan(size) else f"{size / MB:>5.{digits}f} MB"


if __name__ == "__main__":
    sys.exit(main())
