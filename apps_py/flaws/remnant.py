"""Stale grant memory: in its first life this app uses the console and the alarm, so the
kernel allocates their grants at the top of its RAM, and then restarts itself. In its
second life, before any syscall that would allocate a grant, it grows its break up to
the grant region and looks there for the first life's grant headers: memory the kernel
owned, handed back to the app without being cleared."""

from apps_py.flaws.reader_service import GRANT_HEADERS
from apps_py.libtock import alarm, console, exit_restart, runtime
from apps_py.libtock.abi import Memop
from apps_py.libtock.syscalls import memop


def main() -> None:
    rt = runtime.current()
    if not rt.restart_count:
        console.write("first life: console and alarm grants allocated\n")
        alarm.sleep_ms(1)
        exit_restart(0)
    start = (rt.heap.end + 3) & ~3
    top = memop(Memop.GRANT_START).r1 & ~3
    memop(Memop.BRK, top).unwrap("brk up to the grant region")
    data = rt.memory.read(start, top - start)
    found = []
    for offset in range(0, len(data) - 3, 4):
        name = GRANT_HEADERS.get(data[offset : offset + 4])
        if name:
            found.append(f"{name} at {start + offset:#x}: {data[offset : offset + 16].hex()}")
    nonzero = sum(1 for b in data if b)
    if found:
        for line in found:
            console.write(f"second life: previous life's kernel {line}\n")
    console.write(f"second life: {nonzero} non-zero byte(s) in {len(data)} uncovered\n")
