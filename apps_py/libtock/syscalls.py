"""Raw Tock syscalls for Python apps, named like libtock-c / libtock-rs.

Each call sends one frame `[class, r0, r1, r2, r3]` to the kernel and blocks for the
reply, exactly one request and one reply per syscall. Upcalls arrive only while the app
is inside a yield: the runtime looks up the callable behind the "function pointer" and
calls it with (arg0, arg1, arg2, appdata); when it returns, the yield returns.

A function pointer is an integer handle in the app's flash range that the runtime maps
to a Python callable, so the kernel's range check on subscribe is Tock's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from tockd.contract.abi import (
    ErrorCode,
    ExitCall,
    ReturnVariant,
    SyscallClass,
    YieldCall,
)

if TYPE_CHECKING:
    from apps_py.libtock.runtime import Runtime

Upcall = Callable[[int, int, int, int], None]


class TockError(Exception):
    """A syscall returned a failure variant."""

    def __init__(self, error: ErrorCode | int, what: str = "") -> None:
        try:
            self.error: ErrorCode | int = ErrorCode(error)
        except ValueError:
            self.error = error
        name = self.error.name if isinstance(self.error, ErrorCode) else str(self.error)
        super().__init__(f"{what}: {name}" if what else name)


class Ret:
    """The registers a syscall returned: r0 is the TRD104 variant."""

    __slots__ = ("r0", "r1", "r2", "r3")

    def __init__(self, r0: int, r1: int, r2: int, r3: int) -> None:
        self.r0, self.r1, self.r2, self.r3 = r0, r1, r2, r3

    @property
    def variant(self) -> ReturnVariant | int:
        try:
            return ReturnVariant(self.r0)
        except ValueError:
            return self.r0  # reserved values must be tolerated

    @property
    def ok(self) -> bool:
        return self.r0 >= ReturnVariant.SUCCESS

    @property
    def error(self) -> ErrorCode | None:
        if self.ok:
            return None
        try:
            return ErrorCode(self.r1)
        except ValueError:
            return ErrorCode.BADRVAL

    @property
    def u32(self) -> int:
        """The first value of a success (r1), or the first value after the error (r2)."""
        return self.r1 if self.ok else self.r2

    def unwrap(self, what: str = "") -> Ret:
        if not self.ok:
            raise TockError(self.r1, what)
        return self

    def __repr__(self) -> str:
        variant = self.variant
        name = variant.name if isinstance(variant, ReturnVariant) else str(variant)
        return f"Ret({name}, {self.r1:#x}, {self.r2:#x}, {self.r3:#x})"


def _rt() -> Runtime:
    from apps_py.libtock import runtime

    return runtime.current()


def command(driver: int, cmd: int, arg0: int = 0, arg1: int = 0) -> Ret:
    return _rt().syscall(SyscallClass.COMMAND, driver, cmd, arg0, arg1)


def subscribe(driver: int, num: int, callback: Upcall | None, appdata: int = 0) -> Ret:
    """Register `callback` for upcall (driver, num); None is the Null Upcall.

    Success returns the previous (fn pointer, appdata) in r1, r2.
    """
    rt = _rt()
    fnptr = 0 if callback is None else rt.handle_for(callback)
    return rt.syscall(SyscallClass.SUBSCRIBE, driver, num, fnptr, appdata)


def allow_rw(driver: int, num: int, address: int, size: int) -> Ret:
    return _rt().syscall(SyscallClass.ALLOW_RW, driver, num, address, size)


def allow_ro(driver: int, num: int, address: int, size: int) -> Ret:
    return _rt().syscall(SyscallClass.ALLOW_RO, driver, num, address, size)


def allow_userspace_read(driver: int, num: int, address: int, size: int) -> Ret:
    return _rt().syscall(SyscallClass.ALLOW_USERSPACE_READABLE, driver, num, address, size)


def memop(op: int, arg: int = 0) -> Ret:
    return _rt().syscall(SyscallClass.MEMOP, op, arg & 0xFFFF_FFFF, 0, 0)


def yield_no_wait() -> bool:
    """Run one pending upcall if there is one; True if one ran."""
    return _rt().yield_no_wait()


def yield_wait() -> None:
    """Sleep until one upcall has run."""
    _rt().syscall(SyscallClass.YIELD, YieldCall.WAIT, 0, 0, 0)


def yield_wait_for(driver: int, num: int) -> tuple[int, int, int]:
    """Sleep until upcall (driver, num) is scheduled; return its arguments without
    running any callback."""
    ret = _rt().syscall(SyscallClass.YIELD, YieldCall.WAIT_FOR, driver, num, 0)
    return ret.r0, ret.r1, ret.r2


def yield_for(condition: Callable[[], bool]) -> None:
    """libtock-c's yield_for: yield until `condition()` holds."""
    while not condition():
        yield_wait()


def exit_terminate(code: int = 0) -> NoReturn:
    _rt().exit(ExitCall.TERMINATE, code)


def exit_restart(code: int = 0) -> NoReturn:
    _rt().exit(ExitCall.RESTART, code)
