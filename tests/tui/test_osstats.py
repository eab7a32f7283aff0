"""tui.osstats: CPU% and RSS from psutil, and staying off the board's core."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil

from tockd.tui.osstats import OsStats, cores_apart_from


def test_stats_of_live_pids_only_and_the_cores_apart_from_a_pinned_process() -> None:
    code = "import time; print('ready', flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        stats = OsStats()
        first = stats.sample([child.pid, 2**22 + 12345])  # the second pid does not exist
        assert set(first) == {child.pid}
        cpu, rss = stats.sample([child.pid])[child.pid]
        assert cpu >= 0 and rss > 1 << 20
        ours = os.sched_getaffinity(0)
        assert cores_apart_from(child.pid) is None  # not pinned: nothing to avoid
        core = min(ours)
        psutil.Process(child.pid).cpu_affinity([core])
        expected = ours - {core} or None
        assert cores_apart_from(child.pid) == expected
    finally:
        child.kill()
        child.communicate()
    assert cores_apart_from(child.pid) is None
