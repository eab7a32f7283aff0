"""prctl(2) through ctypes, its options, and no new privileges: what the sandbox uses to
take away what an app process could still gain (sandbox.py, seccomp.py).
"""

from __future__ import annotations

import ctypes
import os

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
