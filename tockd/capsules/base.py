"""The driver interface every capsule implements (Tock's `SyscallDriver`).

Capsules never see subscribe or read-only/read-write allow: the kernel stores those in
the capsule's grant. A capsule answers `command`, may answer userspace-readable allow,
keeps per-process state in its grant, and schedules upcalls through the kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.kernel.abi import ErrorCode
from tockd.kernel.grant import Grant, GrantError, GrantSpec
from tockd.kernel.syscall import SUCCESS, SyscallReturn, allow_failure, failure
from tockd.kernel.upcall import UpcallResult

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process, Task


class Capsule:
    """Base class: driver number, grant shape, and Tock's defaults."""

    driver_num: int
    grant_spec: GrantSpec

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def command(self, proc: Process, cmd: int, arg0: int, arg1: int) -> SyscallReturn:
        """Default: command 0 says the driver exists; everything else is NOSUPPORT."""
        if cmd == 0:
            return SUCCESS
        return failure(ErrorCode.NOSUPPORT)

    #: commands that touch no state of the capsule's shared by processes (only the
    #: caller's grant and what the kernel records itself); the others conflict with
    #: every step that uses the driver (tockd/kernel/footprint.py)
    private_commands: frozenset[int] = frozenset()

    def allow_userspace_readable(
        self, proc: Process, num: int, address: int, size: int
    ) -> SyscallReturn:
        """Tock's default: userspace-readable allow is not supported."""
        return allow_failure(7, ErrorCode.NOSUPPORT, address, size)

    def allocate_grant(self, proc: Process) -> bool:
        """Called by the kernel's subscribe/allow path when the grant is missing."""
        try:
            self.enter(proc)
        except GrantError:
            return False
        return True

    def enter(self, proc: Process) -> Grant:
        """Enter this capsule's grant for `proc`, allocating it the first time."""
        return self.kernel.enter_grant(proc, self.grant_spec)

    def schedule_upcall(
        self, proc: Process, subscribe: int, a0: int, a1: int, a2: int
    ) -> UpcallResult:
        """Schedule upcall `subscribe` of this driver on `proc`; returns Tock's result."""
        return self.kernel.schedule_upcall(proc, self.grant_spec, subscribe, (a0, a1, a2))

    def subscribed(self, proc: Process, num: int, fnptr: int) -> None:
        """The kernel stored a new upcall for `proc` (capsules normally never see this;
        the hardened IPC capsule uses it to release notifications it held back)."""

    def check_allow_rw(self, proc: Process, num: int, address: int, size: int) -> ErrorCode | None:
        """Veto a read-write allow before the kernel stores it (None: accept). Tock's
        capsules cannot; the hardened IPC capsule refuses shares it cannot protect."""
        return None

    def tasks_lost(self, proc: Process, tasks: list[Task]) -> None:
        """`proc` terminates or restarts with `tasks` still queued; they are dropped."""

    def terminating(self, proc: Process) -> None:
        """`proc` is about to be terminated (exit, fault with the stop policy, console)."""

    def restarting(self, proc: Process) -> None:
        """`proc` is about to be reset (restart)."""

    def faulted(self, proc: Process) -> None:
        """`proc` faulted; called before its fault policy is applied."""

    def exposed_end(self, proc: Process) -> int:
        """The end of `proc`'s memory that this capsule lets another process see right
        now (0: none). Hardened keep_high_water_mark keeps grants above it."""
        return 0

    def release(self, proc: Process) -> None:
        """The process terminated or restarted: forget Python-side state kept for it."""

    def kernel_work(self) -> None:
        """Deferred work run by the kernel loop (timers, queued requests)."""
