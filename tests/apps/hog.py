"""Grows its heap until brk fails, then asks for a new grant: Tock answers NOMEM."""

from apps_py.libtock import console, runtime
from apps_py.libtock.abi import DriverNum, ErrorCode, Memop
from apps_py.libtock.syscalls import memop, subscribe


def main() -> None:
    console.write("hog\n")  # allocates the console grant first
    step = 256
    while step >= 4:
        if not memop(Memop.SBRK, step).ok:
            step //= 2
    brk = memop(Memop.SBRK, 0).r1
    grant_start = memop(Memop.GRANT_START).r1
    ret = subscribe(DriverNum.RNG, 0, lambda a, b, c, d: None)
    runtime.current()  # keep the import used
    ok = (not ret.ok) and ret.error is ErrorCode.NOMEM
    # console is already in its grant, so it still works
    console.write(f"gap {grant_start - brk} rng {'NOMEM' if ok else ret}\n")
