"""ABI echo capsule, driver 0xA0000: returns any TRD104 variant, for ABI tests.

Not a Tock driver: Tock's drivers only produce some variants, and the syscall path must
carry all ten. Enabled with `abi_echo = true` in a board's [board] table.

- command 0: exists.
- command 1..10: return variant number n-1 of the table below, with values built from
  arg0 and arg1: error = arg0 for failures; u32 values arg0, arg1, arg0^arg1; u64 values
  (arg1 << 32) | arg0.

  n: 1 Failure, 2 FailureU32, 3 FailureU32U32, 4 FailureU64, 5 Success, 6 SuccessU32,
     7 SuccessU32U32, 8 SuccessU64, 9 SuccessU32U32U32, 10 SuccessU32U64
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.capsules.base import Capsule
from tockd.kernel import syscall as sc
from tockd.kernel.abi import ErrorCode
from tockd.kernel.grant import GrantSpec
from tockd.kernel.syscall import SyscallReturn

if TYPE_CHECKING:
    from tockd.kernel.process import Process

DRIVER_NUM = 0xA0000


class AbiEcho(Capsule):
    driver_num = DRIVER_NUM
    grant_spec = GrantSpec(DRIVER_NUM)

    def command(self, proc: Process, cmd: int, arg0: int, arg1: int) -> SyscallReturn:
        if cmd == 0:
            return sc.SUCCESS
        try:
            err = ErrorCode(arg0)
        except ValueError:
            err = ErrorCode.FAIL
        wide = (arg1 << 32) | arg0
        table = {
            1: lambda: sc.failure(err),
            2: lambda: sc.failure_u32(err, arg1),
            3: lambda: sc.failure_2u32(err, arg1, arg0 ^ arg1),
            4: lambda: sc.failure_u64(err, wide),
            5: lambda: sc.SUCCESS,
            6: lambda: sc.success_u32(arg0),
            7: lambda: sc.success_2u32(arg0, arg1),
            8: lambda: sc.success_u64(wide),
            9: lambda: sc.success_3u32(arg0, arg1, arg0 ^ arg1),
            10: lambda: sc.success_u32_u64(arg0, wide),
        }
        make = table.get(cmd)
        return make() if make is not None else sc.failure(ErrorCode.NOSUPPORT)
