"""RAM pages as both sides see them: the page size, and mmap(2) through libc.

The kernel builds physical RAM from one memfd per page (tockd/kernel/memory.py) and an
app maps the memfds of its own pages (apps_py/libtock/memory.py): both must agree on
the page and map the same way. Python's `mmap.mmap` keeps a private dup of the fd it
maps, which would outlive the mapping's owner's intent, so both call libc's mmap.

Part of the contract (tockd/contract/__init__.py): imports only the standard library.
"""

from __future__ import annotations

import ctypes
import mmap
import os

PAGE = mmap.PAGESIZE

_MAP_FAILED = ctypes.c_void_p(-1).value

_libc = ctypes.CDLL(None, use_errno=True)
_mmap = _libc.mmap
_mmap.restype = ctypes.c_void_p
_mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]


def map_at(address: int | None, length: int, prot: int, flags: int, fd: int = -1) -> int:
    """mmap(2) through libc (Python's mmap keeps a private dup of the fd it maps, which
    would outlive the mapping's owner's intent); returns the host address."""
    got = _mmap(address, length, prot, flags, fd, 0)
    if got is None or got == _MAP_FAILED:
        err = ctypes.get_errno()
        raise OSError(err, f"mmap failed: {os.strerror(err)}")
    return int(got)
