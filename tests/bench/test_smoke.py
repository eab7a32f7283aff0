"""Benchmarks are not tests; these only check that each one still runs (tiny counts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(*argv: str) -> str:
    r = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_syscall_rtt_runs() -> None:
    out = bench("bench/syscall_rtt.py", "--n", "300", "--warmup", "20")
    assert "tockd null command, pinned" in out and "floor), unpinned" in out
    assert "ratio tockd / floor (medians): pinned" in out


def test_zero_copy_runs() -> None:
    out = bench("bench/zero_copy.py", "--size", "65536", "--n", "3", "--warmup", "1")
    assert "allowed buffer, kernel takes it in place" in out
    assert "allowed buffer (in place) is" in out


def test_many_apps_runs() -> None:
    out = bench("bench/many_apps.py", "--counts", "3", "--window", "0.1")
    row = next(line.split() for line in out.splitlines() if line.lstrip().startswith("3 "))
    assert float(row[3].replace(",", "")) > 0  # syscalls/s with every app busy


def test_explore_bench_runs() -> None:
    r = subprocess.run(
        [sys.executable, "bench/explore.py", "--runs", "4", "--spawns", "3", "--no-ray"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    assert "spawn to first syscall, zygote" in r.stdout
    assert "2 jobs" in r.stdout
    assert "explore floor (2 apps, 1 syscall each): 4 runs" in r.stdout
