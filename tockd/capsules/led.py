"""LED capsule, driver 0x2 (capsules/core/src/led.rs).

- command 0: number of LEDs -> SuccessU32(n).
- command 1: on(i); command 2: off(i); command 3: toggle(i); command 4: get(i) -> SuccessU32.
- A bad index gives Failure(INVAL). No upcalls, no allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.capsules.base import Capsule
from tockd.kernel.abi import DriverNum, ErrorCode
from tockd.kernel.grant import GrantSpec
from tockd.kernel.syscall import SUCCESS, SyscallReturn, failure, success_u32

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process


class Led(Capsule):
    driver_num = int(DriverNum.LED)
    grant_spec = GrantSpec(DriverNum.LED)

    def __init__(self, kernel: Kernel, count: int = 4) -> None:
        super().__init__(kernel)
        self.leds = [False] * count

    def command(self, proc: Process, cmd: int, arg0: int, arg1: int) -> SyscallReturn:
        if cmd == 0:
            return success_u32(len(self.leds))
        if cmd not in (1, 2, 3, 4):
            return failure(ErrorCode.NOSUPPORT)
        if arg0 >= len(self.leds):
            return failure(ErrorCode.INVAL)
        if cmd == 4:
            return success_u32(int(self.leds[arg0]))
        self.leds[arg0] = {1: True, 2: False, 3: not self.leds[arg0]}[cmd]
        self.kernel.emit("led", proc, led=arg0, on=self.leds[arg0])
        return SUCCESS
