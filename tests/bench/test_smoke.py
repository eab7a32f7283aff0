"""Benchmarks are not tests; these only check that each one still runs (tiny counts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_syscall_rtt_runs() -> None:
    r = subprocess.run(
        [sys.executable, "bench/syscall_rtt.py", "--n", "300", "--warmup", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    assert "ratio tockd / floor" in r.stdout
