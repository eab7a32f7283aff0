"""Sends each syscall frame a byte at a time, pausing between bytes, as a slow link
would: the kernel must put each frame together and answer it exactly once."""

import time

from apps_py.libtock import console, runtime
from tockd.contract import wire


def main() -> None:
    rt = runtime.current()
    for _ in range(4):
        for byte in wire.encode([2, 2, 0, 0, 0]):  # command 0 of the LED driver
            rt.sock.sendall(bytes([byte]))
            time.sleep(0.003)  # longer than the kernel's short wait outside trio
        ret = rt._wait()
        if (ret.r0, ret.r1) != (129, 4):
            raise RuntimeError(f"unexpected reply {ret!r}")
    console.write("dribbled\n")
