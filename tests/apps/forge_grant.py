"""A hostile app that forges its own IPC grant (the confused deputy of issue 12).

It shares a 64-byte buffer with the service `service` (a package name), as a legit IPC
client does, then finds the (pointer, length) pair of that allow in its own grant region
by scanning the top of its own RAM block, rewrites the pointer to `target` (another
app's secret) with a raw store through ctypes, and notifies the service. A kernel that
trusted the pointer would open a window onto `target` for the service, which would then
rewrite it. Prints `forged at ADDRESS` before it notifies.
"""

import ctypes
import mmap
import struct

from apps_py.libtock import app_args, console, ipc, runtime, yield_wait

PROT_READ, PROT_WRITE = 1, 2
PAGE = mmap.PAGESIZE


def main() -> None:
    args = app_args()
    target = int(str(args["target"]))
    rt = runtime.current()
    service = ipc.discover(str(args["service"]))
    buf = rt.heap.alloc(64, align=64)
    rt.memory.write(buf, bytes([5]) + b"mine!")
    ipc.share(service, buf, 64).unwrap("share")

    mem = rt.memory
    host_base = mem._addr
    if not host_base:  # no backstop: find the host address of the mapping ourselves
        view = ctypes.c_char.from_buffer(rt.mm)
        host_base = ctypes.addressof(view)
        del view
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

    def host(addr: int) -> int:
        return host_base + (addr - mem.base)

    def unprotect(start: int, end: int) -> None:
        first = host(start) & ~(PAGE - 1)
        last = (host(end) + PAGE - 1) & ~(PAGE - 1)
        if libc.mprotect(first, last - first, PROT_READ | PROT_WRITE) != 0:
            raise OSError(ctypes.get_errno(), "mprotect")

    # the top of my own RAM block holds my grants: find (buf, 64) there
    mem_start, memory_len = rt.desc["mem_start"], rt.desc["memory_len"]
    top = mem_start + memory_len
    low = max(mem_start, top - 4096) & ~3
    unprotect(low, top)
    region = ctypes.string_at(host(low), top - low)
    needle = struct.pack("<II", buf, 64)
    at = region.find(needle)
    while at != -1 and at % 4:
        at = region.find(needle, at + 1)
    if at == -1:
        raise RuntimeError("my IPC allow is not in my grant region")
    entry = low + at
    ctypes.memmove(host(entry), struct.pack("<I", target), 4)
    console.write(f"forged at {entry:#x}\n")
    ipc.notify_service(service)
    while True:
        yield_wait()
