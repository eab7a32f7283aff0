"""Exploration throughput and app spawn time, in one run.

    python bench/explore.py [--runs 200] [--exhaustive]

Prints: runs/s exploring configs/rot13_report.toml (random strategy, invariants on,
every run to the end) with 1 and 2 jobs; the time from asking for an app process to
its first syscall arriving at the kernel, forked from the warm zygote against a cold
`python -m apps_py.libtock.runtime` start, and a bare `python -c pass` for scale; and
the Ray row (bench/_ray_row.py): a local two-node cluster against --jobs 2. With
--exhaustive, the whole exhaustive sweep of the board under the version 1 timer rule
(the baseline) and today's: runs/s, distinct observations, new observations per second.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tockd import memmap  # noqa: E402
from tockd.contract import wire  # noqa: E402
from tockd.kernel.abi import FRAME_BOOT, FRAME_UPCALL  # noqa: E402
from tockd.kernel.memory import PhysicalRAM  # noqa: E402
from tockd.lab.explore import Summary, explore  # noqa: E402
from tockd.zygote import Zygote, app_environment  # noqa: E402

BOARD = ROOT / "configs/rot13_report.toml"


def exhaustive(timers: str) -> Summary:
    """The whole exhaustive sweep of BOARD (preemption bound 2), one job, every run to
    the end, under the timer rule `timers`."""
    return explore(
        BOARD,
        ["notify-delivered"],
        strategy="exhaustive",
        runs=1_000_000,
        jobs=1,
        stop_at_first=False,
        shrink=False,
        timers=timers,
    )


def exhaustive_row(name: str, s: Summary) -> str:
    found = len(s.observations)
    last = s.new_observation_at[-1] if s.new_observation_at else 0
    return (
        f"exhaustive {BOARD.name}, {name:<9} {s.runs:5} runs in {s.seconds:5.1f} s  "
        f"{s.runs_per_second:6.1f} runs/s  {found} observations "
        f"({found / s.seconds:.2f} new/s; the last at run {last})"
    )


def throughput(runs: int, jobs: int) -> float:
    s = explore(
        BOARD,
        ["notify-delivered"],
        strategy="random",
        runs=runs,
        jobs=jobs,
        stop_at_first=False,
        shrink=False,
    )
    return s.runs_per_second


def _first_syscall(sock: socket.socket, mem: socket.socket, ram: PhysicalRAM) -> None:
    """Play the kernel until the app's first syscall (crt0's brk) arrives."""
    start = ram.base
    maps = memmap.send(mem, ram, list(ram.pages(start, 8192)), [], memmap.BOOT_FDS)
    desc = {
        "index": 0,
        "name": "bench",
        "module": "apps_py.hello",
        "ram_base": ram.base,
        "ram_size": ram.size,
        "mem_start": start,
        "memory_len": 8192,
        "flash_start": 0x40000,
        "flash_end": 0x44000,
        "stack": 1024,
        "seed": 0,
        "args": {},
        "mpu": [[start, start + 8192, 6]],
        "mprotect": False,
        "maps": maps,
    }
    sock.sendall(wire.encode([FRAME_BOOT, desc]))
    sock.sendall(wire.encode([FRAME_UPCALL, 0x40088, 0x40040, start, 8192, start]))
    decoder = wire.FrameDecoder()
    while True:
        data = sock.recv(4096)
        if not data:
            raise SystemExit("bench app died before its first syscall")
        decoder.feed(data)
        if list(decoder.frames()):
            return


def spawn_times(n: int) -> dict[str, list[float]]:
    ram = PhysicalRAM(64 * 1024)
    ram.back(ram.base, 8192)
    null = os.open(os.devnull, os.O_WRONLY)
    env = app_environment()
    out: dict[str, list[float]] = {"zygote": [], "cold": [], "python -c pass": []}
    zygote = Zygote(env)
    zygote.start()
    try:
        for _ in range(n):
            parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            mem, mem_child = memmap.open_pair()
            t0 = time.perf_counter()
            _pid, pidfd = zygote.spawn(
                child, mem_child.fileno(), (null, null), module="apps_py.hello"
            )
            child.close()
            mem_child.close()
            _first_syscall(parent, mem, ram)
            out["zygote"].append(time.perf_counter() - t0)
            parent.close()
            mem.close()
            os.close(pidfd)
        for _ in range(max(3, n // 4)):
            parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            mem, mem_child = memmap.open_pair()
            t0 = time.perf_counter()
            p = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "apps_py.libtock.runtime",
                    str(child.fileno()),
                    str(mem_child.fileno()),
                    str(os.getpid()),
                ],
                pass_fds=(child.fileno(), mem_child.fileno()),
                env=env,
                cwd=ROOT,
            )
            child.close()
            mem_child.close()
            _first_syscall(parent, mem, ram)
            mem.close()
            out["cold"].append(time.perf_counter() - t0)
            parent.close()
            p.wait()
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            out["python -c pass"].append(time.perf_counter() - t0)
    finally:
        zygote.close()
        ram.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200, help="exploration runs per row")
    ap.add_argument("--spawns", type=int, default=40, help="spawns measured per kind")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray row")
    ap.add_argument(
        "--exhaustive",
        action="store_true",
        help="also the whole exhaustive sweep, one job, under the old and the new timer "
        "rule: runs/s, and observations and how fast new ones came (about 2 minutes)",
    )
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    spawns = spawn_times(args.spawns)
    for kind, times in spawns.items():
        print(
            f"spawn to first syscall, {kind:15} median {statistics.median(times) * 1e3:6.2f} ms"
            f"  (n={len(times)})"
        )
    one = throughput(args.runs, 1)
    two = throughput(args.runs, 2)
    print(f"explore {BOARD.name}: {args.runs} runs, 1 job   {one:6.1f} runs/s")
    print(f"explore {BOARD.name}: {args.runs} runs, 2 jobs  {two:6.1f} runs/s ({two / one:.2f}x)")
    if args.exhaustive:
        # the baseline (version 1 timer rule) and today's, in one run (issue 16)
        for rule in ("implicit", "decided"):
            print(exhaustive_row(rule, exhaustive(rule)))
    if not args.no_ray:
        from _ray_row import ray_row  # bench/ is on sys.path when run as a script

        for line in ray_row(args.runs).lines():
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
