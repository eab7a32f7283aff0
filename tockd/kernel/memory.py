"""Physical RAM: one sealed memfd, mapped by the kernel and by every app.

Addresses are emulated: byte `base + i` of the board lives at offset `i` of the memfd.
The kernel reaches every byte (it is privileged, like Tock's kernel with PRIVDEFENA);
apps map the same file and are held to their MPU view by their runtime. The memfd is
sealed against shrinking and growing before any app sees it: an app that truncated a
shared mapping would make the kernel's next access die with SIGBUS.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct


class MemoryError_(Exception):
    """A kernel access outside physical RAM (a kernel bug, never an app's fault)."""


class PhysicalRAM:
    """The board's RAM: `size` bytes at emulated address `base`."""

    def __init__(self, size: int, base: int = 0x2000_0000) -> None:
        if size <= 0 or size % mmap.PAGESIZE:
            raise ValueError(f"RAM size must be a positive multiple of {mmap.PAGESIZE}")
        self.base = base
        self.size = size
        self.fd = os.memfd_create("tockd-ram", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        os.ftruncate(self.fd, size)
        fcntl.fcntl(
            self.fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
        )
        self.mm = mmap.mmap(self.fd, size, flags=mmap.MAP_SHARED)

    @property
    def end(self) -> int:
        return self.base + self.size

    def contains(self, address: int, length: int) -> bool:
        return self.base <= address and address + length <= self.end and length >= 0

    def _offset(self, address: int, length: int) -> int:
        if not self.contains(address, length):
            raise MemoryError_(f"kernel access {address:#x}+{length} outside RAM")
        return address - self.base

    def read(self, address: int, length: int) -> bytes:
        off = self._offset(address, length)
        return self.mm[off : off + length]

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
        self.mm.close()
        os.close(self.fd)
