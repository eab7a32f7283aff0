"""The app's view of RAM: the pages Linux lets it map, checked against its MPU.

The app process maps only what the kernel hands it, one memfd per page over a socket
of its own (the "memory socket"): the pages of its own RAM block, and, while its MPU
opens a window onto another process's buffer (IPC), the pages holding that buffer.
Every other page of the board's RAM is a PROT_NONE hole in this process: there is no
file, fd or mapping through which it could reach another app's memory. That is the
wall (tockd/kernel/memory.py has the kernel's side). When a window closes, the kernel
says so and the page becomes a hole again; an app that ignores it keeps only a private
copy of the past (the kernel copies the owner's pages on revocation).

On top of the pages, this view checks every access byte for byte against the regions
the kernel sent at the last context switch, exactly as Tock's MPU does: a violation is
an MPU fault, reported with its address, length and access kind, and the app stops. As
a backstop, pages of its own block that its MPU does not open (grant memory above the
break) are mprotect'ed PROT_NONE, so a raw access there dies with SIGSEGV, which the
kernel reports as an MPU fault. The backstop is the app's own: what it protects from a
hostile app is the app itself, never anyone else.

Flash: the kernel sends, first at boot, the sealed memfd of this process's own TBF image
(tockd/kernel/flash.py), mapped here read-only at a host address of its own. A checked
read at a flash address the MPU allows (the process's own flash, r-x) reads it; a write is
an MPU fault, and a raw one hits a read-only mapping Linux will not make writable (the
memfd is sealed). No other process's flash is mapped here. `tbf_header`, `rodata` and
`flash_string` (flash.py, and here for apps as `memory.X`) read the image as an app
would: through the checked view.

`alloc` is a bump allocator over `sbrk`, like libtock-c's malloc growing the heap.
"""

from __future__ import annotations

import array
import ctypes
import mmap
import socket
import struct
from bisect import bisect_right
from typing import TYPE_CHECKING

import msgpack

# the app-facing names of flash.py: apps call them as `memory.rodata()` and so on
from apps_py.libtock.flash import TbfHeader as TbfHeader
from apps_py.libtock.flash import flash_string as flash_string
from apps_py.libtock.flash import rodata as rodata
from apps_py.libtock.flash import tbf_header as tbf_header
from tockd.contract.abi import PAGE_FDS_MAX
from tockd.contract.pages import PAGE, map_at

if TYPE_CHECKING:
    from apps_py.libtock.runtime import Runtime

READ = 4
WRITE = 2
EXECUTE = 1

_MAP_FIXED = 0x10
_MAP_NORESERVE = 0x4000
_RW = mmap.PROT_READ | mmap.PROT_WRITE
_CMSG_SPACE = socket.CMSG_SPACE(PAGE_FDS_MAX * 4)

_libc = ctypes.CDLL(None, use_errno=True)
_mprotect = _libc.mprotect
_mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_map = map_at


class MpuFault(Exception):
    """Raised inside the runtime when an access is refused; never caught by apps."""

    def __init__(self, address: int, length: int, access: int, text: str) -> None:
        super().__init__(text)
        self.address, self.length, self.access = address, length, access


class MemoryProtocolError(Exception):
    """The kernel's memory socket said something the runtime cannot follow."""


