"""LED capsule, driver 0x2 (capsules/core/src/led.rs, release-2.2).

- command 0: number of LEDs -> SuccessU32(n) (not Success: led.rs keeps its pre-TRD104
  answer until Tock 3.0).
- command 1: on(i); command 2: off(i); command 3: toggle(i).
- A bad index gives Failure(INVAL); any other command NOSUPPORT. No upcalls, no
  allows, no grant entered.

Departure, on purpose: command 4, get(i) -> SuccessU32(0 or 1), is tockd's own; led.rs
answers it NOSUPPORT. The demo app `apps_py/blink.py` reads its LEDs back through it
(`libtock.led.get`) to print them, since a host has no LED to look at; an app written
for Tock never sends command 4, so the extra answer changes nothing for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.capsules.base import Capsule
from tockd.contract import events as ev
from tockd.contract.drivers import LedCommand
from tockd.contract.events import EventKind
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
        if cmd not in (LedCommand.ON, LedCommand.OFF, LedCommand.TOGGLE, LedCommand.GET):
            return failure(ErrorCode.NOSUPPORT)
        if arg0 >= len(self.leds):
            return failure(ErrorCode.INVAL)
        if cmd == LedCommand.GET:  # tockd's own (see the docstring)
            return success_u32(int(self.leds[arg0]))
        self.leds[arg0] = cmd == LedCommand.ON or (cmd == LedCommand.TOGGLE and not self.leds[arg0])
        self.kernel.emit(ev.Led(kind=EventKind.LED, led=arg0, on=self.leds[arg0]), proc)
        return SUCCESS
