"""Landlock (Linux >= 5.13) through ctypes: a read-only, minimal view of the filesystem,
no TCP, and signals and abstract Unix sockets scoped to the app's own domain.

Used by sandbox.apply_limits before the app module is imported. No Python binding of
Landlock is needed: three syscalls and two small structs (linux/landlock.h).

Each right a running kernel knows is *handled* (denied unless a rule grants it). Rules
on a directory apply to everything beneath it; a rule on a file may carry only file
rights (EXECUTE, WRITE_FILE, READ_FILE, TRUNCATE, IOCTL_DEV), else EINVAL.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import stat
import struct
from collections.abc import Iterable

# syscall numbers: the same on every architecture that has Landlock (asm-generic)
_NR_CREATE_RULESET = 444
_NR_ADD_RULE = 445
_NR_RESTRICT_SELF = 446

_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

# filesystem rights and the ABI that introduced them
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5

#: rights a rule on a non-directory may carry
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV

# network rights (ABI 4) and scopes (ABI 6)
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

_O_PATH = getattr(os, "O_PATH", 0o10000000)


class LandlockError(Exception):
    """Landlock could not be applied; the message says which step failed and why."""


_c_long = ctypes.c_long
#: syscall(2) with up to four integer arguments, its argument conversion precompiled
#: (the runtime calls it in every new app, where each first touch of a page costs)
syscall4 = ctypes.CFUNCTYPE(_c_long, _c_long, _c_long, _c_long, _c_long, _c_long, use_errno=True)(
    ("syscall", ctypes.CDLL(None, use_errno=True))
)


@functools.cache
def abi_version() -> int:
    """The Landlock ABI of the running kernel: 0 if it has none (or has it disabled)."""
    version = syscall4(_NR_CREATE_RULESET, 0, 0, _CREATE_RULESET_VERSION, 0)
    return version if version > 0 else 0


def fs_rights(abi: int) -> int:
    """Every filesystem right ABI `abi` knows."""
    if abi <= 0:
        return 0
    rights = (MAKE_SYM << 1) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def net_rights(abi: int) -> int:
    return NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0


def scopes(abi: int) -> int:
    return SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0


def _error(step: str) -> LandlockError:
    err = ctypes.get_errno()
    return LandlockError(f"landlock {step}: {os.strerror(err)}")


def resolve(rules: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """`rules` made cheap to enforce: each path made absolute with its symlinks resolved,
    those that do not exist left out, each non-directory's rights reduced to file rights,
    and a rule dropped when a directory rule above it (or on it) already grants as much.
    The zygote resolves the rules every app shares once, before it forks."""
    found: list[tuple[str, int, bool]] = []
    for path, rights in rules:
        real = os.path.realpath(path)
        try:
            is_dir = stat.S_ISDIR(os.stat(real).st_mode)
        except OSError:
            continue
        if not is_dir:
            rights &= FILE_RIGHTS
        if rights:
            found.append((real, rights, is_dir))
    out: list[tuple[str, int]] = []
    for i, (path, rights, _is_dir) in enumerate(found):
        covered = any(
            j != i
            and is_dir
            and rights & ~other == 0
            and (path == top or path.startswith(top.rstrip("/") + "/"))
            and (path != top or other != rights or j < i)  # of two equal rules keep one
            for j, (top, other, is_dir) in enumerate(found)
        )
        if not covered:
            out.append((path, rights))
    return out


def restrict(rules: Iterable[tuple[str, int]], *, abi: int | None = None) -> int:
    """Build a ruleset from `rules` and enforce it on this thread (see `ruleset`).
    Returns the ABI enforced (0: Landlock unavailable, nothing done)."""
    abi = abi_version() if abi is None else abi
    if abi <= 0:
        return 0
    fd = ruleset(rules, abi=abi)
    try:
        enforce(fd)
    finally:
        os.close(fd)
    return abi


def enforce(ruleset_fd: int) -> None:
    """landlock_restrict_self: this thread (and what it starts) is confined by the
    ruleset from now on. The caller must have set PR_SET_NO_NEW_PRIVS."""
    if syscall4(_NR_RESTRICT_SELF, ruleset_fd, 0, 0, 0) != 0:
        raise _error("restrict_self")


def ruleset(rules: Iterable[tuple[str, int]], *, abi: int | None = None) -> int:
    """A ruleset fd for a Landlock domain (to `enforce` on a thread before any other
    thread exists; threads started later inherit it): every right `abi` knows is denied
    except what `rules` grant, `(path, rights)` pairs, best passed through resolve(). A
    path that does not exist (now) is skipped, and a rule refused because its path is no
    longer a directory is retried with file rights only. The zygote builds one per app
    module once, and every app forked for that module only enforces it."""
    abi = abi_version() if abi is None else abi
    if abi <= 0:
        raise LandlockError("Landlock is not available")
    handled = fs_rights(abi)
    if abi >= 6:
        attr = struct.pack("=QQQ", handled, net_rights(abi), scopes(abi))
    elif abi >= 4:
        attr = struct.pack("=QQ", handled, net_rights(abi))
    else:
        attr = struct.pack("=Q", handled)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = syscall4(_NR_CREATE_RULESET, ctypes.addressof(buf), len(attr), 0, 0)
    if ruleset < 0:
        raise _error("create_ruleset")
    try:
        rule = ctypes.create_string_buffer(12)  # landlock_path_beneath_attr, packed
        address = ctypes.addressof(rule)
        for path, rights in rules:
            try:
                fd = os.open(path, _O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rights &= handled
                struct.pack_into("=Qi", rule, 0, rights, fd)
                if syscall4(_NR_ADD_RULE, ruleset, _RULE_PATH_BENEATH, address, 0) != 0:
                    if ctypes.get_errno() != errno.EINVAL or rights & ~FILE_RIGHTS == 0:
                        raise _error(f"add_rule {path!r}")
                    struct.pack_into("=Qi", rule, 0, rights & FILE_RIGHTS, fd)
                    if syscall4(_NR_ADD_RULE, ruleset, _RULE_PATH_BENEATH, address, 0) != 0:
                        raise _error(f"add_rule {path!r}")
            finally:
                os.close(fd)
    except BaseException:
        os.close(ruleset)
        raise
    return int(ruleset)
