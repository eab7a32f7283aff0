"""Fills the upcall queue without yielding: 12 console writes queue 12 write-done upcalls,
Tock's queue (10 ring-buffer slots) holds 9, so 3 are dropped. Then it yields and counts
what it received."""

from apps_py.libtock import console, runtime
from apps_py.libtock.abi import DriverNum, Memop
from apps_py.libtock.syscalls import allow_ro, command, memop, subscribe, yield_no_wait


def main() -> None:
    rt = runtime.current()
    got: list[int] = []
    buf = rt.heap.alloc(4)
    rt.memory.write(buf, b"x\n")
    subscribe(DriverNum.CONSOLE, 1, lambda n, _b, _c, _d: got.append(n))
    allow_ro(DriverNum.CONSOLE, 1, buf, 2)
    for _ in range(12):
        command(DriverNum.CONSOLE, 1, 2).unwrap()
        memop(Memop.MEM_START)  # one more syscall: the kernel runs its deferred work
    while yield_no_wait():
        pass
    console.write(f"received {len(got)}\n")
