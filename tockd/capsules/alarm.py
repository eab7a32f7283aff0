"""Alarm capsule, driver 0x0 (capsules/core/src/alarm.rs). One alarm per process.

- command 0: exists. command 1: frequency in Hz -> SuccessU32.
- command 2: now (ticks) -> SuccessU32.
- command 3: stop -> Success, or Failure(ALREADY) if none is set. command 4: NOSUPPORT.
- command 5: relative, arg0 = dt -> SuccessU32(expiry).
- command 6: absolute, arg0 = reference, arg1 = dt -> SuccessU32(expiry).
- subscribe 0: the alarm fired, (now, reference + dt, 0).

Ticks come from the kernel's clock (wall time, or virtual time in a controlled run), so
an app never reads the host's clock to learn the time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tockd.capsules.base import Capsule
from tockd.kernel.abi import DriverNum, ErrorCode
from tockd.kernel.grant import GrantError, GrantSpec
from tockd.kernel.syscall import SUCCESS, SyscallReturn, failure, success_u32

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process

FREQUENCY_HZ = 1_000_000
_MASK = 0xFFFF_FFFF


class Alarm(Capsule):
    driver_num = int(DriverNum.ALARM)
    grant_spec = GrantSpec(
        DriverNum.ALARM,
        upcalls=1,
        state_format="III",
        state_fields=("reference", "dt", "armed"),
        state_limits=(("armed", 2),),  # a flag; reference and dt are any tick count
    )
    #: every command keeps to the caller's grant, its timer and the clock, which their
    #: own footprints record (tockd/kernel/footprint.py)
    private_commands = frozenset(range(7))

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self._timers: dict[int, int] = {}  # process index -> kernel timer token

    def now_ticks(self) -> int:
        return int(self.kernel.now() * FREQUENCY_HZ) & _MASK

    def command(self, proc: Process, cmd: int, arg0: int, arg1: int) -> SyscallReturn:
        try:
            grant = self.enter(proc)  # Tock's alarm enters the grant even for command 0
        except GrantError:
            return failure(ErrorCode.NOMEM)
        if cmd == 0:
            return SUCCESS
        if cmd == 1:
            return success_u32(FREQUENCY_HZ)
        if cmd == 2:
            return success_u32(self.now_ticks())
        if cmd == 3:
            if not grant.state()["armed"]:
                return failure(ErrorCode.ALREADY)
            grant.set_state(armed=0)
            self._cancel(proc)
            return SUCCESS
        if cmd in (5, 6):
            reference = self.now_ticks() if cmd == 5 else arg0
            dt = arg0 if cmd == 5 else arg1
            grant.set_state(reference=reference, dt=dt, armed=1)
            self._arm(proc, reference, dt)
            return success_u32((reference + dt) & _MASK)
        return failure(ErrorCode.NOSUPPORT)

    def _arm(self, proc: Process, reference: int, dt: int) -> None:
        now = self.now_ticks()
        elapsed = (now - reference) & _MASK
        remaining = 0 if elapsed >= dt else dt - elapsed
        deadline = self._deadline(remaining)
        ident = proc.identifier
        self._cancel(proc)  # one alarm per process: re-arming replaces it
        self._timers[proc.index] = self.kernel.set_timer(
            deadline, lambda: self._fire(proc, ident, reference, dt), f"alarm {proc.index}"
        )

    def _deadline(self, ticks: int) -> float:
        """The first kernel-clock time at which `now_ticks` has moved on by `ticks`.

        alarm.rs (release-2.2) fires only an expired alarm and reports that `now`, so
        an upcall never says a time before its expiry. `clock + ticks / FREQUENCY_HZ`
        can fall a hair short in floating point (its tick count truncates to one less),
        and a controlled run jumps the clock to a deadline exactly: step up to the
        first float whose tick count has arrived."""
        target = int(self.kernel.now() * FREQUENCY_HZ) + ticks
        deadline = target / FREQUENCY_HZ
        while int(deadline * FREQUENCY_HZ) < target:
            deadline = math.nextafter(deadline, math.inf)
        return deadline

    def _cancel(self, proc: Process) -> None:
        token = self._timers.pop(proc.index, None)
        if token is not None:
            self.kernel.cancel_timer(token)

    def release(self, proc: Process) -> None:
        self._cancel(proc)

    def _fire(self, proc: Process, ident: int, reference: int, dt: int) -> None:
        self._timers.pop(proc.index, None)
        if proc.identifier != ident or not proc.is_alive():
            return
        grant = self.kernel.grant_if_allocated(proc, self.grant_spec)
        if grant is None:
            return
        state = grant.state()
        if not state["armed"] or (state["reference"], state["dt"]) != (reference, dt):
            return  # re-armed or stopped since
        grant.set_state(armed=0)
        self.schedule_upcall(proc, 0, self.now_ticks(), (reference + dt) & _MASK, 0)
