"""Flash: every process's TBF image, real bytes that its app and the kernel can read.

Tock loads apps from flash: each is a TBF object, a header followed by the app binary,
and the kernel takes the package name, the protected size and `_start` from that header
(libraries/tock-tbf/src/{types,parse}.rs, release-2.2). tockd apps are Python, so there is
no binary to copy; instead the kernel writes, for each process, an image with the same
shape (`build_image`):

    0                TBF header, version 2 (`TbfHeaderV2Base`: version, header_size,
                     total_size, flags = enabled, checksum = XOR of the other header
                     words), then the TLVs Program (type 9: init_fn_offset,
                     protected_trailer_size, minimum_ram_size, binary_end_offset,
                     version) and PackageName (type 3: the name's bytes, padded to 4)
    header_size      the protected trailer (zeros) up to `protected`, a multiple of
                     PROTECTED_ALIGN: Tock's `flash_non_protected_start`, the app start
    protected        the rodata table: u32 count, then count x (u32 offset from the
                     flash start, u32 length). An app finds it as libtock-c's crt0 finds
                     its header: at the app start (argument 0 of `_start`)
    init             `_start`, the address the kernel's first upcall names (the table
                     area is at least TABLE_MIN bytes: `_start` is at flash + 0x88 for a
                     name of up to 20 bytes, + 0xC8 up to 84)
    init + 8         the rodata entries, each 4-aligned, bytes as the board gave them
                     (UTF-8, no NUL added)
    binary_end       where the binary ends; the runtime numbers the code addresses it
                     gives Python callables (upcall handles) from here
    ... total_size   zeros: total_size is the whole power-of-two flash region, as
                     elf2tab pads a TBF for the Cortex-M MPU

Departures from a real TBF, on purpose: there is no code, only the `_start` address;
there is no footer (no credentials); the rodata table is tockd's, standing in for the
linker symbols a C app would use to find its strings.

Isolation (docs/isolation.md): the image lives in a memfd sealed against writing,
growing and shrinking before anyone maps it (`FlashImage.fd`). The daemon hands an app
the memfd of its own image only (tockd/memmap.py), which it maps read-only; Linux
refuses a writable shared mapping of it, so no app can change flash, and no other app's
flash is in its address space at all. The kernel reads its own copy of the bytes
(`Flash.read`), identical by the seals.
"""

from __future__ import annotations

import fcntl
import os
import struct
import weakref
from dataclasses import dataclass, field

from tockd.contract.pages import PAGE

# The header layout is shared with the app runtime, which parses it back
from tockd.contract.tbf import (
    BASE_FORMAT,
    BASE_SIZE,
    CHECKSUM_WORD,
    FLAG_ENABLED,
    PROGRAM_FORMAT,
    TBF_VERSION,
    TLV_FORMAT,
    TLV_PACKAGE_NAME,
    TLV_PROGRAM,
)

#: the protected region (header + trailer) is a multiple of this: 0x40 for a name of up
#: to 20 bytes (where tockd put the app start before flash had bytes), 0x80 up to 84
PROTECTED_ALIGN = 0x40
#: bytes reserved at the app start for the rodata table before `_start`
TABLE_MIN = 0x48
#: bytes of "code" at `_start` before the rodata
START_BYTES = 8
ENTRY_ALIGN = 4

_SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL


class FlashError(Exception):
    """An image that cannot be built or placed, or a kernel read outside flash."""


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _tlv(kind: int, value: bytes) -> bytes:
    """One TLV entry, its value padded to 4 bytes (the parser skips to the next 4)."""
    return struct.pack(TLV_FORMAT, kind, len(value)) + value.ljust(_round_up(len(value), 4), b"\0")


def checksum(header: bytes) -> int:
    """XOR of the header's 32-bit words but the checksum's own (tock-tbf parse.rs)."""
    words = struct.unpack(f"<{len(header) // 4}I", header)
    out = 0
    for i, word in enumerate(words):
        if i != CHECKSUM_WORD:
            out ^= word
    return out


