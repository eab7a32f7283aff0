"""The TBF header layout (Tock Binary Format, `libraries/tock-tbf/src/types.rs`,
release-2.2): the kernel writes it into each process's flash (tockd/kernel/flash.py)
and an app's runtime parses its own header back (apps_py/libtock/flash.py).

Part of the contract (tockd/contract/__init__.py): imports only the standard library.
"""

from __future__ import annotations

import struct

TBF_VERSION = 2
#: `TbfHeaderV2Base`: version u16, header_size u16, total_size u32, flags u32, checksum u32
BASE_FORMAT = "<HHIII"
BASE_SIZE = struct.calcsize(BASE_FORMAT)
CHECKSUM_WORD = 3
FLAG_ENABLED = 1
#: TLV header: type u16, length u16
TLV_FORMAT = "<HH"
TLV_PROGRAM = 9
TLV_PACKAGE_NAME = 3
#: `TbfHeaderV2Program`: init_fn_offset, protected_trailer_size, minimum_ram_size,
#: binary_end_offset, version
PROGRAM_FORMAT = "<IIIII"
