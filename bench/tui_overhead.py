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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tockd.cli import Client  # noqa: E402


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
        cmd = [sys.executable, "-m", "tui", "--control", str(sock)]
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
    args = ap.parse_args(argv)
    headless = args.headless or shutil.which("tmux") is None
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; {args.apps} spin apps; {args.rounds} x {args.window} s "
        f"windows with the dashboard ({'headless' if headless else 'in tmux 120x40'}), "
        f"{args.rounds + 1} without; load average {os.getloadavg()[0]:.1f}"
    )
    t_start = time.monotonic()
    without: list[float] = []
    with_tui: list[float] = []
    tui_cpu: list[float] = []
    with tempfile.TemporaryDirectory(prefix="tob") as tmp:
        d = Path(tmp)
        sock = d / "c.sock"
        with daemon(board_file(d, args.apps), sock):
            client = Client(str(sock))
            time.sleep(args.settle + 1)  # every app started and spinning
            without.append(window(client, args.window))
            for _ in range(args.rounds):
                dash = Dashboard(sock, headless)
                try:
                    time.sleep(args.settle)
                    c0, t0 = dash.cpu_seconds(), time.monotonic()
                    with_tui.append(window(client, args.window))
                    tui_cpu.append((dash.cpu_seconds() - c0) / (time.monotonic() - t0))
                finally:
                    dash.close()
                time.sleep(0.5)
                without.append(window(client, args.window))
            client.close()
    ratios = [t / ((a + b) / 2) for t, a, b in zip(with_tui, without, without[1:], strict=False)]
    ratio = statistics.median(ratios)
    base, tui = statistics.median(without), statistics.median(with_tui)
    print(f"without TUI  {base:9.0f} syscalls/s median   (windows: {_list(without)})")
    print(f"with TUI     {tui:9.0f} syscalls/s median   (windows: {_list(with_tui)})")
    print(f"ratios with/without, each against its neighbours: {_list(ratios, 3)}")
    print(f"ratio with/without (median)  {ratio:.3f}   overhead {100 * (1 - ratio):.1f}%")
    print(f"dashboard CPU while attached  {100 * statistics.median(tui_cpu):.0f}% of a core")
    print(f"({time.monotonic() - t_start:.1f} s)")
    return 0


def _list(values: list[float], digits: int = 0) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
