"""Button capsule, driver 0x3 (capsules/core/src/button.rs).

- command 0: number of buttons -> SuccessU32(n).
- command 1: enable interrupts for button i; command 2: disable; command 3: read(i) -> 0/1.
- subscribe 0: a button changed, (button index, pressed 1 / released 0).
- A bad index gives Failure(INVAL).

Buttons are pressed from the control socket (`tockd button N`); each process's enabled
mask is kept in its grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.capsules.base import Capsule
from tockd.contract import events as ev
from tockd.contract.events import EventKind
from tockd.kernel.abi import DriverNum, ErrorCode
from tockd.kernel.grant import ForgedGrant, GrantError, GrantSpec
from tockd.kernel.syscall import SUCCESS, SyscallReturn, failure, success_u32

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process


class Button(Capsule):
    driver_num = int(DriverNum.BUTTON)

    def __init__(self, kernel: Kernel, count: int = 2) -> None:
        super().__init__(kernel)
        self.pressed = [False] * count
        # the enabled mask has one bit per button: any other bit is forged
        self.grant_spec = GrantSpec(
            DriverNum.BUTTON,
            upcalls=1,
            state_format="I",
            state_fields=("enabled",),
            state_limits=(("enabled", 1 << count),),
        )

    def command(self, proc: Process, cmd: int, arg0: int, arg1: int) -> SyscallReturn:
        if cmd == 0:
            return success_u32(len(self.pressed))
        if cmd not in (1, 2, 3):
            return failure(ErrorCode.NOSUPPORT)
        if arg0 >= len(self.pressed):
            return failure(ErrorCode.INVAL)
        if cmd == 3:
            return success_u32(int(self.pressed[arg0]))
        try:
            grant = self.enter(proc)
        except GrantError:
            return failure(ErrorCode.NOMEM)
        mask = grant.state()["enabled"]
        mask = mask | (1 << arg0) if cmd == 1 else mask & ~(1 << arg0)
        grant.set_state(enabled=mask)
        return SUCCESS

    def set_button(self, index: int, pressed: bool) -> int:
        """A button changed; returns how many processes were notified."""
        if not 0 <= index < len(self.pressed):
            raise ValueError(f"no button {index} (board has {len(self.pressed)})")
        self.pressed[index] = pressed
        notified = 0
        for proc in self.kernel.processes:
            if not proc.is_alive():
                continue
            grant = self.kernel.grant_if_allocated(proc, self.grant_spec)
            try:
                enabled = grant is not None and grant.state()["enabled"] & (1 << index)
            except ForgedGrant as e:  # faults the forger; the others are still told
                self.kernel.forged_grant(e)
                continue
            if enabled:
                self.schedule_upcall(proc, 0, index, int(pressed), 0)
                notified += 1
        self.kernel.emit(
            ev.Button(kind=EventKind.BUTTON, button=index, pressed=pressed, notified=notified)
        )
        return notified
