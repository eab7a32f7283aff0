"""Console driver (0x1) for apps: `write(text)` blocks until the kernel has written it.

Syscalls, as libtock-c's printf makes them: read-only allow (0x1, 1) of the bytes in the
app's own RAM, subscribe (0x1, 1), command (0x1, 1, len), then yield until the
write-done upcall. `read(n)` uses read-write allow (0x1, 1), command 2, upcall 2.
"""

from __future__ import annotations

from apps_py.libtock import runtime
from apps_py.libtock.abi import DriverNum
from apps_py.libtock.syscalls import allow_ro, allow_rw, command, subscribe, yield_for
from tockd.contract.drivers import (
    CONSOLE_ALLOW_READ,
    CONSOLE_ALLOW_WRITE,
    CONSOLE_UPCALL_READ,
    CONSOLE_UPCALL_WRITE,
    ConsoleCommand,
)

DRIVER = DriverNum.CONSOLE
_CHUNK = 256
_buffer = 0
_read: list[int] = []
#: the write the kernel is sending (its number), and what each finished write reported.
#: Tock 2.2's console (console.rs send_new) replaces a write issued while the app's
#: previous one is still sending, so a write started from a callback that ran while
#: another write waited (a logger printing per IPC message) must wait its turn.
_inflight: list[int] = []
_results: dict[int, int] = {}
_sequence = [0]


def _write_done(count: int, _b: int, _c: int, _d: int) -> None:
    if _inflight:
        _results[_inflight.pop()] = count


def _read_done(_status: int, count: int, _c: int, _d: int) -> None:
    _read.append(count)


def _buf() -> int:
    global _buffer
    rt = runtime.current()
    if _buffer == 0 or not rt.memory.allowed(_buffer, _CHUNK, 2):
        _buffer = rt.heap.alloc(_CHUNK)
    return _buffer


def write(text: str | bytes) -> int:
    """Write to the console; returns the number of bytes written."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    rt = runtime.current()
    total = 0
    for i in range(0, len(data), _CHUNK):
        chunk = data[i : i + _CHUNK]
        yield_for(lambda: not _inflight)  # a write interrupted by this one ends first
        buf = _buf()
        rt.memory.write(buf, chunk)
        _sequence[0] += 1
        me = _sequence[0]
        _inflight.append(me)
        allow_ro(DRIVER, CONSOLE_ALLOW_WRITE, buf, len(chunk)).unwrap("console allow")
        subscribe(DRIVER, CONSOLE_UPCALL_WRITE, _write_done).unwrap("console subscribe")
        command(DRIVER, ConsoleCommand.WRITE, len(chunk), 0).unwrap("console write")
        yield_for(lambda: me in _results)  # noqa: B023 (called before `me` changes)
        total += _results.pop(me)
    return total


def print_(*parts: object, sep: str = " ", end: str = "\n") -> None:
    """`print` through the console driver."""
    write(sep.join(str(p) for p in parts) + end)


def read(n: int) -> bytes:
    """Block until up to `n` bytes (at most 64, the kernel's receive buffer in
    console.rs: more is INVAL) have been typed for this app."""
    rt = runtime.current()
    buf = rt.heap.alloc(n)
    _read.clear()
    allow_rw(DRIVER, CONSOLE_ALLOW_READ, buf, n).unwrap("console allow")
    subscribe(DRIVER, CONSOLE_UPCALL_READ, _read_done).unwrap("subscribe")
    command(DRIVER, ConsoleCommand.READ, n, 0).unwrap("console read")
    yield_for(lambda: bool(_read))
    return rt.memory.read(buf, _read[0])
