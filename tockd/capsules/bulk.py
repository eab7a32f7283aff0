"""Bulk transfer test driver, driver 0xA0001: hands the kernel a large allowed buffer.

Not a Tock driver: it measures what sharing RAM buys (bench/zero_copy.py). Enabled with
`bulk = true` in a board's [board] table.

- command 0: exists.
- command 1: take `arg0` bytes of read-only allow 0 in place: the kernel gets a
  zero-copy view of them in the shared RAM (what a driver streaming them to a device
  would read from) -> SuccessU32(bytes taken).
- command 2: the same, but the kernel copies the bytes out of the RAM once (what the
  console does with a write) -> SuccessU32(bytes taken).
- read-only allow 0: the buffer (it may also lie in the app's flash: then nothing is
  read, as on hardware flash is not in RAM). No upcalls: both commands finish at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.capsules.base import Capsule
from tockd.kernel.abi import ErrorCode
from tockd.kernel.grant import GrantError, GrantSpec
from tockd.kernel.syscall import SUCCESS, SyscallReturn, failure, success_u32

if TYPE_CHECKING:
    from tockd.kernel.process import Process

DRIVER_NUM = 0xA0001


class Bulk(Capsule):
    driver_num = DRIVER_NUM
    grant_spec = GrantSpec(DRIVER_NUM, allow_ro=1)

    def command(self, proc: Process, cmd: int, arg0: int, arg1: int) -> SyscallReturn:
        if cmd == 0:
            return SUCCESS
        if cmd not in (1, 2):
            return failure(ErrorCode.NOSUPPORT)
        try:
            grant = self.enter(proc)
        except GrantError:
            return failure(ErrorCode.NOMEM)
        ptr, length = grant.allow_ro(0)
        n = min(arg0, length)
        if n == 0 or not proc.in_ram(ptr, n):
            return failure(ErrorCode.RESERVE)
        ram = self.kernel.ram
        offset = ptr - ram.base
        with memoryview(ram.mm) as whole, whole[offset : offset + n] as view:
            taken = len(view.tobytes()) if cmd == 2 else view.nbytes
        return success_u32(taken)
