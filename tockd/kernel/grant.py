"""Grants: per-process capsule state kept as real bytes at the top of process RAM.

Layout of one allocated grant (little-endian, 4-byte aligned), as in `kernel/src/grant.rs`:

    u8 upcall count, u8 read-only allow count, u8 read-write allow count, u8 pad
    upcalls   x (u32 fn pointer, u32 appdata)
    RO allows x (u32 pointer, u32 length)
    RW allows x (u32 pointer, u32 length)
    capsule state T (a struct format given by the capsule)

The kernel stores subscribe and allow state here and reads it back on every use, so an
app that can write another process's grant memory really does change what the kernel
does, as on hardware. The kernel keeps its own copy of where each grant lives (the
pointer table in RAM is written for show and for leaks, never trusted for addresses).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tockd.kernel.memory import PhysicalRAM

_HEADER = struct.Struct("<BBBx")
_PAIR = struct.Struct("<II")


@dataclass(frozen=True)
class GrantSpec:
    """The shape of one capsule's grant: `Grant<T, UpcallCount<U>, AllowRoCount<RO>, ...>`."""

    driver_num: int
    upcalls: int = 0
    allow_ro: int = 0
    allow_rw: int = 0
    state_format: str = ""  # struct format of T, without byte-order prefix
    state_fields: tuple[str, ...] = ()

    @property
    def state_offset(self) -> int:
        return _HEADER.size + 8 * (self.upcalls + self.allow_ro + self.allow_rw)

    @property
    def size(self) -> int:
        raw = self.state_offset + struct.calcsize("<" + self.state_format)
        return (raw + 3) & ~3


class GrantError(Exception):
    """Entering a grant failed; `error` is what capsules report (NOMEM, FAIL)."""

    def __init__(self, error: int, reason: str) -> None:
        super().__init__(reason)
        self.error = error


class Grant:
    """An entered grant: reads and writes go to the RAM bytes."""

    __slots__ = ("address", "ram", "spec")

    def __init__(self, ram: PhysicalRAM, address: int, spec: GrantSpec) -> None:
        self.ram = ram
        self.address = address
        self.spec = spec

    @staticmethod
    def initialise(ram: PhysicalRAM, address: int, spec: GrantSpec) -> Grant:
        ram.zero(address, spec.size)
        ram.write(address, _HEADER.pack(spec.upcalls, spec.allow_ro, spec.allow_rw))
        return Grant(ram, address, spec)

    def _slot(self, base: int, n: int) -> int:
        return self.address + _HEADER.size + 8 * (base + n)

    def upcall(self, n: int) -> tuple[int, int]:
        """(fn pointer, appdata) of upcall slot n."""
        a, b = self.ram.unpack("<II", self._slot(0, n))
        return a, b

    def set_upcall(self, n: int, fnptr: int, appdata: int) -> None:
        self.ram.write(self._slot(0, n), _PAIR.pack(fnptr, appdata))

    def allow_ro(self, n: int) -> tuple[int, int]:
        a, b = self.ram.unpack("<II", self._slot(self.spec.upcalls, n))
        return a, b

    def set_allow_ro(self, n: int, ptr: int, length: int) -> None:
        self.ram.write(self._slot(self.spec.upcalls, n), _PAIR.pack(ptr, length))

    def allow_rw(self, n: int) -> tuple[int, int]:
        a, b = self.ram.unpack("<II", self._slot(self.spec.upcalls + self.spec.allow_ro, n))
        return a, b

    def set_allow_rw(self, n: int, ptr: int, length: int) -> None:
        base = self.spec.upcalls + self.spec.allow_ro
        self.ram.write(self._slot(base, n), _PAIR.pack(ptr, length))

    def state(self) -> dict[str, int]:
        """The capsule's T, by field name."""
        if not self.spec.state_format:
            return {}
        values = self.ram.unpack(
            "<" + self.spec.state_format, self.address + self.spec.state_offset
        )
        return dict(zip(self.spec.state_fields, values, strict=True))

    def set_state(self, **fields: int) -> None:
        current = self.state()
        current.update(fields)
        values = [current[f] & 0xFFFF_FFFF for f in self.spec.state_fields]
        self.ram.pack("<" + self.spec.state_format, self.address + self.spec.state_offset, *values)
