"""bench/tui_overhead.py is a benchmark, not a test; this only checks that it still runs
(two apps, one short window each side, a headless dashboard, a bare subscriber)."""

from __future__ import annotations

import subprocess
import sys

from tests.tui.conftest import ROOT


def test_tui_overhead_bench_runs() -> None:
    args = ["--apps", "2", "--window", "0.3", "--rounds", "1", "--settle", "1", "--headless"]
    r = subprocess.run(
        [sys.executable, "bench/tui_overhead.py", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    assert "ratio with/without (median)" in r.stdout
    assert "with TUI CPU while attached" in r.stdout
    assert "-- bare subscriber" in r.stdout
