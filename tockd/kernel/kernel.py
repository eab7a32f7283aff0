"""The kernel core: the process table and syscall dispatch, and the façade for the rest.

Sans-IO: nothing here touches a socket or trio. The daemon (`tockd.daemon`) feeds each
syscall frame to `handle_syscall`, asks `next_delivery` what to hand a yielded process,
and performs the OS actions the kernel requests through `OsHooks`. The work is split
where Tock splits it: the syscall classes the kernel answers itself (syscall_handlers.py),
upcalls (upcall.py), a process's life cycle (lifecycle.py), grant allocation
(grant_alloc.py), timers (timers.py), syscall tracing (tracing.py); `Kernel` keeps one
method for each, which is what capsules, the daemon and the lab call. Dispatch order and
results follow `kernel/src/kernel.rs` and `kernel/src/process_standard.rs` at release-2.2
(docs/conformance.md lists each rule; docs/syscall-flow.md walks one syscall through).
"""

from __future__ import annotations

import itertools
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from tockd.contract import events as ev
from tockd.contract.events import Event, EventKind
from tockd.kernel import footprint, grant_alloc, lifecycle, syscall_handlers, tracing, upcall
from tockd.kernel import memop as memop_mod
from tockd.kernel.abi import UPCALL_QUEUE_LEN, ErrorCode, SyscallClass
from tockd.kernel.driver import Driver, IpcTasks
from tockd.kernel.events import EventBus
from tockd.kernel.flash import Flash, FlashError
from tockd.kernel.footprint import Footprint
from tockd.kernel.grant import ForgedGrant, Grant, GrantSpec
from tockd.kernel.mpu import MPU
from tockd.kernel.process import Process, State, Task
from tockd.kernel.syscall import failure
from tockd.kernel.timers import TimerCallback, TimerChooser, TimerQueue
from tockd.kernel.upcall import Delivery, UpcallResult

if TYPE_CHECKING:
    from tockd.kernel.memory import PhysicalRAM

# Bytes of kernel-owned memory at the top of each process block, besides grants
# (Tock on Cortex-M: 36 B per queued Task, ~880 B for the process control block).
TASK_BYTES = 36
PCB_BYTES = 880
_NODEVICE = failure(ErrorCode.NODEVICE)


class OsHooks(Protocol):
    """What the kernel asks of the layer that owns the OS processes."""

    def stop_os_process(self, proc: Process) -> None: ...
    def respawn(self, proc: Process) -> None: ...
    def panic(self, reason: str) -> None: ...
    def wake(self) -> None: ...


@dataclass
class Outcome:
    """What the daemon must do after a syscall.

    `reply` set: send these registers (the process keeps running). `reply` None: the
    process yielded, exited or faulted; look at its state.
    """

    reply: tuple[int, int, int, int] | None


