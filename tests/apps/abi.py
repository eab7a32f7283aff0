"""Exercises every syscall class and every return variant from inside a real app.

Each check compares the registers the app received with what TRD104 / Tock say; a
mismatch raises, which faults the app (and fails the test). At the end it prints one
line per check group, then "ABI OK".
"""

from __future__ import annotations

from apps_py.libtock import console, runtime
from apps_py.libtock.abi import DriverNum, ErrorCode, Memop, ReturnVariant
from apps_py.libtock.syscalls import (
    allow_ro,
    allow_rw,
    allow_userspace_read,
    command,
    memop,
    subscribe,
    yield_no_wait,
    yield_wait,
    yield_wait_for,
)

ECHO = 0xA0000
V = ReturnVariant


def expect(ret: object, r0: int, *rest: int) -> None:
    got = (ret.r0, ret.r1, ret.r2, ret.r3)  # type: ignore[attr-defined]
    want = (r0, *rest)
    assert got[: len(want)] == want, f"expected {want}, got {got}"


def main() -> None:
    rt = runtime.current()
    desc = rt.desc
    mem_start = memop(Memop.MEM_START).r1

    # --- command: every variant through the echo driver, and Tock's error paths
    expect(command(ECHO, 1, 6, 0), V.FAILURE, ErrorCode.INVAL)
    expect(command(ECHO, 2, 7, 99), V.FAILURE_U32, ErrorCode.SIZE, 99)
    expect(command(ECHO, 3, 9, 5), V.FAILURE_2_U32, ErrorCode.NOMEM, 5, 9 ^ 5)
    expect(command(ECHO, 4, 2, 3), V.FAILURE_U64, ErrorCode.BUSY, 2, 3)
    expect(command(ECHO, 5), V.SUCCESS)
    expect(command(ECHO, 6, 0xDEADBEEF), V.SUCCESS_U32, 0xDEADBEEF)
    expect(command(ECHO, 7, 1, 2), V.SUCCESS_2_U32, 1, 2)
    expect(command(ECHO, 8, 0x11, 0x22), V.SUCCESS_U64, 0x11, 0x22)
    expect(command(ECHO, 9, 3, 4), V.SUCCESS_3_U32, 3, 4, 7)
    expect(command(ECHO, 10, 5, 6), V.SUCCESS_U32_U64, 5, 5, 6)
    expect(command(0x99999, 0), V.FAILURE, ErrorCode.NODEVICE)  # no such driver
    expect(command(DriverNum.CONSOLE, 0), V.SUCCESS)  # command 0: driver exists
    expect(command(DriverNum.LED, 0), V.SUCCESS_U32, 4)  # LED answers its count
    expect(command(DriverNum.LED, 1, 99), V.FAILURE, ErrorCode.INVAL)
    expect(command(DriverNum.LED, 42), V.FAILURE, ErrorCode.NOSUPPORT)
    console.write("command ok\n")

    # --- subscribe: swap semantics, Null Upcall first, failures echo the arguments
    def cb_a(a: int, b: int, c: int, d: int) -> None:
        pass

    def cb_b(a: int, b: int, c: int, d: int) -> None:
        pass

    r = subscribe(DriverNum.BUTTON, 0, cb_a, 7)
    expect(r, V.SUCCESS_2_U32, 0, 0)
    handle_a = rt.handle_for(cb_a)
    r = subscribe(DriverNum.BUTTON, 0, cb_b, 8)
    expect(r, V.SUCCESS_2_U32, handle_a, 7)
    expect(subscribe(DriverNum.BUTTON, 0, None), V.SUCCESS_2_U32, rt.handle_for(cb_b), 8)
    expect(subscribe(0x99999, 0, cb_a, 3), V.FAILURE_2_U32, ErrorCode.NODEVICE, handle_a, 3)
    expect(subscribe(DriverNum.BUTTON, 5, cb_a, 3), V.FAILURE_2_U32, ErrorCode.NOSUPPORT)
    bad = rt.syscall(1, DriverNum.BUTTON, 0, 0x1234, 9)  # fn pointer outside flash and RAM
    expect(bad, V.FAILURE_2_U32, ErrorCode.INVAL, 0x1234, 9)
    console.write("subscribe ok\n")

    # --- allow: swap, range checks, size 0, flash for read-only, unsupported numbers
    buf = rt.heap.alloc(64)
    expect(allow_rw(DriverNum.RNG, 0, buf, 16), V.SUCCESS_2_U32, 0, 0)
    expect(allow_rw(DriverNum.RNG, 0, buf, 32), V.SUCCESS_2_U32, buf, 16)
    beyond = memop(Memop.GRANT_START).r1
    expect(allow_rw(DriverNum.RNG, 0, beyond, 8), V.FAILURE_2_U32, ErrorCode.INVAL, beyond, 8)
    expect(allow_rw(DriverNum.RNG, 0, 0x10, 0), V.SUCCESS_2_U32, buf, 32)  # size 0: revoke
    expect(allow_rw(DriverNum.RNG, 3, buf, 4), V.FAILURE_2_U32, ErrorCode.NOSUPPORT)
    expect(allow_rw(0x99999, 0, buf, 4), V.FAILURE_2_U32, ErrorCode.NODEVICE)
    flash = desc["flash_start"] + 0x80
    expect(allow_ro(DriverNum.CONSOLE, 1, flash, 8), V.SUCCESS_2_U32)  # console.write's buffer
    expect(allow_rw(DriverNum.CONSOLE, 1, flash, 8), V.FAILURE_2_U32, ErrorCode.INVAL)
    expect(allow_ro(DriverNum.CONSOLE, 1, buf, 4), V.SUCCESS_2_U32, flash, 8)
    expect(
        allow_userspace_read(DriverNum.CONSOLE, 0, buf, 4),
        V.FAILURE_2_U32,
        ErrorCode.NOSUPPORT,
        buf,
        4,
    )
    console.write("allow ok\n")

    # --- memop: queries, brk/sbrk, the high-water mark
    expect(memop(Memop.MEM_START), V.SUCCESS_U32, desc["mem_start"])
    expect(memop(Memop.MEM_END), V.SUCCESS_U32, desc["mem_start"] + desc["memory_len"])
    expect(memop(Memop.FLASH_START), V.SUCCESS_U32, desc["flash_start"])
    expect(memop(Memop.FLASH_END), V.SUCCESS_U32, desc["flash_end"])
    expect(memop(Memop.FLASH_REGIONS), V.SUCCESS_U32, 0)
    expect(memop(Memop.FLASH_REGION_START, 0), V.FAILURE, ErrorCode.FAIL)
    expect(memop(99), V.FAILURE, ErrorCode.NOSUPPORT)
    old_break = memop(Memop.SBRK, 0).r1
    expect(memop(Memop.SBRK, 16), V.SUCCESS_U32, old_break)
    expect(memop(Memop.SBRK, -16), V.SUCCESS_U32, old_break + 16)
    expect(memop(Memop.BRK, desc["mem_start"] + desc["memory_len"]), V.FAILURE, ErrorCode.NOMEM)
    expect(memop(Memop.BRK, memop(Memop.GRANT_START).r1 + 4), V.FAILURE, ErrorCode.NOMEM)
    # buf+32 was allowed: the break may not go below the high-water mark
    expect(memop(Memop.BRK, buf + 8), V.FAILURE, ErrorCode.NOMEM)
    expect(memop(Memop.BRK, mem_start - 4), V.FAILURE, ErrorCode.NOMEM)
    console.write("memop ok\n")

    # --- yield: no-wait with nothing pending, wait-for returning raw values
    assert yield_no_wait() is False
    ran: list[int] = []
    subscribe(DriverNum.CONSOLE, 1, lambda n, _b, _c, _d: ran.append(n))
    text = rt.heap.alloc(5)
    rt.memory.write(text, b"wait\n")
    allow_ro(DriverNum.CONSOLE, 1, text, 5)
    command(DriverNum.CONSOLE, 1, 5)
    assert yield_wait_for(DriverNum.CONSOLE, 1) == (5, 0, 0)
    assert ran == [], "yield-wait-for must not run the callback"
    command(DriverNum.CONSOLE, 1, 5)
    yield_wait()
    assert ran == [5], ran
    command(DriverNum.CONSOLE, 1, 5)
    while not yield_no_wait():
        pass
    assert ran == [5, 5], ran
    console.write("yield ok\n")

    # --- exit with an unknown number fails and the app goes on
    r = rt.syscall(6, 7, 0, 0, 0)
    expect(r, V.FAILURE, ErrorCode.NOSUPPORT)
    console.write("exit ok\nABI OK\n")
