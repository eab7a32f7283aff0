"""Grants: per-process capsule state kept as real bytes at the top of process RAM.

Layout of one allocated grant (little-endian, 4-byte aligned), as in `kernel/src/grant.rs`:

    u8 upcall count, u8 read-only allow count, u8 read-write allow count, u8 pad
    upcalls   x (u32 fn pointer, u32 appdata)
    RO allows x (u32 pointer, u32 length)
    RW allows x (u32 pointer, u32 length)
    capsule state T (a struct format given by the capsule)

The kernel stores subscribe and allow state here and reads it back on every use, so an
app that can write grant memory (its own, once it maps its whole RAM block) really does
change what the kernel reads, as on hardware.

What is trusted and what is re-checked:

- Trusted: where each grant lives and what shape it has. The kernel keeps its own copy
  of every grant's address (`Process.grant_ptrs`) and the capsule's `GrantSpec`; the
  pointer table and the count header in RAM are written for show and for leaks, never
  read back.
- Re-checked on every read: every value read back out of the grant bytes, by the
  accessors of a `Grant`, which knows its owner process, against the owner's rules at
  the moment of the read:
  * an allow with a non-zero length must lie inside [mem_start, app_break) of its owner
    (so never in its kernel memory [kernel_memory_break, mem_end), nor anyone else's);
    a read-only allow may instead lie in the owner's flash past its TBF header (what
    allow accepts). A zero-length allow is never dereferenced, its pointer is not
    checked;
  * an upcall fn pointer must be 0 or in the owner's flash or RAM (what subscribe
    accepts); appdata is opaque, handed back to the owner only, and not checked;
  * a capsule state field must be below the capsule's limit for it
    (`GrantSpec.state_limits`); fields with no limit are used only clamped by a
    checked allow length or compared with kernel-side copies.
  A value that breaks its rule raises `ForgedGrant(owner, reason)`. Values the kernel
  stored always pass: memop brk never moves the break below the allow high-water mark,
  and grant memory only grows down to the break. The kernel catches `ForgedGrant` at
  each boundary (syscall dispatch, upcall scheduling, IPC delivery, timers, control
  input), faults the owner (the forger, who may not be the running process) with the
  reason, and abandons the operation it was doing on anyone's behalf.
- Not checked, by design: the `raw_*` readers, which observers (the control socket's
  IPC view, the lab's invariant checks) and the old values an allow or subscribe hands
  back to the owner itself use. They never dereference what they read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tockd.kernel.memory import PhysicalRAM

if TYPE_CHECKING:
    from tockd.kernel.process import Process

_HEADER = struct.Struct("<BBBx")
_PAIR = struct.Struct("<II")
_NAMES = {0x0: "ALARM", 0x1: "CONSOLE", 0x2: "LED", 0x3: "BUTTON", 0x10000: "IPC", 0x40001: "RNG"}


@dataclass(frozen=True)
class GrantSpec:
    """The shape of one capsule's grant: `Grant<T, UpcallCount<U>, AllowRoCount<RO>, ...>`."""

    driver_num: int
    upcalls: int = 0
    allow_ro: int = 0
    allow_rw: int = 0
    state_format: str = ""  # struct format of T, without byte-order prefix
    state_fields: tuple[str, ...] = ()
    #: (field, limit): a value read back must be below `limit`, or the grant is forged
    state_limits: tuple[tuple[str, int], ...] = ()

    @property
    def state_offset(self) -> int:
        return _HEADER.size + 8 * (self.upcalls + self.allow_ro + self.allow_rw)

    @property
    def size(self) -> int:
        raw = self.state_offset + struct.calcsize("<" + self.state_format)
        return (raw + 3) & ~3

    @property
    def label(self) -> str:
        """The capsule's name in fault reasons."""
        return _NAMES.get(self.driver_num, f"driver {self.driver_num:#x}")


class GrantError(Exception):
    """Entering a grant failed; `error` is what capsules report (NOMEM, FAIL)."""

    def __init__(self, error: int, reason: str) -> None:
        super().__init__(reason)
        self.error = error


class ForgedGrant(Exception):
    """A value read back from `proc`'s grant breaks the rules the kernel stored it under:
    `proc` (the owner, and so the only one that can have written it) forged it."""

    def __init__(self, proc: Process, reason: str) -> None:
        super().__init__(reason)
        self.proc = proc
        self.reason = reason


