"""IPC, driver 0x10000: Tock 2.1+'s shared-memory IPC (kernel/src/ipc.rs), flaws included.

Processes are named by their index in the process array; services are found by their
TBF package name. The grant has NUM_PROCS upcalls, 1 read-only allow, NUM_PROCS
read-write allows (NUM_PROCS = the board's process slots).

- command 0: exists.
- command 1: discover: compare read-only allow 0 (in RAM or flash) with every package
  name, in array order -> SuccessU32(index), Failure(NODEVICE) if none matches (an empty
  or absent buffer matches none).
- command 2: notify service arg0; command 3: notify client arg0. Queues an IPC task on
  the target -> Success; Failure(INVAL) if no process has that index; the enqueue error
  (NOMEM queue full, NODEVICE not alive) otherwise.
- read-only allow 0: the package name to discover.
- read-write allow n: the buffer this process shares with process n.
- subscribe n: called when process n notifies you. A service registers at its own
  index; a client registers at the service's index.

Delivery happens when the target next yields (`do_process` in kernel/src/kernel.rs and
`schedule_upcall` in kernel/src/ipc.rs, release-2.2): the kernel enters the
target's IPC grant and the caller's (allocating either), exposes the caller's buffer for
the target through the target's MPU (`add_mpu_region`, result ignored), and schedules the
target's upcall with (caller index, length, pointer). Notify itself enters no grant;
the queued task names the caller's incarnation, so a task whose caller has restarted
since is dropped at delivery (its grant cannot be entered). Every failure on that path
is silent in `tock` mode. Each `hardened` fix is a switch (see HARDENED below).

The windows a delivery opens, and their refusal and revocation, are
tockd/capsules/ipc_share.py's; this module decides when (commands, delivery, hooks).

In both modes the caller's share and the target's callback are read back from grant
bytes through checked accessors (tockd/kernel/grant.py): a share outside the caller's
RAM below its break (say, rewritten by the caller to point at another app) faults the
caller, the forger, and the notify is dropped, never exposed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.capsules.base import Capsule
from tockd.capsules.ipc_share import SharedBuffers, Window
from tockd.contract import events as ev
from tockd.contract.control import IpcClient, IpcView
from tockd.contract.events import EventKind
from tockd.kernel.abi import DriverNum, ErrorCode
from tockd.kernel.footprint import READ
from tockd.kernel.grant import ForgedGrant, GrantError, GrantSpec
from tockd.kernel.process import Task, TaskKind
from tockd.kernel.syscall import SUCCESS, SyscallReturn, failure, success_u32

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process

SERVICE, CLIENT = 0, 1

#: hardened-mode switches of this capsule (and the kernel's keep_high_water_mark), with
#: the flaw of experiments/ each one fixes. Each flaw is fixed by exactly one switch.
HARDENED = {
    "refuse_unprotectable_share": "flaws 1 and 5: a share the MPU cannot protect fails "
    "at allow time (SIZE: size or alignment not representable, NOMEM: no free region); "
    "a window that still cannot be opened at delivery is never handed to the peer",
    "uniform_errors": "flaw 2: notify answers NODEVICE for every index that is not a "
    "declared service (empty, dead or any other app), and discover finds only declared "
    "services, so neither reveals which apps exist",
    "no_callee_grant_alloc": "flaw 3: delivering a notify never allocates IPC grant "
    "memory in a callee that has not used IPC itself",
    "report_undeliverable": "flaw 4: a notify lost after it was accepted (callee died, "
    "restarted, had no callback) counts as a dropped upcall of the callee, and the caller "
    "can read how many of its notifies were lost (command 4)",
    "revoke_on_fault": "flaw 6: when a process faults or exits, every MPU window other "
    "processes hold into its memory is removed",
    "queue_until_subscribed": "flaw 7: a notify that reaches a service with no callback "
    "yet is held and delivered when the service subscribes (chosen over refusing: a "
    "client written for Tock, which ignores notify's result, then still works)",
}


class Ipc(Capsule):
    driver_num = int(DriverNum.IPC)

    #: discover reads only names; a notify only queues on its target (recorded as
    #: such); the count of lost notifies (command 4) is the capsule's shared state
    private_commands = frozenset({0, 1, 2, 3})

    def __init__(self, kernel: Kernel, num_procs: int) -> None:
        super().__init__(kernel)
        self.num_procs = num_procs
        self.grant_spec = GrantSpec(
            DriverNum.IPC, upcalls=num_procs, allow_ro=1, allow_rw=num_procs
        )
        #: the windows deliveries opened (tockd/capsules/ipc_share.py)
        self.shares = SharedBuffers(kernel)
        # held notifies, by callee identifier: at most one per client (see _hold_or_drop)
        self.parked: dict[int, list[Task]] = {}
        self.lost: dict[int, int] = {}  # notifies lost, by caller identifier
        kernel.ipc = self  # the kernel runs queued IPC tasks through deliver_ipc_task

    def _on(self, switch: str) -> bool:
        return self.kernel.hardened.get(switch, False)

    @property
    def windows(self) -> list[Window]:
        """The MPU windows other processes hold into shared buffers, now."""
        return self.shares.windows

    # ---- commands -------------------------------------------------------------------

    def command(self, proc: Process, cmd: int, arg0: int, arg1: int) -> SyscallReturn:
        if cmd == 0:
            return SUCCESS
        if cmd == 4 and self._on("report_undeliverable"):
            return success_u32(self.lost.get(proc.identifier, 0))
        if cmd in (2, 3):
            # ipc.rs (2.2): notify never enters the caller's grant; delivery does
            return self._notify(proc, arg0, SERVICE if cmd == 2 else CLIENT)
        if cmd != 1:
            return failure(ErrorCode.NOSUPPORT)
        try:
            grant = self.enter(proc)
        except GrantError:
            return failure(ErrorCode.NOMEM)
        return self._discover(proc, *grant.allow_ro(0))

    def _discover(self, proc: Process, ptr: int, length: int) -> SyscallReturn:
        """Command 1, as kernel/src/ipc.rs does it in release-2.2: the read-only allow 0,
        whatever it holds, is compared with every process's package name in array
        order. No allow at all is an empty buffer, like an allow of length 0: both match
        no name (NODEVICE), unless a process has an empty one. A name in the caller's
        flash works as one in its RAM (libtock-c passes a string literal); the kernel's
        allow (`syscall_handlers.allow_call`) accepted either, as Tock's
        `build_readonly_process_buffer` does. Tock's INVAL (the buffer cannot be
        entered: its owner is gone) cannot happen to the caller."""
        name = self._allowed_bytes(proc, ptr, length)
        for other in self.kernel.processes:
            if other.name.encode() == name:
                if self._on("uniform_errors") and not other.spec.ipc_service:
                    continue
                return success_u32(other.index)
        return failure(ErrorCode.NODEVICE)

    def _allowed_bytes(self, proc: Process, ptr: int, length: int) -> bytes:
        """The bytes of a read-only allow of `proc` (already checked to be of length 0,
        in its RAM below the break, or in its flash)."""
        if length == 0:
            return b""
        if proc.in_ram(ptr, length):
            return self.kernel.ram.read(ptr, length)
        return self.kernel.read_flash(proc, ptr, length)

    def _has_callback(self, target: Process, sub: int) -> bool:
        """Has `target` a callback at `sub`? A forged one faults `target`: no."""
        grant = self.kernel.grant_if_allocated(target, self.grant_spec)
        if grant is None:
            return False
        try:
            return grant.upcall(sub)[0] != 0
        except ForgedGrant as e:
            self.kernel.forged_grant(e)
            return False

    def _notify(self, caller: Process, target_index: int, kind: int) -> SyscallReturn:
        kernel = self.kernel
        procs = kernel.processes
        target = procs[target_index] if target_index < len(procs) else None
        if self._on("uniform_errors"):
            # a declared service for notify-service; for notify-client, a process that
            # registered a client callback for the caller
            known = (
                target is not None
                and target.is_alive()
                and (
                    target.spec.ipc_service
                    if kind == SERVICE
                    else self._has_callback(target, caller.index)
                )
            )
            if not known:
                target = None
        if target is None:
            rv = failure(ErrorCode.NODEVICE if self._on("uniform_errors") else ErrorCode.INVAL)
        elif not target.is_alive():
            rv = failure(ErrorCode.NODEVICE)
        elif kernel.enqueue_task(target, ipc_task(caller, kind)):
            rv = SUCCESS
        else:
            rv = failure(ErrorCode.NOMEM)
        kernel.emit(
            ev.IpcNotify(
                kind=EventKind.IPC_NOTIFY,
                target=target_index,
                role="service" if kind == SERVICE else "client",
                result=rv.debug(),
            ),
            caller,
        )
        return rv

    # ---- hardened: refuse a share the MPU cannot protect --------------------------------

    def check_allow_rw(self, proc: Process, num: int, address: int, size: int) -> ErrorCode | None:
        if size == 0 or not self._on("refuse_unprotectable_share"):
            return None
        self.kernel.touch("d", self.driver_num, mode=READ)  # the windows others hold
        return self.shares.refusal(proc, num, address, size)

    # ---- delivery (at the target's yield) ---------------------------------------------

    def deliver_ipc_task(self, target: Process, task: Task) -> None:
        """Tock's `IPC::schedule_upcall(target, caller, type)`, run when `target` yields."""
        kernel = self.kernel
        kernel.touch("d", self.driver_num)  # windows, held and lost notifies
        caller_index, kind = task.subscribe, task.fnptr
        caller = kernel.processes[caller_index]
        sub = target.index if kind == SERVICE else caller_index
        if caller is target:
            self._drop(target, caller, kind, "self-notify (AlreadyInUse)")
            return
        stale = caller.identifier != task.arg0
        allocated = kernel.grant_if_allocated(target, self.grant_spec) is not None
        if not allocated and self._on("no_callee_grant_alloc"):
            self._hold_or_drop(target, caller, task, "callee has no IPC grant of its own")
            return
        try:
            tgrant = self.enter(target)  # Tock allocates the callee's grant here (flaw 3)
            if not allocated:
                kernel.emit(
                    ev.IpcCalleeGrant(
                        kind=EventKind.IPC_CALLEE_GRANT,
                        caller=caller_index,
                        size=self.grant_spec.size,
                    ),
                    target,
                )
            if stale:
                # the task holds the caller's ProcessId; a restarted caller has a new
                # one, so entering its grant fails (NoSuchApp) and nothing is scheduled
                self._drop(
                    target, caller, kind, "caller restarted since it notified", lost_by=task.arg0
                )
                return
            cgrant = self.enter(caller)  # allocated here if the caller has none yet
        except GrantError as e:
            self._drop(target, caller, kind, f"grant allocation failed: {e}")
            return
        try:
            # both read back from grants: the target's callback, the caller's share. A
            # forged one faults its owner and the notify is dropped, never exposed.
            has_callback = tgrant.upcall(sub)[0] != 0
            ptr, length = cgrant.allow_rw(target.index)
        except ForgedGrant as e:
            kernel.forged_grant(e)
            self._drop(target, caller, kind, e.reason)
            return
        if not has_callback and self._on("queue_until_subscribed"):
            self._hold_or_drop(target, caller, task, "no callback yet")
            return
        if length and not self.shares.expose(target, caller, ptr, length):
            if self._on("refuse_unprotectable_share"):
                ptr, length = 0, 0  # never hand the peer a pointer it cannot touch
        elif not length:
            ptr = 0
        if not has_callback:
            self._drop(target, caller, kind, "null upcall: no callback registered")
        result = kernel.schedule_upcall(target, self.grant_spec, sub, (caller_index, length, ptr))
        if not result.ok:
            self._drop(target, caller, kind, f"schedule_upcall {result.debug()}")

    def _hold_or_drop(self, target: Process, caller: Process, task: Task, why: str) -> None:
        """Hardened queue_until_subscribed: hold a service notify until the service
        subscribes. The hold is bounded as a fixed-memory kernel's would be: one pending
        notify per (service, client) pair, NUM_PROCS per service. A notify from a client
        whose earlier notify is still held is merged into it, like a second interrupt
        into a pending one: the service gets one upcall for both, and the merged notify
        is recorded as lost (counted for the client under report_undeliverable)."""
        if self._on("queue_until_subscribed") and task.fnptr == SERVICE:
            held = self.parked.setdefault(target.identifier, [])
            same = [t for t in held if t.subscribe == task.subscribe]
            if same and same[0].arg0 == task.arg0:
                self._drop(target, caller, task.fnptr, f"{why}: merged with a notify already held")
                return
            for old in same:  # from an earlier incarnation of the client: it is stale
                held.remove(old)
                self._drop(
                    target,
                    caller,
                    old.fnptr,
                    "caller restarted since it notified",
                    lost_by=old.arg0,
                )
            held.append(task)
            self.kernel.emit(
                ev.IpcHeld(
                    kind=EventKind.IPC_HELD,
                    caller=caller.index,
                    reason=f"{why}: held until the service subscribes",
                ),
                target,
            )
        else:
            self._drop(target, caller, task.fnptr, why)

    def _drop(
        self, target: Process, caller: Process, kind: int, reason: str, lost_by: int | None = None
    ) -> None:
        """Record a notify lost after it was accepted; `lost_by` is the identifier of the
        incarnation that sent it, when that is no longer `caller`'s."""
        counted = self._on("report_undeliverable")
        if counted:
            target.dropped_upcall_count += 1
            sender = caller.identifier if lost_by is None else lost_by
            self.lost[sender] = self.lost.get(sender, 0) + 1
        self.kernel.emit(
            ev.IpcDropped(
                kind=EventKind.IPC_DROPPED,
                caller=caller.index,
                role="service" if kind == SERVICE else "client",
                reason=reason,
                counted=counted,
            ),
            target,
        )

    def tasks_lost(self, proc: Process, tasks: list[Task]) -> None:
        """`proc` is terminated or restarted with these tasks still queued."""
        for task in tasks:
            if task.kind is TaskKind.IPC:
                caller = self.kernel.processes[task.subscribe]
                self._drop(proc, caller, task.fnptr, "callee stopped before delivery")

    # ---- hooks --------------------------------------------------------------------------

    def subscribed(self, proc: Process, num: int, fnptr: int) -> None:
        held = self.parked.get(proc.identifier)
        if not held or fnptr == 0 or num != proc.index:
            return
        del self.parked[proc.identifier]
        for task in held:
            self.kernel.enqueue_task(proc, task)
        self.kernel.emit(ev.IpcReleased(kind=EventKind.IPC_RELEASED, count=len(held)), proc)

    def faulted(self, proc: Process) -> None:
        if self._on("revoke_on_fault"):
            self.shares.revoke_into(proc, "owner faulted")

    def terminating(self, proc: Process) -> None:
        if self._on("revoke_on_fault"):
            self.shares.revoke_into(proc, "owner terminated")

    def restarting(self, proc: Process) -> None:
        """Hardened keep_high_water_mark: a restart also revokes windows into `proc`."""
        if self._on("keep_high_water_mark"):
            self.shares.revoke_into(proc, "owner restarted")

    def exposed_end(self, proc: Process) -> int:
        """The highest byte of `proc`'s memory inside a window another process holds."""
        return self.shares.exposed_end(proc)

    def release(self, proc: Process) -> None:
        """Forget the windows `proc` holds (not those into it) and its held notifies."""
        self.shares.release(proc)
        self.parked.pop(proc.identifier, None)

    def describe(self) -> IpcView:
        """Services, clients and shared buffers, for the control socket."""
        kernel = self.kernel
        services: list[int] = []
        clients: list[IpcClient] = []
        for p in kernel.processes:  # an observer: raw reads, never dereferenced
            grant = kernel.grant_if_allocated(p, self.grant_spec) if p.is_alive() else None
            if grant is None:
                continue
            for n in range(self.num_procs):
                if not grant.raw_upcall(n)[0]:
                    continue
                if n == p.index:
                    services.append(p.index)
                else:
                    clients.append({"client": p.index, "service": n})
        return {"services": services, "clients": clients, "windows": self.shares.describe()}


def ipc_task(caller: Process, kind: int) -> Task:
    """Tock's `Task::IPC((processid, cb_type))`: the caller by index (subscribe) and by
    identifier (arg0), so a task that outlives the caller's incarnation is recognised."""
    return Task(TaskKind.IPC, int(DriverNum.IPC), caller.index, kind, caller.identifier)


__all__ = ["HARDENED", "Ipc", "Window", "ipc_task"]
