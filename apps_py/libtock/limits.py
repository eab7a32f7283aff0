"""The app's resource limits (the board's `[sandbox]` numbers, sandbox.py), and the bit
of address space kept in reserve so that running out of memory can still be reported.

`sandbox.apply_limits` sets them first, before anything else of the sandbox: RLIMIT_CORE
0; RLIMIT_FSIZE 0 with `landlock = true` (no byte written to any file, a memfd included:
EFBIG, as Python ignores SIGXFSZ); RLIMIT_AS, RLIMIT_CPU and, once the fds above it are
closed, RLIMIT_NOFILE from the settings.
"""

from __future__ import annotations

import mmap
import resource
import sys
from collections.abc import Mapping

_reserve: mmap.mmap | None = None
#: address space kept in reserve (mapped, never touched, so it costs no RAM and no time)
#: so that reporting a MemoryError still finds memory
RESERVE_BYTES = 1 << 20


def _set_limit(which: int, value: int) -> None:
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def set_limits(cfg: Mapping[str, int | bool], ram_size: int) -> None:
    """No .pyc written, RLIMIT_CORE 0, RLIMIT_FSIZE 0 (unless `landlock = false`, which
    relaxes the filesystem whole, writes too), RLIMIT_AS (`address_space_mb` beyond the
    `ram_size` bytes of the board's RAM mapping) and RLIMIT_CPU (SIGXCPU at
    `cpu_seconds`, SIGKILL one second later); a setting of 0 sets no limit."""
    sys.dont_write_bytecode = True  # RLIMIT_FSIZE would kill the app writing a .pyc
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if cfg["landlock"]:  # `landlock = false` relaxes the filesystem whole, writes too
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    mb = int(cfg["address_space_mb"])
    if mb:
        _set_limit(resource.RLIMIT_AS, (mb << 20) + ram_size)
    cpu = int(cfg["cpu_seconds"])
    if cpu:
        _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        top = cpu + 1 if hard == resource.RLIM_INFINITY else min(cpu + 1, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (min(cpu, top), top))


def set_open_files(cfg: Mapping[str, int | bool]) -> None:
    """RLIMIT_NOFILE `open_files` (0: keep the inherited one)."""
    files = int(cfg["open_files"])
    if files:
        _set_limit(resource.RLIMIT_NOFILE, files)


def no_processes() -> None:
    """RLIMIT_NPROC 0: `fork = false` where there is no seccomp filter to refuse it
    (binds non-root users only)."""
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def keep_reserve() -> None:
    """Map the reserve (with an address-space limit only)."""
    global _reserve
    _reserve = mmap.mmap(-1, RESERVE_BYTES)


def release_reserve() -> None:
    """Out of memory: give back the reserve so the fault can still be reported."""
    global _reserve
    if _reserve is not None:
        _reserve.close()
        _reserve = None
