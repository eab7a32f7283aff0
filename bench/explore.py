"""Exploration throughput and app spawn time, in one run.

    python bench/explore.py [--runs 200] [--exhaustive]

Prints: runs/s exploring configs/rot13_report.toml (random strategy, invariants on,
every run to the end) with 1 and 2 jobs, and the floor of a run (two apps that each
make one syscall, 1 job: runs/s and the whole machine's CPU a run); the time from
asking for an app process to its first syscall arriving at the kernel, forked from the
warm zygote against a cold `python -m apps_py.libtock.runtime` start, and a bare
`python -c pass` for scale; and the Ray row (bench/_ray_row.py): a local two-node
cluster against --jobs 2. With --exhaustive, the whole exhaustive sweep of the board in
hardened mode: every schedule under the version 1 timer rule and under today's (the
baselines), and with reduction (tockd/lab/dpor.py) on 1 and 2 jobs: runs/s, distinct
orderings and new orderings per second, distinct observations.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tockd import memmap  # noqa: E402
from tockd.contract import wire  # noqa: E402
from tockd.kernel.abi import FRAME_BOOT, FRAME_UPCALL  # noqa: E402
from tockd.kernel.memory import PhysicalRAM  # noqa: E402
from tockd.lab.controlled import YIELDS_DECIDED  # noqa: E402
from tockd.lab.explore import Summary, explore  # noqa: E402
from tockd.zygote import Zygote, app_environment  # noqa: E402

BOARD = ROOT / "configs/rot13_report.toml"


def hardened_board(where: Path) -> Path:
    """BOARD in hardened mode (issue 16 measures the sweep there: nothing violates, so
    the whole tree is searched)."""
    board = where / "rot13_report_hardened.toml"
    text = BOARD.read_text().replace('kernel_mode = "tock"', 'kernel_mode = "hardened"')
    board.write_text(text)
    return board


def exhaustive(board: Path, timers: str, reduce: bool, jobs: int = 1) -> Summary:
    """The whole exhaustive sweep of `board` (preemption bound 2), every run to the end,
    under the timer rule `timers`, with or without the reduction."""
    return explore(
        board,
        ["notify-delivered"],
        strategy="exhaustive",
        runs=1_000_000,
        jobs=jobs,
        stop_at_first=False,
        shrink=False,
        timers=timers,
        reduce=reduce,
    )


def exhaustive_row(name: str, s: Summary) -> str:
    found = len(s.observations)
    last = s.new_observation_at[-1] if s.new_observation_at else 0
    return (
        f"{name:<34} {s.runs:5} runs in {s.seconds:5.1f} s  {s.runs_per_second:6.1f} runs/s  "
        f"{len(s.orderings):4} orderings ({len(s.orderings) / s.seconds:5.1f} new/s)  "
        f"{found} observations (the last at run {last})"
    )


#: the least a run can be: two apps that each make one null command and exit
FLOOR_BOARD = """\
[board]
name = "floor"
[[apps]]
name = "a"
module = "apps_py.spin"
args = { n = 1 }
[[apps]]
name = "b"
module = "apps_py.spin"
args = { n = 1 }
"""


def _busy_seconds() -> float:
    """CPU time the whole machine has spent busy so far (/proc/stat), in seconds."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def floor_row(runs: int, where: Path) -> str:
    """The floor of a run, one job: runs/s, and the machine's CPU per run (the worker,
    forking, sandboxing and reaping the apps: every process, not just this one)."""
    board = where / "floor.toml"
    board.write_text(FLOOR_BOARD)
    busy = _busy_seconds()
    s = explore(board, [], strategy="random", runs=runs, jobs=1, stop_at_first=False, shrink=False)
    per_run = (_busy_seconds() - busy) / s.runs
    return (
        f"explore floor (2 apps, 1 syscall each): {s.runs} runs, 1 job  "
        f"{s.runs_per_second:6.1f} runs/s, {per_run * 1e3:5.1f} ms of machine CPU a run"
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
        help="also the whole exhaustive sweep of the hardened board: every schedule under "
        "the old and the new timer rule (the baseline), and reduced with 1 and 2 jobs: "
        "runs/s, orderings and how fast new ones came, observations (about 5 minutes)",
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
    with tempfile.TemporaryDirectory() as tmp:
        print(floor_row(args.runs, Path(tmp)), flush=True)
    if args.exhaustive:
        # the baseline (every schedule, version 1 timer rule) and today's, in one run
        with tempfile.TemporaryDirectory() as tmp:
            board = hardened_board(Path(tmp))
            print(f"exhaustive sweeps of {board.name}, preemption bound 2:")
            rows = [
                ("every schedule, implicit timers, 1 job", "implicit", False, 1),
                ("every schedule, today's rule, 1 job", YIELDS_DECIDED, False, 1),
                ("reduced, 1 job", YIELDS_DECIDED, True, 1),
                ("reduced, 2 jobs", YIELDS_DECIDED, True, 2),
            ]
            for name, rule, reduce, jobs in rows:
                print(exhaustive_row(name, exhaustive(board, rule, reduce, jobs)), flush=True)
    if not args.no_ray:
        from _ray_row import ray_row  # bench/ is on sys.path when run as a script

        for line in ray_row(args.runs).lines():
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
