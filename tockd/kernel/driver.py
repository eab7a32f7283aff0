"""What the kernel needs of a driver (a capsule), as protocols the kernel owns.

Tock's kernel knows its capsules only through the `SyscallDriver` trait
(`kernel/src/syscall_driver.rs`, release-2.2) and is handed the IPC capsule by the board
(`Kernel::kernel_loop(..., ipc: Option<&ipc::IPC>)` in `kernel/src/kernel.rs`). tockd does
the same: the kernel never imports `tockd.capsules` (the layer above it,
docs/layers.md); `tockd.capsules.base.Capsule` satisfies `Driver`, and the IPC capsule
registers itself as the kernel's `IpcTasks` handler.

tockd's driver interface is wider than `SyscallDriver`: Tock's kernel stores subscribe
and allow itself and never tells the capsule, and has no life-cycle callbacks; tockd's
hardened IPC and grant bookkeeping need them (tockd/capsules/base.py says what each is
for).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tockd.kernel.abi import ErrorCode
    from tockd.kernel.grant import GrantSpec
    from tockd.kernel.process import Process, Task
    from tockd.kernel.syscall import SyscallReturn


class Driver(Protocol):
    """A capsule as the kernel calls it."""

    driver_num: int
    grant_spec: GrantSpec

    def command(self, proc: Process, cmd: int, arg0: int, arg1: int) -> SyscallReturn: ...

    def allow_userspace_readable(
        self, proc: Process, num: int, address: int, size: int
    ) -> SyscallReturn: ...

    def allocate_grant(self, proc: Process) -> bool: ...

    def subscribed(self, proc: Process, num: int, fnptr: int) -> None: ...

    def check_allow_rw(
        self, proc: Process, num: int, address: int, size: int
    ) -> ErrorCode | None: ...

    def tasks_lost(self, proc: Process, tasks: list[Task]) -> None: ...

    def terminating(self, proc: Process) -> None: ...

    def restarting(self, proc: Process) -> None: ...

    def faulted(self, proc: Process) -> None: ...

    def exposed_end(self, proc: Process) -> int: ...

    def release(self, proc: Process) -> None: ...


class IpcTasks(Protocol):
    """Who runs a process's queued IPC tasks: Tock's `IPC::schedule_upcall`, which
    `kernel.rs` calls for a `Task::IPC` when the process yields."""

    def deliver_ipc_task(self, target: Process, task: Task) -> None: ...
