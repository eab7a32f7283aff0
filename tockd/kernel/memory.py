"""Physical RAM: the kernel's view of the board's memory, built from one memfd per page.

Addresses are emulated: byte `base + i` of the board lives at offset `i` of the kernel's
view. The kernel reaches every byte (it is privileged, like Tock's kernel with
PRIVDEFENA). Apps never get the view, nor any file covering all of it:

- each page of a process's RAM block is its own memfd (`back`), sealed against
  shrinking and growing, mapped shared into the kernel's view at its place (MAP_FIXED
  over a reserved range). Unallocated RAM is private anonymous memory of the kernel.
- an app maps the memfds of its own block and, while its MPU opens a window onto
  another process's buffer (IPC), the memfds of the pages holding that buffer
  (`page_objects` says which objects a set of pages is made of). So Linux enforces the
  MPU at page granularity, whatever code the app runs.
- closing a window for real (`replace`) copies those pages into fresh memfds and maps
  them in place in the kernel's view: whatever mapping the peer kept aliases nothing any
  more. Each page's `generation` says which object backs it now, so the daemon can tell
  a live app to map the new object.

An app that truncated a shared page would make the kernel's next access die with
SIGBUS: the seals forbid it. Pages are `PAGE` bytes; process blocks start and end on
page boundaries (the process loader rounds), so no page holds two processes' memory.
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import struct

# the page and the way to map one are shared with the app runtime (PAGE re-exported)
from tockd.contract.pages import PAGE as PAGE
from tockd.contract.pages import map_at

_PROT_RW = mmap.PROT_READ | mmap.PROT_WRITE
_MAP_FIXED = 0x10
_MAP_NORESERVE = 0x4000
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL

_libc = ctypes.CDLL(None, use_errno=True)
_munmap = _libc.munmap
_munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


class MemoryError_(Exception):
    """A kernel access outside physical RAM (a kernel bug, never an app's fault)."""


def page_memfd(index: int) -> int:
    """A fresh, zeroed, sealed memfd of one page."""
    fd = os.memfd_create(f"tockd-ram-{index}", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, PAGE)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


class PhysicalRAM:
    """The board's RAM: `size` bytes at emulated address `base`."""

    def __init__(self, size: int, base: int = 0x2000_0000) -> None:
        if size <= 0 or size % PAGE:
            raise ValueError(f"RAM size must be a positive multiple of {PAGE}")
        self.base = base
        self.size = size
        self._host = map_at(
            None, size, _PROT_RW, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE
        )
        #: the kernel's view: every byte of RAM, as a writable buffer
        self.mm = memoryview((ctypes.c_char * size).from_address(self._host)).cast("B")
        self._fds: dict[int, int] = {}  # page index -> memfd backing it
        #: page index -> which object backs it (bumped each time `replace` swaps it)
        self.generation: dict[int, int] = {}
        self._closed = False

    @property
    def end(self) -> int:
        return self.base + self.size

    # ---- pages ----------------------------------------------------------------------

    def pages(self, address: int, length: int) -> range:
        """The indices of the pages holding [address, address + length)."""
        if length <= 0:
            return range(0)
        lo = max(address, self.base) - self.base
        hi = min(address + length, self.end) - self.base
        if hi <= lo:
            return range(0)
        return range(lo // PAGE, (hi + PAGE - 1) // PAGE)

    def back(self, address: int, length: int) -> None:
        """Give every page of [address, address + length) its own memfd (zeroed), mapped
        into the kernel's view. Pages already backed keep their object and bytes."""
        for page in self.pages(address, length):
            if page not in self._fds:
                self._install(page, page_memfd(page), copy=False)
                self.generation[page] = 0

    def _install(self, page: int, fd: int, *, copy: bool) -> None:
        where = self._host + page * PAGE
        old = bytes(self.mm[page * PAGE : (page + 1) * PAGE]) if copy else None
        try:
            map_at(where, PAGE, _PROT_RW, mmap.MAP_SHARED | _MAP_FIXED, fd)
        except BaseException:
            os.close(fd)
            raise
        previous = self._fds.get(page)
        self._fds[page] = fd
        if previous is not None:
            os.close(previous)
        if old is not None:
            self.mm[page * PAGE : (page + 1) * PAGE] = old

    def replace(self, address: int, length: int) -> list[int]:
        """Copy the backed pages of [address, address + length) into fresh objects, in
        place: the bytes stay, but whoever mapped the old objects now holds a private
        copy of the past. Returns the pages replaced. The caller marks every live process
        that maps them `mpu_dirty`, so each maps the new objects at its next switch."""
        done = []
        for page in self.pages(address, length):
            if page in self._fds:
                self._install(page, page_memfd(page), copy=True)
                self.generation[page] += 1
                done.append(page)
        return done

    def page_fd(self, page: int) -> int:
        """The memfd backing `page` (the caller passes it on, never closes it)."""
        return self._fds[page]

    def is_backed(self, page: int) -> bool:
        return page in self._fds

    # ---- access ---------------------------------------------------------------------

    def contains(self, address: int, length: int) -> bool:
        return self.base <= address and address + length <= self.end and length >= 0

    def _offset(self, address: int, length: int) -> int:
        if not self.contains(address, length):
            raise MemoryError_(f"kernel access {address:#x}+{length} outside RAM")
        return address - self.base

    def read(self, address: int, length: int) -> bytes:
        off = self._offset(address, length)
        return bytes(self.mm[off : off + length])

    def write(self, address: int, data: bytes) -> None:
        off = self._offset(address, len(data))
        self.mm[off : off + len(data)] = data

    def zero(self, address: int, length: int) -> None:
        if length > 0:
            self.write(address, bytes(length))

    def unpack(self, fmt: str, address: int) -> tuple[int, ...]:
        off = self._offset(address, struct.calcsize(fmt))
        return struct.unpack_from(fmt, self.mm, off)

    def pack(self, fmt: str, address: int, *values: int) -> None:
        off = self._offset(address, struct.calcsize(fmt))
        struct.pack_into(fmt, self.mm, off, *values)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.mm.release()
        except BufferError:  # a view of it is still exported: leave the mapping be
            return
        _munmap(self._host, self.size)
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
