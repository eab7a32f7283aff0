"""The app's own flash, read as an app would: its TBF header and its read-only data.

The kernel maps this process's TBF image read-only (memory.py, `Memory`); everything
here reads it through the checked view, so a read the MPU refuses is an MPU fault, as
on hardware. Apps call these as `memory.tbf_header`, `memory.rodata` and
`memory.flash_string` (memory.py re-exports them); docs/memory.md has the layout.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tockd.contract.tbf import (
    BASE_FORMAT,
    BASE_SIZE,
    PROGRAM_FORMAT,
    TLV_FORMAT,
    TLV_PACKAGE_NAME,
    TLV_PROGRAM,
)

if TYPE_CHECKING:
    from apps_py.libtock.memory import Memory


@dataclass(frozen=True)
class TbfHeader:
    """What an app finds in its TBF header (tock-tbf `TbfHeaderV2Base`, the Program TLV
    and the PackageName TLV; tockd/kernel/flash.py writes them)."""

    version: int
    header_size: int
    total_size: int
    flags: int
    checksum: int
    init_fn_offset: int
    protected_trailer_size: int
    minimum_ram_size: int
    binary_end_offset: int
    package_name: str

    @property
    def protected_size(self) -> int:
        """Header plus protected trailer: the app start's offset (tock-tbf
        `get_protected_size`)."""
        return self.header_size + self.protected_trailer_size


def tbf_header(memory: Memory, flash_start: int) -> TbfHeader:
    """Parse the TBF header at `flash_start` with checked reads (an MPU fault if the
    process may not read there). Unknown TLVs are skipped, as Tock's parser does."""
    base = struct.unpack(BASE_FORMAT, memory.read(flash_start, BASE_SIZE))
    header_size = base[1]
    raw = memory.read(flash_start, header_size)
    program: tuple[int, ...] = (0, 0, 0, 0, 0)
    name = ""
    pos = BASE_SIZE
    while pos + 4 <= header_size:
        kind, length = struct.unpack_from(TLV_FORMAT, raw, pos)
        value = raw[pos + 4 : pos + 4 + length]
        if kind == TLV_PROGRAM:
            program = struct.unpack(PROGRAM_FORMAT, value)
        elif kind == TLV_PACKAGE_NAME:
            name = value.decode()
        pos += 4 + -(-length // 4) * 4
    version, size, total, flags, check = base
    init_fn, trailer, min_ram, binary_end, _version = program
    return TbfHeader(
        version, size, total, flags, check, init_fn, trailer, min_ram, binary_end, name
    )


def rodata(memory: Memory | None = None) -> list[tuple[int, int]]:
    """(address, length) of each entry of this app's read-only data in flash (the
    board's `rodata`), in order: read from the table at the app start, as libtock-c's
    crt0 reads its header there."""
    memory, start = _own_flash(memory)
    table = start + tbf_header(memory, start).protected_size
    count = memory.read_u32(table)
    pairs = struct.unpack(f"<{2 * count}I", memory.read(table + 4, 8 * count))
    return [(start + pairs[2 * i], pairs[2 * i + 1]) for i in range(count)]


def flash_string(index: int, memory: Memory | None = None) -> bytes:
    """The bytes of rodata entry `index` (no NUL: the board's string as it is)."""
    memory, _ = _own_flash(memory)
    address, length = rodata(memory)[index]
    return memory.read(address, length)


def _own_flash(memory: Memory | None) -> tuple[Memory, int]:
    # imported here: memory.py and runtime.py import this module
    from apps_py.libtock.memory import MemoryProtocolError

    if memory is None:
        from apps_py.libtock import runtime

        memory = runtime.current().memory
    start, end = memory.flash_range
    if end <= start:
        raise MemoryProtocolError("the kernel sent no flash")
    return memory, start
