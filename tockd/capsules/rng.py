"""RNG capsule, driver 0x40001 (capsules/core/src/rng.rs).

- command 0: exists.
- command 1: fill up to `arg0` random bytes into read-write allow 0; upcall 0 when done
  with (0, bytes filled, 0).
- read-write allow 0: the buffer.

Bytes come from the kernel's seeded generator, so a controlled run is reproducible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.capsules.base import Capsule
from tockd.kernel.abi import DriverNum, ErrorCode
from tockd.kernel.grant import GrantError, GrantSpec
from tockd.kernel.syscall import SUCCESS, SyscallReturn, failure

if TYPE_CHECKING:
    from tockd.kernel.process import Process


class Rng(Capsule):
    driver_num = int(DriverNum.RNG)
    grant_spec = GrantSpec(DriverNum.RNG, upcalls=1, allow_rw=1)

    def command(self, proc: Process, cmd: int, arg0: int, arg1: int) -> SyscallReturn:
        if cmd == 0:
            return SUCCESS
        if cmd != 1:
            return failure(ErrorCode.NOSUPPORT)
        try:
            self.enter(proc)
        except GrantError:
            return failure(ErrorCode.NOMEM)
        ident = proc.identifier
        self.kernel.set_timer(
            self.kernel.clock(), lambda: self._fill(proc, ident, arg0), f"rng {proc.index}"
        )
        return SUCCESS

    def _fill(self, proc: Process, ident: int, want: int) -> None:
        if proc.identifier != ident or not proc.is_alive():
            return
        grant = self.kernel.grant_if_allocated(proc, self.grant_spec)
        if grant is None:
            return
        ptr, length = grant.allow_rw(0)
        n = min(want, length)
        if n and proc.in_ram(ptr, n):
            self.kernel.ram.write(ptr, self.kernel.random.randbytes(n))
        else:
            n = 0
        self.schedule_upcall(proc, 0, 0, n, 0)
