"""CPU% and RSS of the app processes, read with psutil from the OS pids the daemon
reports. This asks the OS, not the kernel: about 30 µs a process, once a second."""

from __future__ import annotations

import os
from collections.abc import Iterable

import psutil


class OsStats:
    """Keeps one psutil.Process per pid so that cpu_percent() measures between calls."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def sample(self, pids: Iterable[int]) -> dict[int, tuple[float, int]]:
        """(CPU %, RSS bytes) per pid that still exists. A pid seen for the first time
        reads 0 % (psutil needs two readings)."""
        stats: dict[int, tuple[float, int]] = {}
        wanted = set(pids)
        for pid in wanted:
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                with proc.oneshot():
                    stats[pid] = (proc.cpu_percent(None), proc.memory_info().rss)
            except psutil.Error:
                self._procs.pop(pid, None)
        for pid in set(self._procs) - wanted:
            del self._procs[pid]
        return stats


def cores_apart_from(pid: int) -> set[int] | None:
    """The cores this process may use that process `pid` is not pinned to, when `pid`
    is pinned to fewer cores than we may use (a board runs on one core, like a
    single-core microcontroller); None when there is nothing to move away from."""
    try:
        theirs = set(psutil.Process(pid).cpu_affinity() or [])
    except (psutil.Error, AttributeError):
        return None
    ours = os.sched_getaffinity(0)
    apart = ours - theirs
    if not theirs or not apart or theirs >= ours:
        return None
    return apart