@dataclass
class FlashImage:
    """One process's flash: `data` is all `size` bytes of [start, start + size)."""

    start: int
    data: bytes
    header_size: int
    protected: int  # offset of the app start (end of the protected region)
    init: int  # offset of `_start`
    binary_end: int
    rodata: list[tuple[int, int]]  # (address, length) of each entry
    _fd: int | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def end(self) -> int:
        return self.start + self.size

    def fd(self) -> int:
        """The sealed memfd holding the image (made on first use, closed with the image).
        Its length is whole pages: the app maps it at page granularity."""
        if self._fd is None:
            fd = os.memfd_create("tockd-flash", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
            try:
                os.ftruncate(fd, _round_up(self.size, PAGE))
                os.pwrite(fd, self.data, 0)
                fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            weakref.finalize(self, os.close, fd)
        return self._fd


def build_image(start: int, size: int, name: str, min_ram: int, rodata: list[bytes]) -> FlashImage:
    """The TBF-shaped image of a process placed at `start` in a flash region of `size`
    bytes (see the module docstring for the layout)."""
    encoded = name.encode()
    header_size = BASE_SIZE + 4 + struct.calcsize(PROGRAM_FORMAT) + len(_tlv(0, encoded))
    protected = _round_up(header_size, PROTECTED_ALIGN)
    table_size = 4 + 8 * len(rodata)
    init = protected + max(TABLE_MIN, _round_up(table_size, 8))
    offsets, pos = [], init + START_BYTES
    for entry in rodata:
        offsets.append(pos)
        pos = _round_up(pos + len(entry), ENTRY_ALIGN)
    binary_end = pos
    if binary_end > size:
        raise FlashError(f"flash image of {binary_end} bytes does not fit in {size} bytes")
    if header_size > 0xFFFF:
        raise FlashError(f"package name of {len(encoded)} bytes: TBF header too long")
    program = struct.pack(
        PROGRAM_FORMAT,
        init - header_size,  # Tock adds header_size (`get_init_function_offset`)
        protected - header_size,
        min_ram,
        binary_end,
        0,
    )
    tlvs = _tlv(TLV_PROGRAM, program) + _tlv(TLV_PACKAGE_NAME, encoded)
    base = struct.pack(BASE_FORMAT, TBF_VERSION, header_size, size, FLAG_ENABLED, 0)
    header = base + tlvs
    header = header[:12] + struct.pack("<I", checksum(header)) + header[16:]
    image = bytearray(size)
    image[:header_size] = header
    table = [len(rodata), *_pairs(offsets, rodata)]
    struct.pack_into(f"<{len(table)}I", image, protected, *table)
    for offset, entry in zip(offsets, rodata, strict=True):
        image[offset : offset + len(entry)] = entry
    return FlashImage(
        start,
        bytes(image),
        header_size,
        protected,
        init,
        binary_end,
        [(start + o, len(e)) for o, e in zip(offsets, rodata, strict=True)],
    )


def _pairs(offsets: list[int], rodata: list[bytes]) -> list[int]:
    out: list[int] = []
    for offset, entry in zip(offsets, rodata, strict=True):
        out += [offset, len(entry)]
    return out


class Flash:
    """The board's flash: the images the process loader wrote, by start address."""

    def __init__(self) -> None:
        self._images: dict[int, FlashImage] = {}

    def program(self, image: FlashImage) -> None:
        for other in self._images.values():
            if other.start < image.end and image.start < other.end:
                raise FlashError(f"image at {image.start:#x} overlaps one at {other.start:#x}")
        self._images[image.start] = image

    def image_at(self, start: int) -> FlashImage:
        """The image that starts at `start` (a process's `flash_start`)."""
        return self._images[start]

    def read(self, address: int, length: int) -> bytes:
        """Bytes of flash the kernel reads (it may read any image): one image must hold
        all of [address, address + length)."""
        for image in self._images.values():
            if image.start <= address and address + length <= image.end and length >= 0:
                off = address - image.start
                return image.data[off : off + length]
        raise FlashError(f"kernel read of {length} byte(s) at {address:#x} outside flash")