class Kernel:
    """One Tock kernel instance."""

    def __init__(
        self,
        ram: PhysicalRAM,
        mpu: MPU,
        *,
        kernel_mode: str = "tock",
        hardened: dict[str, bool] | None = None,
        clock: Callable[[], float] | None = None,
        seed: int = 0,
    ) -> None:
        self.ram = ram
        self.mpu = mpu
        self.kernel_mode = kernel_mode
        self.hardened = dict(hardened or {})
        self.events = EventBus()
        #: set by a caller (the daemon) that writes the log entries of the syscalls that
        #: return to a lone recorder itself, from the bytes it already holds
        self.caller_records = False
        self.processes: list[Process] = []
        self.capsules: dict[int, Driver] = {}
        #: runs queued IPC tasks; the IPC capsule registers itself (Tock's board hands
        #: `kernel_loop` its IPC the same way, kernel/src/kernel.rs, release-2.2)
        self.ipc: IpcTasks | None = None
        self.grant_numbers: dict[int, int] = {}
        self._identifiers = itertools.count(0)
        #: capsule work due at a time (tockd/kernel/timers.py)
        self.timers = TimerQueue()
        self.os: OsHooks | None = None
        self.clock: Callable[[], float] = clock or time.monotonic
        #: every process's TBF image (tockd/kernel/flash.py)
        self.flash = Flash()
        self.flash_base = 0x0004_0000
        #: where the process loader places the next process (tockd/kernel/lifecycle.py)
        self.flash_next = self.flash_base
        self.ram_next = ram.base
        self.panicked: str | None = None
        self.seed = seed
        self.random = random.Random(seed)
        #: what the current step touches, while the lab's controlled scheduler records
        #: it (tockd/kernel/footprint.py); None otherwise
        self.footprint: Footprint | None = None

    # ---- board assembly -------------------------------------------------------------

    def add_capsule(self, capsule: Driver) -> None:
        """Register a driver; like `create_grant`, only before processes are loaded."""
        if self.processes:
            raise RuntimeError("Grants finalized. Cannot create a new grant.")
        self.capsules[capsule.driver_num] = capsule
        self.grant_numbers[capsule.driver_num] = len(self.grant_numbers)

    @property
    def initial_kernel_size(self) -> int:
        return 8 * len(self.grant_numbers) + UPCALL_QUEUE_LEN * TASK_BYTES + PCB_BYTES

    def load_process(self, proc: Process) -> None:
        """Place a process in flash and RAM, as the board's process loader does."""
        lifecycle.load_process(self, proc)

    def read_flash(self, proc: Process, address: int, length: int) -> bytes:
        """Bytes of `proc`'s flash, header included, as the kernel reads them (say, a
        read-only allow of a string in flash). Raises FlashError outside it."""
        if not (proc.flash_start <= address and address + length <= proc.flash_end):
            raise FlashError(f"{address:#x}+{length} is not in the flash of {proc.name}")
        return self.flash.read(address, length)

    def touch(
        self,
        kind: str,
        index: int | None = None,
        part: int | str | None = None,
        mode: int = footprint.WRITE,
    ) -> None:
        """The current step uses a resource (`footprint.name(kind, index, part)`):
        named only while a step is being recorded, so this costs one test otherwise."""
        fp = self.footprint
        if fp is not None:
            resource = footprint.name(kind, index, part)
            fp[resource] = fp.get(resource, 0) | mode

    def now(self) -> float:
        """The time, for a capsule: a read of the clock the current step depends on."""
        fp = self.footprint
        if fp is not None:
            fp["time"] = fp.get("time", 0) | footprint.READ
        return self.clock()

    def new_identifier(self) -> int:
        return next(self._identifiers)

    # ---- events ---------------------------------------------------------------------

    def emit(self, event: Event, proc: Process | None = None) -> None:
        """Put `event` on the stream, stamped with the time and, if it is about `proc`,
        the process (its fields follow those, in the order given). Building a typed
        event costs about 0.4 µs even when no sink listens, so a producer on a path
        taken per syscall, upcall or context switch checks `events.active` first."""
        if not self.events.active:
            return
        out: dict[str, object] = {"kind": event["kind"], "t": round(self.clock() * 1e6)}
        if proc is not None:
            out["pid"] = proc.identifier
            out["index"] = proc.index
            out["name"] = proc.name
        out.update(event)
        self.events.emit(cast(Event, out))

    # ---- syscalls -------------------------------------------------------------------

    def handle_syscall(
        self, proc: Process, cls: int, r0: int, r1: int, r2: int, r3: int
    ) -> Outcome:
        """Run one syscall of `proc` (which must be Running).

        A capsule that raises is a kernel bug, not the app's: the calling process is
        faulted with the error and the board goes on (Tock would panic).
        """
        try:
            return self._handle_syscall(proc, cls, r0, r1, r2, r3)
        except Exception as e:  # contain any capsule bug
            self.kernel_error(proc, f"syscall class {cls} ({r0:#x}, {r1}, {r2:#x}, {r3:#x})", e)
            return Outcome(None)

    def forged_grant(self, e: ForgedGrant) -> None:
        """A value read back from `e.proc`'s grant broke the rules it was stored under:
        fault the forger (which may not be the running process) with the reason. The
        caller of this abandons whatever it was doing with the value."""
        self.fault(e.proc, e.reason)

    def kernel_error(self, proc: Process, during: str, error: Exception) -> None:
        import traceback

        text = "".join(traceback.format_exception(error)).rstrip()
        print(f"tockd: kernel error during {during} of {proc.name}:\n{text}", file=sys.stderr)
        self.emit(
            ev.KernelError(kind=EventKind.KERNEL_ERROR, during=during, error=repr(error)), proc
        )
        self.fault(proc, f"kernel error in {during}: {error!r}")

    def _handle_syscall(
        self, proc: Process, cls: int, r0: int, r1: int, r2: int, r3: int
    ) -> Outcome:
        """Run one syscall of `proc` (which must be Running)."""
        proc.syscall_count += 1
        proc.last_call = (cls, r0, r1, r2, r3)  # formatted only when someone asks
        fp = self.footprint
        if fp is not None:
            if cls == SyscallClass.COMMAND and r1 not in getattr(
                self.capsules.get(r0), "private_commands", ()
            ):
                fp[f"d{r0}"] = fp.get(f"d{r0}", 0) | footprint.WRITE
            elif cls == SyscallClass.EXIT:
                fp[footprint.EVERYTHING] = footprint.WRITE
        if cls == SyscallClass.YIELD:
            return Outcome(syscall_handlers.yield_call(self, proc, r0, r1, r2))
        if cls == SyscallClass.EXIT:
            return Outcome(syscall_handlers.exit_call(self, proc, r0, r1))
        try:
            if cls == SyscallClass.MEMOP:
                rv = memop_mod.memop(self, proc, r0, r1)
            elif cls == SyscallClass.COMMAND:
                capsule = self.capsules.get(r0)
                rv = _NODEVICE if capsule is None else capsule.command(proc, r1, r2, r3)
            elif cls == SyscallClass.SUBSCRIBE:
                rv = syscall_handlers.subscribe_call(self, proc, r0, r1, r2, r3)
            else:
                rv = syscall_handlers.allow_call(self, proc, cls, r0, r1, r2, r3)
        except ForgedGrant as e:
            # a value read back from a grant broke its rules: its owner forged it. The
            # forger is faulted; a caller that is not the forger gets FAIL.
            self.forged_grant(e)
            rv = syscall_handlers.failed_call(cls, r2, r3)
        if proc.state is not State.RUNNING:
            # the capsule faulted or stopped the caller while handling the call
            return Outcome(None)
        registers = rv.registers()
        bus = self.events
        # nothing is built for observers when none listens; a lone recorder of a caller
        # that logs returning syscalls itself (the daemon) is left to it (yields and
        # exits, which may not return, are logged here)
        if bus.tracing and (bus.only_recorder is None or not self.caller_records):
            tracing.trace_syscall(self, proc, registers)
        return Outcome(registers)

    def note_running(self, proc: Process) -> None:
        """The daemon hands `proc` the CPU: the recorders' log says whose syscalls follow."""
        tracing.note_running(self, proc)

    # ---- grants (tockd/kernel/grant_alloc.py) ---------------------------------------

    def enter_grant(self, proc: Process, spec: GrantSpec) -> Grant:
        """Enter `spec`'s grant for `proc`, allocating it from the top of its RAM."""
        return grant_alloc.enter_grant(self, proc, spec)

    def grant_floor(self, proc: Process) -> int:
        """Hardened keep_high_water_mark's lowest address for a new grant (0 in Tock)."""
        return grant_alloc.grant_floor(self, proc)

    def grant_if_allocated(self, proc: Process, spec: GrantSpec) -> Grant | None:
        """`proc`'s grant of `spec`, or None when not allocated (nothing is allocated)."""
        return grant_alloc.grant_if_allocated(self, proc, spec)

    # ---- upcalls (tockd/kernel/upcall.py) -------------------------------------------

    def schedule_upcall(
        self, proc: Process, spec: GrantSpec, subscribe: int, args: tuple[int, int, int]
    ) -> UpcallResult:
        """A capsule schedules upcall `subscribe` on `proc`: Tock's `Result<(), UpcallError>`."""
        return upcall.schedule_upcall(self, proc, spec, subscribe, args)

    def enqueue_task(self, proc: Process, task: Task) -> bool:
        """Queue `task` on `proc`; False when it did not fit (a dropped upcall)."""
        return upcall.enqueue_task(self, proc, task)

    def next_delivery(self, proc: Process, one_task: bool = False) -> Delivery:
        """What to hand a Yielded process now: ("upcall", (fnptr, a0, a1, a2, appdata)),
        ("return", (r0, r1, r2, r3)) for a yield-wait-for, or None (stays asleep).
        With `one_task`, at most one task is taken: `upcall.AGAIN` says it handed the
        process nothing and more are queued (ask again)."""
        return upcall.next_delivery(self, proc, one_task)

    # ---- life cycle (tockd/kernel/lifecycle.py) -------------------------------------

    def terminate(self, proc: Process, completion_code: int | None) -> None:
        """Tock's terminate(): empty the queue, free grants, state Terminated."""
        self.touch(footprint.EVERYTHING)
        lifecycle.terminate(self, proc, completion_code)

    def try_restart(self, proc: Process, completion_code: int | None) -> None:
        """terminate() then reset(): a fresh identifier, Tock's memory marks, `_start`."""
        self.touch(footprint.EVERYTHING)
        lifecycle.try_restart(self, proc, completion_code)

    def start(self, proc: Process) -> bool:
        """Console `boot`: only from Terminated."""
        return lifecycle.start(self, proc)

    def reset(self, proc: Process) -> None:
        """Tock's reset(): the process starts again in its block from `_start`."""
        lifecycle.reset(self, proc)

    def mpu_fault(self, proc: Process, address: int, length: int, access: int) -> None:
        """The runtime refused an access: fault with the address, kind and region table."""
        lifecycle.mpu_fault(self, proc, address, length, access)

    def fault(self, proc: Process, reason: str) -> None:
        """The process faulted: record why and apply its fault policy."""
        self.touch(footprint.EVERYTHING)
        lifecycle.fault(self, proc, reason)

    def stop(self, proc: Process) -> bool:
        """Console `stop`: a running or yielded process stops until `resume`."""
        return lifecycle.stop(self, proc)

    def resume(self, proc: Process) -> bool:
        """Console `resume`: back to the state it was stopped in."""
        return lifecycle.resume(self, proc)

    # ---- timers (kernel work, tockd/kernel/timers.py) --------------------------------

    def set_timer(self, deadline: float, callback: TimerCallback, label: str = "timer") -> int:
        """Call `callback` at `deadline` (kernel clock); returns a token for cancel_timer.
        While footprints are recorded, the timer is the arming step's driver's: firing it
        touches that driver's state (tockd/kernel/footprint.py)."""
        fp = self.footprint
        if fp is not None:
            fp["timers"] = fp.get("timers", 0) | footprint.ADD
            callback = self._owned_timer(callback, [r for r in fp if r[0] == "d"])
        token = self.timers.arm(deadline, label, callback)
        if self.os is not None:
            self.os.wake()
        return token

    def _owned_timer(self, callback: TimerCallback, owners: list[str]) -> TimerCallback:
        def fire() -> None:
            for owner in owners:
                self.touch(owner)
            callback()

        return fire

    def cancel_timer(self, token: int) -> None:
        """Forget a timer that has not fired (so re-arming never grows the heap)."""
        self.touch("timers")
        self.timers.cancel(token)

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def run_due_timers(self, choose: TimerChooser | None = None) -> None:
        """Fire every timer that is due. When several are due, `choose` (the controlled
        scheduler's, `Scheduler.timer_chooser`) may pick their order; otherwise
        deadline, then FIFO."""
        while (callback := self.timers.pop_due(self.clock(), choose)) is not None:
            self._fire_timer(callback)

    def _fire_timer(self, callback: TimerCallback) -> None:
        """Capsule work on a process's behalf: a forged grant faults its owner only."""
        try:
            callback()
        except ForgedGrant as e:
            self.forged_grant(e)

    def find(self, name: str) -> Process | None:
        for p in self.processes:
            if p.name == name:
                return p
        return None
