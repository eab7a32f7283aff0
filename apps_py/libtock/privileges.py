"""What an app process could still gain, taken away: prctl(2) through ctypes, no new
privileges, not dumpable, and every capability set emptied.

`sandbox.apply_limits` calls these in its order (docs/isolation.md); the zygote empties
its capability bounding set once (`drop_bounding_set`), so the apps it forks inherit an
empty one.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from apps_py.libtock import landlock
from apps_py.libtock.sandbox_error import SandboxError

# prctl options (linux/prctl.h)
PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_GET_NAME = 16
PR_GET_SECCOMP = 21
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_GET_TIMERSLACK = 30
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_GET_THP_DISABLE = 42
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_VMA = 0x53564D41

_c_ulong = ctypes.c_ulong
#: prctl(2) with its argument conversion precompiled (cheaper in a freshly forked app),
#: from the process's own symbols (ctypes.util.find_library would fork ldconfig)
prctl = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_int, _c_ulong, _c_ulong, _c_ulong, _c_ulong, use_errno=True
)(("prctl", ctypes.CDLL(None, use_errno=True)))


def no_new_privs() -> None:
    """PR_SET_NO_NEW_PRIVS: no exec may grant privileges (and an unprivileged process may
    load seccomp filters). Idempotent."""
    if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(err)}")


def not_dumpable() -> None:
    """PR_SET_DUMPABLE 0: the process's /proc entries become root's and its uid cannot
    ptrace it."""
    if prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise SandboxError(f"PR_SET_DUMPABLE failed: {os.strerror(ctypes.get_errno())}")


# ---- capabilities ----------------------------------------------------------------------

_NR_CAPGET = 125
_NR_CAPSET = 126
_CAP_VERSION_3 = 0x2008_0522


def _read_last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 63  # the loop stops at the first EINVAL


#: read at import (in the zygote, or before any Landlock rule in a cold start)
_LAST_CAP = _read_last_cap()


def capabilities() -> tuple[int, int, int]:
    """This thread's (effective, permitted, inheritable) capability sets, 64 bits each."""
    header = ctypes.create_string_buffer(struct.pack("=Ii", _CAP_VERSION_3, 0), 8)
    data = ctypes.create_string_buffer(24)
    if landlock.syscall4(_NR_CAPGET, ctypes.addressof(header), ctypes.addressof(data), 0, 0):
        raise SandboxError(f"capget failed: {os.strerror(ctypes.get_errno())}")
    e0, p0, i0, e1, p1, i1 = struct.unpack("=6I", data.raw)
    return e0 | e1 << 32, p0 | p1 << 32, i0 | i1 << 32


_bounding_dropped = False


def drop_bounding_set() -> None:
    """Empty the capability bounding set (needs CAP_SETPCAP; without it there is nothing
    this process could gain back anyway, exec being refused and no_new_privs set). The
    zygote does it once, so the apps it forks inherit an empty set."""
    global _bounding_dropped
    for cap in range(_LAST_CAP + 1):
        if prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.EPERM):
                break  # past the last cap, or no CAP_SETPCAP (an unprivileged process)
            raise SandboxError(f"PR_CAPBSET_DROP failed: {os.strerror(err)}")
    _bounding_dropped = True


def drop_capabilities() -> None:
    """No capability left in any set, whatever the uid: bounding (unless the zygote
    already emptied it), ambient, then effective, permitted and inheritable with
    capset(2)."""
    if not _bounding_dropped:
        drop_bounding_set()
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if landlock.syscall4(_NR_CAPSET, _CAPSET_ARGS[0], _CAPSET_ARGS[1], 0, 0):
        raise SandboxError(f"capset failed: {os.strerror(ctypes.get_errno())}")


#: capset's header (version 3, this thread) and an all-zero data block, built in the
#: zygote so that a forked app touches no new memory to drop its capabilities
_CAPSET_BUFFERS = (
    ctypes.create_string_buffer(struct.pack("=Ii", _CAP_VERSION_3, 0), 8),
    ctypes.create_string_buffer(24),
)
_CAPSET_ARGS = tuple(ctypes.addressof(b) for b in _CAPSET_BUFFERS)
