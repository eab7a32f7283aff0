"""The app's view of RAM, checked against its MPU configuration on every access.

All of the board's RAM is mapped into every app (one shared memfd); what an app may
touch is decided here, from the regions the kernel sent at the last context switch,
exactly as a real MPU decides. A violation is an MPU fault: the runtime reports the
address, length and access kind to the kernel and the app stops at once.

As defence in depth the runtime also `mprotect`s its own mapping: pages the MPU gives no
access to at all become PROT_NONE, so a stray access through the raw mapping (bypassing
this view) dies with SIGSEGV, which the kernel reports as an MPU fault. Pages are 4 KiB
and MPU regions are finer, so the backstop is coarse: a page the app may partly touch
stays open, and this view's byte-exact check is the real MPU.

`alloc` is a bump allocator over `sbrk`, like libtock-c's malloc growing the heap.
"""

from __future__ import annotations

import ctypes
import mmap
import struct
from bisect import bisect_right
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps_py.libtock.runtime import Runtime

READ = 4
WRITE = 2
EXECUTE = 1


class MpuFault(Exception):
    """Raised inside the runtime when an access is refused; never caught by apps."""

    def __init__(self, address: int, length: int, access: int, text: str) -> None:
        super().__init__(text)
        self.address, self.length, self.access = address, length, access


class Memory:
    """Checked loads and stores at emulated addresses."""

    __slots__ = (
        "_addr",
        "_ends",
        "_libc",
        "_mm",
        "_open",
        "_perms",
        "_rt",
        "_starts",
        "base",
        "size",
    )

    def __init__(self, rt: Runtime | None, mm: mmap.mmap, base: int, size: int) -> None:
        self._rt = rt
        self._mm = mm
        self.base = base
        self.size = size
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._perms: list[int] = []
        self._addr = 0  # host address of the mapping, 0 = no mprotect backstop
        self._libc: ctypes.CDLL | None = None
        self._open: bytearray = bytearray(size // mmap.PAGESIZE)  # 1 = page is RW

    def enable_backstop(self) -> None:
        """Start protecting pages of the raw mapping (all closed until regions arrive)."""
        view = ctypes.c_char.from_buffer(self._mm)
        self._addr = ctypes.addressof(view)
        del view  # a live buffer export would stop the mapping from ever closing
        self._libc = ctypes.CDLL(None, use_errno=True)  # libc is already loaded
        self._open = bytearray(b"\x01" * (self.size // mmap.PAGESIZE))
        self._protect_pages()

    def set_regions(self, ranges: list[list[int]]) -> None:
        """The MPU configuration: sorted [start, end, perms] triples (may overlap)."""
        ranges = sorted(ranges)
        self._starts = [r[0] for r in ranges]
        self._ends = [r[1] for r in ranges]
        self._perms = [r[2] for r in ranges]
        if self._addr:
            self._protect_pages()

    def _protect_pages(self) -> None:
        """mprotect runs of pages whose state changed: RW where any MPU range touches the
        page, none elsewhere."""
        page = mmap.PAGESIZE
        want = bytearray(len(self._open))
        for start, end, perms in zip(self._starts, self._ends, self._perms, strict=True):
            if not perms & (READ | WRITE):
                continue
            lo = max(start, self.base) - self.base
            hi = min(end, self.base + self.size) - self.base
            if hi > lo:
                want[lo // page : (hi + page - 1) // page] = b"\x01" * (
                    (hi + page - 1) // page - lo // page
                )
        i, n = 0, len(want)
        assert self._libc is not None
        while i < n:
            if want[i] == self._open[i]:
                i += 1
                continue
            j = i
            while j < n and want[j] == want[i] and want[j] != self._open[j]:
                j += 1
            prot = mmap.PROT_READ | mmap.PROT_WRITE if want[i] else 0
            if (
                self._libc.mprotect(
                    ctypes.c_void_p(self._addr + i * page), ctypes.c_size_t((j - i) * page), prot
                )
                != 0
            ):
                raise OSError(ctypes.get_errno(), "mprotect failed")
            i = j
        self._open = want

    def regions(self) -> list[tuple[int, int, int]]:
        return list(zip(self._starts, self._ends, self._perms, strict=True))

    def allowed(self, address: int, length: int, access: int) -> bool:
        pos, end = address, address + length
        while pos < end:
            i = bisect_right(self._starts, pos) - 1
            best = -1
            # the covering range with the right permission reaching furthest
            while i >= 0:
                if self._ends[i] > pos and (self._perms[i] & access) == access:
                    best = max(best, self._ends[i])
                i -= 1
                if best >= end:
                    break
            if best <= pos:
                return False
            pos = best
        return True

    def _check(self, address: int, length: int, access: int) -> int:
        if not self.allowed(address, length, access):
            kind = "write" if access & WRITE else "read"
            text = f"MPU fault: {kind} of {length} byte(s) at {address:#x}"
            if self._rt is not None:
                self._rt.mpu_fault(address, length, access, text)
            raise MpuFault(address, length, access, text)
        return address - self.base

    def read(self, address: int, length: int) -> bytes:
        off = self._check(address, length, READ)
        return self._mm[off : off + length]

    def write(self, address: int, data: bytes) -> None:
        off = self._check(address, len(data), WRITE)
        self._mm[off : off + len(data)] = data

    def read_u8(self, address: int) -> int:
        return self._mm[self._check(address, 1, READ)]

    def write_u8(self, address: int, value: int) -> None:
        self._mm[self._check(address, 1, WRITE)] = value & 0xFF

    def read_u32(self, address: int) -> int:
        value: int = struct.unpack_from("<I", self._mm, self._check(address, 4, READ))[0]
        return value

    def write_u32(self, address: int, value: int) -> None:
        struct.pack_into("<I", self._mm, self._check(address, 4, WRITE), value & 0xFFFF_FFFF)


class Heap:
    """A bump allocator that grows the app break with sbrk."""

    def __init__(self) -> None:
        self.top = 0
        self.end = 0

    def reset(self, start: int, end: int) -> None:
        self.top, self.end = start, end

    def alloc(self, size: int, align: int = 4) -> int:
        from apps_py.libtock.abi import Memop
        from apps_py.libtock.syscalls import TockError, memop

        address = (self.top + align - 1) & ~(align - 1)
        need = address + size
        if need > self.end:
            ret = memop(Memop.BRK, need)
            if not ret.ok:
                raise TockError(ret.r1, f"brk to {need:#x}")
            self.end = need
        self.top = need
        return address
