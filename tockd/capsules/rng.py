"""RNG capsule, driver 0x40001 (capsules/core/src/rng.rs, release-2.2).

- command 0: exists (no grant entered, as rng.rs).
- command 1: fill up to `arg0` random bytes into read-write allow 0; upcall 0 when done
  with (0, bytes filled, 0). NOMEM if the grant cannot be allocated.
- read-write allow 0: the buffer.

As rng.rs, a request is the app's (remaining, idx) in its grant: a second request
before the first is filled replaces it, and the app gets one fill and one upcall. A
request for 0 bytes leaves nothing remaining, so rng.rs never fills it and never calls
back. The buffer is read when the randomness comes, not at the command: no buffer
gives (0, 0, 0), a shorter one is filled to its end.

Bytes come from the kernel's seeded generator, so a controlled run is reproducible
(a departure from hardware entropy: the point of a controlled run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.capsules.base import Capsule
from tockd.contract.drivers import RngCommand
from tockd.kernel.abi import DriverNum, ErrorCode
from tockd.kernel.grant import GrantError, GrantSpec
from tockd.kernel.syscall import SUCCESS, SyscallReturn, failure

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process

#: rng.rs schedules upcall 0 with (0, bytes filled, 0)
UPCALL_DONE = 0
ALLOW_BUFFER = 0


class Rng(Capsule):
    driver_num = int(DriverNum.RNG)
    grant_spec = GrantSpec(DriverNum.RNG, upcalls=1, allow_rw=1)

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        #: rng.rs `app.remaining` of each app (by identifier) that asked and was not
        #: served yet. Kept here, not in the grant, because a fill always completes in
        #: the kernel work right after the request (the grant's T stays empty, so every
        #: grant layout is as before).
        self._remaining: dict[int, int] = {}

    def command(self, proc: Process, cmd: int, arg0: int, arg1: int) -> SyscallReturn:
        if cmd == RngCommand.EXISTS:
            return SUCCESS
        if cmd != RngCommand.GET:
            return failure(ErrorCode.NOSUPPORT)
        try:
            self.enter(proc)
        except GrantError:
            return failure(ErrorCode.NOMEM)
        self._request(proc, arg0)
        return SUCCESS

    def _request(self, proc: Process, want: int) -> None:
        """rng.rs command 1: the request replaces any earlier one of this app; the
        randomness is asked for only if no request of this app waits for it yet."""
        ident = proc.identifier
        waiting = ident in self._remaining
        self._remaining[ident] = want
        if not waiting:
            self.kernel.set_timer(
                self.kernel.now(), lambda: self._fill(proc, ident), f"rng {proc.index}"
            )

    def _fill(self, proc: Process, ident: int) -> None:
        """rng.rs randomness_available for one app: fill what its buffer holds of the
        request, then upcall; a request of 0 bytes is never answered."""
        want = self._remaining.pop(ident, 0)
        if want == 0 or proc.identifier != ident or not proc.is_alive():
            return
        grant = self.kernel.grant_if_allocated(proc, self.grant_spec)
        if grant is None:
            return
        ptr, length = grant.allow_rw(ALLOW_BUFFER)
        n = min(want, length)
        if n and proc.in_ram(ptr, n):
            self.kernel.ram.write(ptr, self.kernel.random.randbytes(n))
        else:
            n = 0
        self.schedule_upcall(proc, UPCALL_DONE, 0, n, 0)

    def release(self, proc: Process) -> None:
        self._remaining.pop(proc.identifier, None)
