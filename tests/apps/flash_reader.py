"""Reads and writes flash. `how`: own (its TBF header and rodata, read with read_u8,
read and read_u32, printed), other (reads `addr`: another app's flash), write (a checked
write to its own flash), raw_write (a store through its read-only host mapping of
flash), remap (asks Linux to make that mapping writable)."""

import ctypes
import mmap

from apps_py.libtock import app_args, console, memory, runtime


def _own(rt: runtime.Runtime, start: int) -> None:
    header = memory.tbf_header(rt.memory, start)
    console.write(f"header {rt.memory.read(start, header.header_size).hex()}\n")
    console.write(f"u8 {[rt.memory.read_u8(start + i) for i in range(4)]}\n")
    console.write(f"u32 {rt.memory.read_u32(start + 4):#x}\n")
    console.write(f"name {header.package_name}\n")
    for i, (address, length) in enumerate(memory.rodata()):
        by_u8 = bytes(rt.memory.read_u8(address + k) for k in range(length))
        console.write(f"rodata {i} {address:#x} {length} {by_u8!r} {memory.flash_string(i)!r}\n")


def main() -> None:
    rt = runtime.current()
    how = str(app_args()["how"])
    start, _end = rt.memory.flash_range
    console.write(f"flash {how}\n")
    if how == "own":
        _own(rt, start)
    elif how == "other":
        rt.memory.read_u8(int(str(app_args()["addr"])))
    elif how == "write":
        rt.memory.write(start + 0x100, b"x")
    elif how == "raw_write":
        ctypes.memset(rt.memory.flash_host, 0x41, 1)
    elif how == "remap":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        rw = mmap.PROT_READ | mmap.PROT_WRITE
        rc = libc.mprotect(rt.memory.flash_host, mmap.PAGESIZE, rw)
        console.write(f"mprotect rw {rc} errno {ctypes.get_errno()}\n")
    console.write("not stopped\n")
