"""Tock issue #4371's first half. First life: takes all free memory up to the grant
region with one big heap allocation and allows it (raising the allow high-water mark to
the old kernel break), then exit-restarts. Second life: makes syscalls that allocate
more grants than the first life had, and reports where the kernel break ends up."""

from apps_py.libtock import exit_restart, runtime
from apps_py.libtock.abi import DriverNum, Memop
from apps_py.libtock.syscalls import allow_rw, command, memop


def main() -> None:
    rt = runtime.current()
    if not rt.restart_count:
        allow_rw(DriverNum.RNG, 0, 0, 0).unwrap("allocate the RNG grant")
        size = (memop(Memop.GRANT_START).r1 - rt.heap.top) & ~3
        buf = rt.heap.alloc(size)
        allow_rw(DriverNum.RNG, 0, buf, size).unwrap("allow")
        exit_restart(1)
    # grant allocations in the second life; the hardened kernel may refuse them (NOMEM)
    command(DriverNum.ALARM, 0)
    command(DriverNum.BUTTON, 1, 0)
    command(DriverNum.CONSOLE, 1, 0)
