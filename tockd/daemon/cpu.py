"""Which core a board runs on (`[board] cpu`).

The daemon and every app of a board share one core, like a single-core
microcontroller (bench/RESULTS.md: across cores the wake-up alone costs more than the
syscall).
"""

from __future__ import annotations

import ctypes
import os

from tockd.board import BoardError

#: what `_current_cpu` gives when the C library cannot say
_UNKNOWN_CPU = -1


def resolve_cpu(setting: int | str) -> int | None:
    """The core a board runs on: `cpu = N`, "auto" (the core the daemon is on when the
    board is built, so concurrent boards spread the way the OS placed them) or "off"
    (None: not pinned)."""
    if setting == "off":
        return None
    allowed = os.sched_getaffinity(0)
    if setting == "auto":
        cpu = _current_cpu()
        return cpu if cpu in allowed else max(allowed)
    if type(setting) is not int or setting not in allowed:
        raise BoardError(
            f"board.cpu: CPU {setting!r} is not available here "
            f'(allowed: {", ".join(map(str, sorted(allowed)))}, or "auto", "off")'
        )
    return setting


def _current_cpu() -> int:
    try:
        return int(ctypes.CDLL(None, use_errno=True).sched_getcpu())
    except (OSError, AttributeError):
        return _UNKNOWN_CPU