class Grant:
    """An entered grant of `owner`: reads and writes go to the RAM bytes; every value
    read back through the plain accessors is checked against the owner's rules."""

    __slots__ = ("address", "owner", "ram", "spec")

    def __init__(self, ram: PhysicalRAM, address: int, spec: GrantSpec, owner: Process) -> None:
        self.ram = ram
        self.address = address
        self.spec = spec
        self.owner = owner

    @staticmethod
    def initialise(ram: PhysicalRAM, address: int, spec: GrantSpec, owner: Process) -> Grant:
        ram.zero(address, spec.size)
        ram.write(address, _HEADER.pack(spec.upcalls, spec.allow_ro, spec.allow_rw))
        return Grant(ram, address, spec, owner)

    def _slot(self, base: int, n: int) -> int:
        return self.address + _HEADER.size + 8 * (base + n)

    def _forged(self, what: str, problem: str) -> ForgedGrant:
        return ForgedGrant(self.owner, f"forged grant: {self.spec.label} {what} {problem}")

    # ---- raw readers: never dereferenced, for observers and for the owner itself --------

    def raw_upcall(self, n: int) -> tuple[int, int]:
        a, b = self.ram.unpack("<II", self._slot(0, n))
        return a, b

    def raw_allow_ro(self, n: int) -> tuple[int, int]:
        a, b = self.ram.unpack("<II", self._slot(self.spec.upcalls, n))
        return a, b

    def raw_allow_rw(self, n: int) -> tuple[int, int]:
        a, b = self.ram.unpack("<II", self._slot(self.spec.upcalls + self.spec.allow_ro, n))
        return a, b

    def raw_allows(self) -> list[tuple[int, int]]:
        """Every read-only allow slot, then every read-write one: `raw_allow_ro(i)` for
        each i, then `raw_allow_rw(i)`, read at once (they lie side by side)."""
        count = self.spec.allow_ro + self.spec.allow_rw
        if not count:
            return []
        flat = self.ram.unpack("<" + "II" * count, self._slot(self.spec.upcalls, 0))
        return list(zip(flat[::2], flat[1::2], strict=True))

    def raw_state(self) -> dict[str, int]:
        if not self.spec.state_format:
            return {}
        values = self.ram.unpack(
            "<" + self.spec.state_format, self.address + self.spec.state_offset
        )
        return dict(zip(self.spec.state_fields, values, strict=True))

    # ---- checked readers: what the kernel acts on -----------------------------------------

    def upcall(self, n: int) -> tuple[int, int]:
        """(fn pointer, appdata) of upcall slot n; the fn pointer is 0 or in the owner's
        flash or RAM, as subscribe requires."""
        fnptr, appdata = self.raw_upcall(n)
        p = self.owner
        if fnptr and not (p.in_flash(fnptr, 4) or p.in_ram(fnptr, 4)):
            raise self._forged(
                f"upcall {n}", f"fn pointer {fnptr:#x} is neither 0 nor in its flash or RAM"
            )
        return fnptr, appdata

    def set_upcall(self, n: int, fnptr: int, appdata: int) -> None:
        self.ram.write(self._slot(0, n), _PAIR.pack(fnptr, appdata))

    def _check_buffer(self, what: str, ptr: int, length: int, flash_ok: bool) -> None:
        p = self.owner
        if length == 0 or p.in_ram(ptr, length):
            return
        if flash_ok and p.in_flash(ptr, length):
            return
        where = f"{what} ({ptr:#x}, {length})"
        if ptr < p.mem_end and ptr + length > p.kernel_memory_break:
            raise self._forged(where, "reaches into its kernel memory (grants)")
        if flash_ok:
            raise self._forged(where, "is neither in its RAM below the break nor in its flash")
        raise self._forged(where, "is outside its RAM below the break")

    def allow_ro(self, n: int) -> tuple[int, int]:
        """(pointer, length) of read-only allow n: in the owner's RAM below its break or
        in its flash (or of length 0)."""
        ptr, length = self.raw_allow_ro(n)
        self._check_buffer(f"allow_ro {n}", ptr, length, True)
        return ptr, length

    def set_allow_ro(self, n: int, ptr: int, length: int) -> None:
        self.ram.write(self._slot(self.spec.upcalls, n), _PAIR.pack(ptr, length))

    def allow_rw(self, n: int) -> tuple[int, int]:
        """(pointer, length) of read-write allow n: in the owner's RAM below its break
        (or of length 0)."""
        ptr, length = self.raw_allow_rw(n)
        self._check_buffer(f"allow_rw {n}", ptr, length, False)
        return ptr, length

    def set_allow_rw(self, n: int, ptr: int, length: int) -> None:
        base = self.spec.upcalls + self.spec.allow_ro
        self.ram.write(self._slot(base, n), _PAIR.pack(ptr, length))

    def state(self) -> dict[str, int]:
        """The capsule's T, by field name; each limited field below its limit."""
        values = self.raw_state()
        for name, limit in self.spec.state_limits:
            if values[name] >= limit:
                raise self._forged(
                    f"state {name}", f"= {values[name]:#x} is out of range (< {limit:#x})"
                )
        return values

    def set_state(self, **fields: int) -> None:
        current = self.raw_state()  # fields not written are copied back, never used
        current.update(fields)
        values = [current[f] & 0xFFFF_FFFF for f in self.spec.state_fields]
        self.ram.pack("<" + self.spec.state_format, self.address + self.spec.state_offset, *values)