class Memory:
    """Checked loads and stores at emulated addresses."""

    __slots__ = (
        "_addr",
        "_ends",
        "_flash",
        "_flash_end",
        "_flash_start",
        "_mapped",
        "_mm",
        "_open",
        "_perms",
        "_reserved",
        "_rt",
        "_starts",
        "backstop",
        "base",
        "flash_host",
        "size",
    )

    def __init__(self, rt: Runtime | None, base: int, size: int) -> None:
        self._rt = rt
        self.base = base
        self.size = size
        # the whole of RAM's address range, as holes: pages are mapped in as handed over
        # (an anonymous mmap object gives the writable buffer; its pages never hold data)
        self._reserved = mmap.mmap(-1, size, mmap.MAP_PRIVATE | _MAP_NORESERVE)
        view = ctypes.c_char.from_buffer(self._reserved)
        #: host address of emulated address `base` in this process
        self._addr = ctypes.addressof(view)
        del view  # a live export would pin the object; the memoryview below is the one
        if _mprotect(self._addr, size, 0) != 0:
            raise OSError(ctypes.get_errno(), "mprotect failed")
        self._mm = memoryview(self._reserved)
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._perms: list[int] = []
        npages = size // PAGE
        self._mapped = bytearray(npages)  # 1 = a page object of the kernel is mapped here
        self._open = bytearray(npages)  # 1 = the page is PROT_READ|PROT_WRITE now
        self.backstop = True
        #: this process's flash, read-only, once the kernel sent it
        self._flash: memoryview | None = None
        self._flash_start = self._flash_end = 0
        #: host address of the read-only flash mapping (0: none)
        self.flash_host = 0

    @property
    def raw(self) -> memoryview:
        """The whole range as a buffer, unchecked (holes fault with SIGSEGV)."""
        return self._mm

    # ---- pages from the kernel -------------------------------------------------------

    def receive(self, sock: socket.socket, messages: int) -> None:
        """Take `messages` page messages from the memory socket: each is msgpack
        `[[page, ...] to map (one fd each, in order), [page, ...] to unmap]`."""
        for _ in range(messages):
            data, ancdata, flags, _addr = sock.recvmsg(4096, _CMSG_SPACE)
            fds = array.array("i")
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[: len(payload) - len(payload) % 4])
            try:
                self._apply(data, list(fds), flags)
            finally:
                for fd in fds:
                    _libc.close(fd)
        self._protect_pages()

    def _apply(self, data: bytes, fds: list[int], flags: int) -> None:
        if not data:
            raise MemoryProtocolError("the kernel closed the memory socket")
        if flags & socket.MSG_CTRUNC:
            raise MemoryProtocolError("page fds were cut short (too many open files?)")
        message = msgpack.unpackb(data)
        if type(message) is dict:
            self._map_flash(message, fds)
            return
        maps, unmaps = message
        if len(maps) != len(fds):
            raise MemoryProtocolError(f"{len(maps)} pages to map, {len(fds)} fds")
        npages = len(self._mapped)
        for page, fd in zip(maps, fds, strict=True):
            if not 0 <= page < npages:
                raise MemoryProtocolError(f"page {page} outside RAM")
            _map(self._addr + page * PAGE, PAGE, _RW, mmap.MAP_SHARED | _MAP_FIXED, fd)
            self._mapped[page] = 1
            self._open[page] = 1
        for page in unmaps:
            if not 0 <= page < npages:
                raise MemoryProtocolError(f"page {page} outside RAM")
            flags_anon = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_FIXED | _MAP_NORESERVE
            _map(self._addr + page * PAGE, PAGE, 0, flags_anon)
            self._mapped[page] = 0
            self._open[page] = 0

    def _map_flash(self, message: dict[str, list[int]], fds: list[int]) -> None:
        """`{"flash": [start, size]}` and one fd: map this process's flash read-only."""
        if self._flash is not None:
            raise MemoryProtocolError("flash sent twice")
        if len(fds) != 1 or "flash" not in message:
            raise MemoryProtocolError(f"bad flash message {message!r} with {len(fds)} fds")
        start, size = message["flash"]
        host = _map(None, -(-size // PAGE) * PAGE, mmap.PROT_READ, mmap.MAP_SHARED, fds[0])
        view = memoryview((ctypes.c_char * size).from_address(host)).cast("B")
        self._flash = view.toreadonly()
        self.flash_host = host
        self._flash_start, self._flash_end = start, start + size

    def _read_flash(self, address: int, length: int) -> memoryview:
        """Bytes the MPU let through outside RAM: they must be this process's flash."""
        flash = self._flash
        if flash is None or not (
            self._flash_start <= address and address + length <= self._flash_end
        ):
            raise MemoryProtocolError(f"no memory mapped at {address:#x}+{length}")
        off = address - self._flash_start
        return flash[off : off + length]

    @property
    def flash_range(self) -> tuple[int, int]:
        """(start, end) of this process's flash, (0, 0) before the kernel sent it."""
        return self._flash_start, self._flash_end

    # ---- the MPU ---------------------------------------------------------------------

    def set_regions(self, ranges: list[list[int]]) -> None:
        """The MPU configuration: sorted [start, end, perms] triples (may overlap)."""
        ranges = sorted(ranges)
        self._starts = [r[0] for r in ranges]
        self._ends = [r[1] for r in ranges]
        self._perms = [r[2] for r in ranges]
        self._protect_pages()

    def _protect_pages(self) -> None:
        """mprotect runs of mapped pages whose state changed: RW where any MPU range
        touches the page, none elsewhere (holes stay holes)."""
        want = bytearray(len(self._open))
        if self.backstop:
            for start, end, perms in zip(self._starts, self._ends, self._perms, strict=True):
                if not perms & (READ | WRITE):
                    continue
                lo = max(start, self.base) - self.base
                hi = min(end, self.base + self.size) - self.base
                if hi > lo:
                    first, last = lo // PAGE, (hi + PAGE - 1) // PAGE
                    want[first:last] = self._mapped[first:last]
        else:
            want[:] = self._mapped
        i, n = 0, len(want)
        while i < n:
            if want[i] == self._open[i]:
                i += 1
                continue
            j = i
            while j < n and want[j] == want[i] and want[j] != self._open[j]:
                j += 1
            prot = _RW if want[i] else 0
            if _mprotect(self._addr + i * PAGE, (j - i) * PAGE, prot) != 0:
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
        if 0 <= off <= self.size - length:
            return bytes(self._mm[off : off + length])
        return bytes(self._read_flash(address, length))

    def write(self, address: int, data: bytes) -> None:
        off = self._check(address, len(data), WRITE)
        self._mm[off : off + len(data)] = data

    def read_u8(self, address: int) -> int:
        off = self._check(address, 1, READ)
        if 0 <= off < self.size:
            return self._mm[off]
        return self._read_flash(address, 1)[0]

    def write_u8(self, address: int, value: int) -> None:
        self._mm[self._check(address, 1, WRITE)] = value & 0xFF

    def read_u32(self, address: int) -> int:
        off = self._check(address, 4, READ)
        if 0 <= off <= self.size - 4:
            value: int = struct.unpack_from("<I", self._mm, off)[0]
        else:
            value = struct.unpack("<I", self._read_flash(address, 4))[0]
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
