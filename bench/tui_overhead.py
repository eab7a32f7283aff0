"""How much the dashboard slows the kernel: syscalls/s of a 64-app board, with and
without the TUI attached, in one run.

    python bench/tui_overhead.py [--apps 64] [--window 4] [--rounds 3] [--headless]

One daemon runs `apps` copies of apps_py/spin.py (null commands in a loop) on one
board. The total syscall count is read through the control socket at the start and end
of each window. Windows alternate, without the dashboard and with it (started fresh,
given `--settle` seconds to attach, run in tmux as a user would, or headless):
W0 T0 W1 T1 ... Wn. Each T is compared with the mean of the W windows either side of
it, so a drift of the machine's load hits both sides alike; the median of those ratios
is the result. The dashboard's own CPU use while attached is printed too.

Then, unless `--no-floor`, the same is measured for a bare subscriber that only reads
the packed event stream and throws it away: the part of the cost that is the kernel
logging and sending every event, whatever client is attached.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tockd.cli import Client  # noqa: E402
from tockd.tui.osstats import cores_apart_from  # noqa: E402


def board_file(directory: Path, apps: int) -> Path:
    lines = ["[board]", 'name = "spin"', f"ram_size = {apps * 8192 + 65536}", 'mpu = "cortex-m"']
    for i in range(apps):
        lines += ["[[apps]]", f'name = "spin{i:02d}"', 'module = "apps_py.spin"']
    path = directory / "spin.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def daemon(board: Path, sock: Path) -> Iterator[subprocess.Popen[bytes]]:
    run = ["run", str(board), "--control", str(sock), "--quiet", "--forever"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tockd.cli", *run],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the daemon did not start")
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Dashboard:
    """The TUI attached to the daemon: in a tmux session (a real terminal), or headless."""

    def __init__(self, sock: Path, headless: bool) -> None:
        cmd = [sys.executable, "-m", "tockd.tui", "--control", str(sock)]
        self.tmux: list[str] | None = None
        if headless:
            self.proc: psutil.Popen | psutil.Process = psutil.Popen(
                [*cmd, "--headless"], cwd=ROOT, stdout=subprocess.DEVNULL
            )
            return
        self.tmux = ["tmux", "-L", f"tockd-bench-{os.getpid()}"]
        size = ["-x", "120", "-y", "40"]
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-s", "tui", *size, "-c", str(ROOT), *cmd],
            check=True,
        )
        out = subprocess.run(
            [*self.tmux, "display-message", "-p", "-t", "tui", "#{pane_pid}"],
            check=True,
            capture_output=True,
            text=True,
        )
        self.proc = psutil.Process(int(out.stdout))

    def cpu_seconds(self) -> float:
        t = self.proc.cpu_times()
        return t.user + t.system

    def close(self) -> None:
        if self.tmux is not None:
            subprocess.run([*self.tmux, "kill-server"], check=False, capture_output=True)
        try:
            self.proc.terminate()
            self.proc.wait(10)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            self.proc.kill()


BARE = r"""
import socket, sys, msgpack
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(msgpack.packb({"op": "readonly"}) + msgpack.packb(
    {"op": "subscribe", "packed": True, "interval_ms": 100}))
while s.recv(1 << 18):
    pass
"""


class BareSubscriber(Dashboard):
    """A client that reads the whole event stream and does nothing with it, kept off
    the board's core as the dashboard keeps itself."""

    def __init__(self, sock: Path, board_pid: int) -> None:
        self.tmux = None
        self.proc = psutil.Popen([sys.executable, "-c", BARE, str(sock)], cwd=ROOT)
        cores = cores_apart_from(board_pid)
        if cores is not None:
            self.proc.cpu_affinity(sorted(cores))


def total_syscalls(client: Client) -> tuple[int, float]:
    rows = client.request("ps")
    return sum(r["syscalls"] for r in rows), time.monotonic()


def window(client: Client, seconds: float) -> float:
    a, t0 = total_syscalls(client)
    time.sleep(seconds)
    b, t1 = total_syscalls(client)
    return (b - a) / (t1 - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apps", type=int, default=64)
    ap.add_argument("--window", type=float, default=3.0, help="seconds per measurement")
    ap.add_argument("--rounds", type=int, default=5, help="windows with the dashboard")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds to let a TUI attach")
    ap.add_argument("--headless", action="store_true", help="no tmux: a headless TUI")
    ap.add_argument("--no-floor", action="store_true", help="skip the bare-subscriber runs")
    args = ap.parse_args(argv)
    headless = args.headless or shutil.which("tmux") is None
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; {args.apps} spin apps; {args.rounds} x {args.window} s "
        f"windows with the dashboard ({'headless' if headless else 'in tmux 120x40'}), "
        f"{args.rounds + 1} without; load average {os.getloadavg()[0]:.1f}"
    )
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tob") as tmp:
        d = Path(tmp)
        sock = d / "c.sock"
        with daemon(board_file(d, args.apps), sock) as board:
            client = Client(str(sock))
            time.sleep(args.settle + 1)  # every app started and spinning
            runs = [("with TUI", lambda: Dashboard(sock, headless))]
            if not args.no_floor:
                runs.append(("bare subscriber", lambda: BareSubscriber(sock, board.pid)))
            for label, attach in runs:
                report(label, *alternate(client, attach, args))
            client.close()
    print(f"({time.monotonic() - t_start:.1f} s)")
    return 0


def alternate(
    client: Client, attach: Callable[[], Dashboard], args: argparse.Namespace
) -> tuple[list[float], list[float], list[float]]:
    """Windows W0 A0 W1 A1 ... Wn: without, and with `attach()`'s client attached."""
    without = [window(client, args.window)]
    attached: list[float] = []
    cpu: list[float] = []
    for _ in range(args.rounds):
        other = attach()
        try:
            time.sleep(args.settle)
            c0, t0 = other.cpu_seconds(), time.monotonic()
            attached.append(window(client, args.window))
            cpu.append((other.cpu_seconds() - c0) / (time.monotonic() - t0))
        finally:
            other.close()
        time.sleep(0.5)
        without.append(window(client, args.window))
    return without, attached, cpu


def report(label: str, without: list[float], attached: list[float], cpu: list[float]) -> None:
    ratios = [t / ((a + b) / 2) for t, a, b in zip(attached, without, without[1:], strict=False)]
    ratio = statistics.median(ratios)
    base, other = statistics.median(without), statistics.median(attached)
    print(f"-- {label}")
    print(f"without          {base:9.0f} syscalls/s median   (windows: {_list(without)})")
    print(f"{label:<16} {other:9.0f} syscalls/s median   (windows: {_list(attached)})")
    print(f"ratios, each against its neighbours: {_list(ratios, 3)}")
    print(f"ratio with/without (median)  {ratio:.3f}   overhead {100 * (1 - ratio):.1f}%")
    print(f"{label} CPU while attached  {100 * statistics.median(cpu):.0f}% of a core")


def _list(values: list[float], digits: int = 0) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
