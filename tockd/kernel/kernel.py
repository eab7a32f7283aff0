"""The kernel core: process table, syscall dispatch, upcalls, grants, life cycle.

Sans-IO: nothing here touches a socket or trio. The daemon (`tockd.daemon`) feeds each
syscall frame to `handle_syscall`, asks `next_delivery` what to hand a yielded process,
and performs the OS actions the kernel requests through `OsHooks`. Dispatch order and
results follow `kernel/src/kernel.rs` and `kernel/src/process_standard.rs` at release-2.2
(docs/conformance.md lists each rule; docs/syscall-flow.md walks one syscall through).
"""

from __future__ import annotations

import heapq
import itertools
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tockd.contract import wire
from tockd.contract.returns import ret_text
from tockd.kernel import memop as memop_mod
from tockd.kernel.abi import (
    FRAME_RETURN,
    UPCALL_QUEUE_LEN,
    ErrorCode,
    ExitCall,
    SyscallClass,
    YieldCall,
)
from tockd.kernel.driver import Driver, IpcTasks
from tockd.kernel.events import EventBus
from tockd.kernel.flash import Flash, FlashError, build_image
from tockd.kernel.grant import ForgedGrant, Grant, GrantError, GrantSpec
from tockd.kernel.memory import PAGE
from tockd.kernel.mpu import MPU, MpuError
from tockd.kernel.process import FaultPolicy, Process, State, Task, TaskKind
from tockd.kernel.syscall import (
    SyscallReturn,
    allow_failure,
    allow_success,
    failure,
    subscribe_failure,
    subscribe_success,
)

#: the log entry of a syscall that returns nothing (msgpack nil)
_NO_REPLY = b"\xc0"

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
        self._timers: list[tuple[float, int, str, Callable[[], None]]] = []
        self.timer_chooser: Callable[[list[str]], int] | None = None
        self._timer_seq = itertools.count()
        self.os: OsHooks | None = None
        self.clock: Callable[[], float] = clock or time.monotonic
        #: every process's TBF image (tockd/kernel/flash.py)
        self.flash = Flash()
        self.flash_base = 0x0004_0000
        self._flash_next = self.flash_base
        self._ram_next = ram.base
        self.panicked: str | None = None
        self.seed = seed
        self.random = random.Random(seed)

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
        spec = proc.spec
        proc.mpu = self.mpu.new_config()
        # flash: power-of-two sized and aligned so every MPU model can cover it
        size = 1 << max(spec.flash - 1, 255).bit_length()
        start = (self._flash_next + size - 1) & ~(size - 1)
        proc.flash_start, proc.flash_end = start, start + size
        self._flash_next = start + size
        try:
            image = build_image(start, size, spec.name, spec.ram, list(spec.rodata))
        except FlashError as e:
            raise FlashError(f"cannot load {spec.name}: {e}") from None
        self.flash.program(image)
        proc.flash_protected = image.protected  # Tock's `flash_non_protected_start`
        k = self.initial_kernel_size
        arch_min = self.mpu.initial_app_brk_size
        try:
            mem_start, mem_len = self.mpu.allocate_app_memory_region(
                self._ram_next,
                self.ram.end - self._ram_next,
                max(spec.ram, arch_min) + k,
                arch_min,
                k,
                proc.mpu,
            )
        except MpuError as e:
            raise MpuError(f"cannot load {spec.name}: {e}") from None
        proc.mem_start, proc.memory_len = mem_start, mem_len
        # Blocks start and end on page boundaries, so that no page holds two processes'
        # memory: each app maps its own block's pages, and only those (memory.py).
        self._ram_next = (mem_start + mem_len + PAGE - 1) & ~(PAGE - 1)
        self.ram.back(mem_start, mem_len)
        self.processes.append(proc)
        self._reset_memory(proc)
        self.mpu.allocate_flash_region(proc.flash_start, size, proc.mpu)
        self._boot(proc)

    def _reset_memory(self, proc: Process) -> None:
        assert proc.mpu is not None
        arch_min = self.mpu.initial_app_brk_size
        proc.app_break = proc.mem_start + arch_min
        proc.kernel_memory_break = proc.mem_end - self.initial_kernel_size
        proc.initial_kernel_break = proc.kernel_memory_break
        proc.allow_high_water_mark = proc.mem_start
        proc.grant_ptrs.clear()
        self.mpu.update_app_memory_region(proc.app_break, proc.kernel_memory_break, proc.mpu)
        self._clear_grant_table(proc)

    def _boot(self, proc: Process) -> None:
        """Queue the `_start` call; the process is Yielded until the scheduler runs it.
        Like Tock's process loader, `_start` and the app start come from the TBF header
        in flash (process_standard.rs, release-2.2)."""
        image = self.flash.image_at(proc.flash_start)
        proc.state = State.YIELDED
        proc.queue.clear()
        proc.queue.append(
            Task(
                TaskKind.FUNCTION_CALL,
                -1,
                0,
                proc.flash_start + image.init,
                proc.flash_start + image.protected,
                proc.mem_start,
                proc.memory_len,
                proc.app_break,
            )
        )

    def read_flash(self, proc: Process, address: int, length: int) -> bytes:
        """Bytes of `proc`'s flash, header included, as the kernel reads them (say, a
        read-only allow of a string in flash). Raises FlashError outside it."""
        if not (proc.flash_start <= address and address + length <= proc.flash_end):
            raise FlashError(f"{address:#x}+{length} is not in the flash of {proc.name}")
        return self.flash.read(address, length)

    def new_identifier(self) -> int:
        return next(self._identifiers)

    # ---- events ---------------------------------------------------------------------

    def emit(self, kind: str, proc: Process | None = None, **fields: Any) -> None:
        if not self.events.active:
            return
        event: dict[str, Any] = {"kind": kind, "t": round(self.clock() * 1e6)}
        if proc is not None:
            event["pid"] = proc.identifier
            event["index"] = proc.index
            event["name"] = proc.name
        event.update(fields)
        self.events.emit(event)

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
        self.emit("kernel_error", proc, during=during, error=repr(error))
        self.fault(proc, f"kernel error in {during}: {error!r}")

    def _handle_syscall(
        self, proc: Process, cls: int, r0: int, r1: int, r2: int, r3: int
    ) -> Outcome:
        """Run one syscall of `proc` (which must be Running)."""
        proc.syscall_count += 1
        proc.last_call = (cls, r0, r1, r2, r3)  # formatted only when someone asks
        if cls == SyscallClass.YIELD:
            return self._yield(proc, r0, r1, r2)
        if cls == SyscallClass.EXIT:
            return self._exit(proc, r0, r1)
        try:
            if cls == SyscallClass.MEMOP:
                rv = memop_mod.memop(self, proc, r0, r1)
            elif cls == SyscallClass.COMMAND:
                capsule = self.capsules.get(r0)
                rv = _NODEVICE if capsule is None else capsule.command(proc, r1, r2, r3)
            elif cls == SyscallClass.SUBSCRIBE:
                rv = self._subscribe(proc, r0, r1, r2, r3)
            else:
                rv = self._allow(proc, cls, r0, r1, r2, r3)
        except ForgedGrant as e:
            # a value read back from a grant broke its rules: its owner forged it. The
            # forger is faulted; a caller that is not the forger gets FAIL.
            self.forged_grant(e)
            rv = _failed_call(cls, r2, r3)
        if proc.state is not State.RUNNING:
            # the capsule faulted or stopped the caller while handling the call
            return Outcome(None)
        registers = rv.registers()
        bus = self.events
        # nothing is built for observers when none listens; a lone recorder of a caller
        # that logs returning syscalls itself (the daemon) is left to it (yields and
        # exits, which may not return, are logged here)
        if bus.tracing and (bus.only_recorder is None or not self.caller_records):
            self._trace_syscall(proc, registers)
        return Outcome(registers)

    def _trace_syscall(self, proc: Process, registers: tuple[int, int, int, int] | None) -> None:
        """The `syscall` event of `proc.last_call`, returning `registers` (None: a yield,
        or an exit that did not return): as a dict to the sinks that take dicts, and to
        the recorders as two log entries, the packed call and the packed reply frame
        (tockd/records.py)."""
        bus = self.events
        bus.seq += 1
        if bus.recorders:
            call = wire.encode(proc.last_call)
            reply = _NO_REPLY if registers is None else wire.encode((FRAME_RETURN, *registers))
            for append in bus.recorders:
                append(call)
                append(reply)
        if bus.syscall_sinks:
            self._syscall_event(proc, registers)

    def note_running(self, proc: Process) -> None:
        """The daemon hands `proc` the CPU: the recorders' log says whose syscalls follow
        (only the running process makes syscalls, so the log names it once a quantum)."""
        key = wire.encode((proc.identifier, proc.index))
        for append in self.events.recorders:
            append(key)

    def _syscall_event(self, proc: Process, registers: tuple[int, int, int, int] | None) -> None:
        call = proc.last_call
        cls = call[0]
        event: dict[str, Any] = {
            "kind": "syscall",
            "t": round(self.clock() * 1e6),
            "pid": proc.identifier,
            "index": proc.index,
            "name": proc.name,
            "cls": cls,
            "args": list(call[1:]),
        }
        ret = ret_text(call, registers)
        if ret is not None:
            event["ret"] = ret
            if registers is not None:
                event["rv"] = list(registers)
        event["seq"] = self.events.seq
        for sink in list(self.events.syscall_sinks):
            sink(event)

    def _yield(self, proc: Process, which: int, r1: int, r2: int) -> Outcome:
        if self.events.tracing:
            self._trace_syscall(proc, None)
        if which not in (0, 1, 2):
            # kernel.rs (2.2): "Only 0, 1, and 2 are valid ... just return control to
            # the process." Tock sets no return value; tockd answers as it does for a
            # Yield-NoWait that finds nothing queued.
            return Outcome((0, 0, 0, 0))
        if which == YieldCall.NO_WAIT:
            has_tasks = bool(proc.queue)
            if r1 != 0 and proc.in_ram(r1, 1):
                self.ram.write(r1, b"\x01" if has_tasks else b"\x00")
            if not has_tasks:
                return Outcome((0, 0, 0, 0))
            proc.state = State.YIELDED
        elif which == YieldCall.WAIT:
            proc.state = State.YIELDED
        else:
            proc.state = State.YIELDED_FOR
            proc.wait_for = (r1, r2)
        return Outcome(None)

    def _exit(self, proc: Process, which: int, code: int) -> Outcome:
        tracing = self.events.tracing
        if which == ExitCall.TERMINATE:
            if tracing:
                self._trace_syscall(proc, None)
            self.terminate(proc, code)
            return Outcome(None)
        if which == ExitCall.RESTART:
            if tracing:
                self._trace_syscall(proc, None)
            self.try_restart(proc, code)
            return Outcome(None)
        rv = failure(ErrorCode.NOSUPPORT)
        if tracing:
            self._trace_syscall(proc, rv.registers())
        return Outcome(rv.registers())

    def _grant_for_syscall(self, proc: Process, capsule: Driver) -> Grant | None:
        """Enter the capsule's grant, asking the capsule to allocate it if needed."""
        num = self.grant_numbers[capsule.driver_num]
        if num not in proc.grant_ptrs and not capsule.allocate_grant(proc):
            self.emit(
                "grant_failed",
                proc,
                driver=capsule.driver_num,
                text=f"WARN driver #{capsule.driver_num:x} did not allocate grant",
            )
            return None
        if num not in proc.grant_ptrs:
            return None
        return Grant(self.ram, proc.grant_ptrs[num], capsule.grant_spec, proc)

    def _subscribe(
        self, proc: Process, driver: int, num: int, fnptr: int, appdata: int
    ) -> SyscallReturn:
        if fnptr != 0 and not (proc.in_flash(fnptr, 4) or proc.in_ram(fnptr, 4)):
            return subscribe_failure(ErrorCode.INVAL, fnptr, appdata)
        capsule = self.capsules.get(driver)
        if capsule is None:
            return subscribe_failure(ErrorCode.NODEVICE, fnptr, appdata)
        grant = self._grant_for_syscall(proc, capsule)
        if grant is None:
            return subscribe_failure(ErrorCode.NOMEM, fnptr, appdata)
        if num >= capsule.grant_spec.upcalls:
            return subscribe_failure(ErrorCode.NOSUPPORT, fnptr, appdata)
        old_fn, old_data = grant.raw_upcall(num)  # handed back to the owner only
        grant.set_upcall(num, fnptr, appdata)
        removed = proc.remove_pending_upcalls(driver, num)
        self.emit("remove_pending_upcalls", proc, driver=driver, subscribe=num, removed=removed)
        capsule.subscribed(proc, num, fnptr)
        return subscribe_success(old_fn, old_data)

    def _allow(
        self, proc: Process, cls: int, driver: int, num: int, addr: int, size: int
    ) -> SyscallReturn:
        capsule = self.capsules.get(driver)
        if capsule is None:
            return allow_failure(cls, ErrorCode.NODEVICE, addr, size)
        if size != 0:
            in_ram = proc.in_ram(addr, size)
            if not in_ram and not (cls == SyscallClass.ALLOW_RO and proc.in_flash(addr, size)):
                return allow_failure(cls, ErrorCode.INVAL, addr, size)
            if in_ram:
                proc.allow_high_water_mark = max(proc.allow_high_water_mark, addr + size)
        if cls == SyscallClass.ALLOW_USERSPACE_READABLE:
            return capsule.allow_userspace_readable(proc, num, addr, size)
        grant = self._grant_for_syscall(proc, capsule)
        if grant is None:
            return allow_failure(cls, ErrorCode.NOMEM, addr, size)
        spec = capsule.grant_spec
        if cls == SyscallClass.ALLOW_RW:
            if num >= spec.allow_rw:
                return allow_failure(cls, ErrorCode.NOSUPPORT, addr, size)
            refused = capsule.check_allow_rw(proc, num, addr, size)
            if refused is not None:
                return allow_failure(cls, refused, addr, size)
            old = grant.raw_allow_rw(num)  # handed back to the owner only
            grant.set_allow_rw(num, addr, size)
        else:
            if num >= spec.allow_ro:
                return allow_failure(cls, ErrorCode.NOSUPPORT, addr, size)
            old = grant.raw_allow_ro(num)
            grant.set_allow_ro(num, addr, size)
        return allow_success(cls, old[0], old[1])

    # ---- grants ---------------------------------------------------------------------

    def enter_grant(self, proc: Process, spec: GrantSpec) -> Grant:
        """Enter `spec`'s grant for `proc`, allocating it from the top of its RAM."""
        if not proc.is_alive():
            raise GrantError(ErrorCode.FAIL, f"{proc.name} is not alive")
        num = self.grant_numbers[spec.driver_num]
        address = proc.grant_ptrs.get(num)
        if address is not None:
            return Grant(self.ram, address, spec, proc)
        assert proc.mpu is not None
        new_kbrk = (proc.kernel_memory_break - spec.size) & ~3
        if "grant_fail" in proc.adversity:
            proc.adversity.discard("grant_fail")
            raise GrantError(ErrorCode.NOMEM, "adversity: grant allocation made to fail")
        if new_kbrk < proc.app_break:
            raise GrantError(ErrorCode.NOMEM, "grant would cross app_break")
        if new_kbrk < self.grant_floor(proc):
            raise GrantError(ErrorCode.NOMEM, "grant would cover memory another process maps")
        try:
            self.mpu.update_app_memory_region(proc.app_break, new_kbrk, proc.mpu)
        except MpuError as e:
            raise GrantError(ErrorCode.NOMEM, f"MPU cannot keep app clear of grant: {e}") from None
        proc.kernel_memory_break = new_kbrk
        proc.mpu_dirty = True
        proc.grant_ptrs[num] = new_kbrk
        grant = Grant.initialise(self.ram, new_kbrk, spec, proc)
        table = proc.mem_end - 8 * len(self.grant_numbers)
        self.ram.pack("<II", table + 8 * num, spec.driver_num, new_kbrk)
        self.emit(
            "grant_alloc",
            proc,
            driver=spec.driver_num,
            address=new_kbrk,
            size=spec.size,
            kernel_memory_break=new_kbrk,
        )
        return grant

    def grant_floor(self, proc: Process) -> int:
        """Hardened keep_high_water_mark: grants stay above every byte of `proc`'s memory
        that another process can still see through a window (IPC), so kernel data never
        lands where a peer reads. A restart with that switch revokes those windows, so
        the floor protects only while something is exposed: a second life is not
        starved by its first life's shares. Tock has no such floor (0)."""
        if not self.hardened.get("keep_high_water_mark", False):
            return 0
        return max((c.exposed_end(proc) for c in self.capsules.values()), default=0)

    def grant_if_allocated(self, proc: Process, spec: GrantSpec) -> Grant | None:
        address = proc.grant_ptrs.get(self.grant_numbers[spec.driver_num])
        return None if address is None else Grant(self.ram, address, spec, proc)

    # ---- upcalls --------------------------------------------------------------------

    def schedule_upcall(
        self, proc: Process, spec: GrantSpec, subscribe: int, args: tuple[int, int, int]
    ) -> str:
        """A capsule schedules upcall `subscribe` on `proc`. Returns Tock's result text."""
        driver = spec.driver_num
        grant = self.grant_if_allocated(proc, spec) if proc.is_alive() else None
        if grant is None:
            return self._upcall_dropped(
                proc, driver, subscribe, args, "process not alive (KernelError)"
            )
        if subscribe >= spec.upcalls:
            self.emit("schedule_invalid", proc, driver=driver, subscribe=subscribe)
            return "Err(InvalidSubscribeNum)"
        try:
            fnptr, appdata = grant.upcall(subscribe)
        except ForgedGrant as e:
            self.forged_grant(e)
            return self._upcall_dropped(proc, driver, subscribe, args, e.reason)
        kind = TaskKind.FUNCTION_CALL if fnptr else TaskKind.RETURN_VALUE
        a0, a1, a2 = (a & 0xFFFF_FFFF for a in args)
        task = Task(kind, driver, subscribe, fnptr, a0, a1, a2, appdata)
        result = "Ok(())" if self.enqueue_task(proc, task) else "Err(QueueFull)"
        self.emit(
            "schedule",
            proc,
            driver=driver,
            subscribe=subscribe,
            fnptr=fnptr,
            args=list(task[4:7]),
            appdata=appdata,
            result=result,
        )
        if result != "Ok(())":
            self.emit(
                "upcall_dropped",
                proc,
                driver=driver,
                subscribe=subscribe,
                args=list(task[4:7]),
                reason="upcall queue full (QueueFull)",
            )
        return result

    def _upcall_dropped(
        self, proc: Process, driver: int, subscribe: int, args: tuple[int, int, int], reason: str
    ) -> str:
        """An upcall that cannot be scheduled (KernelError): recorded, and Tock's result."""
        self.emit(
            "upcall_dropped",
            proc,
            driver=driver,
            subscribe=subscribe,
            args=list(args),
            reason=reason,
        )
        return "Err(KernelError)"

    def enqueue_task(self, proc: Process, task: Task) -> bool:
        if not proc.is_alive():
            return False
        if "queue_full" in proc.adversity:
            proc.adversity.discard("queue_full")
            proc.dropped_upcall_count += 1
            return False
        if not proc.enqueue(task):
            proc.dropped_upcall_count += 1
            return False
        if self.os is not None:
            self.os.wake()
        return True

    def next_delivery(self, proc: Process) -> tuple[str, tuple[int, ...]] | None:
        """What to hand a Yielded process now: ("upcall", (fnptr, a0, a1, a2, appdata)),
        ("return", (r0, r1, r2, r3)) for a yield-wait-for, or None (stays asleep)."""
        if proc.state is State.YIELDED_FOR:
            # kernel.rs do_process, YieldedFor: remove the first task for the awaited
            # upcall wherever it is in the queue; anything else stays queued.
            i = proc.waited_task()
            if i is None:
                return None
            t = proc.queue[i]
            del proc.queue[i]
            if t.kind is TaskKind.RETURN_VALUE:
                self.emit("wait_for", proc, null=True, args=[t.arg0, t.arg1, t.arg2])
            else:
                self.emit(
                    "wait_for",
                    proc,
                    null=False,
                    fnptr=t.fnptr,
                    args=[t.arg0, t.arg1, t.arg2, t.appdata],
                )
            proc.state = State.RUNNING
            proc.wait_for = None
            return "return", (t.arg0, t.arg1, t.arg2, 0)
        while proc.state is State.YIELDED and proc.queue:
            t = proc.queue.popleft()
            if t.kind is TaskKind.FUNCTION_CALL:
                proc.state = State.RUNNING
                self.emit(
                    "function_call",
                    proc,
                    fnptr=t.fnptr,
                    args=[t.arg0, t.arg1, t.arg2, t.appdata],
                    driver=t.driver,
                    subscribe=t.subscribe,
                )
                return "upcall", (t.fnptr, t.arg0, t.arg1, t.arg2, t.appdata)
            if t.kind is TaskKind.IPC:
                ipc = self.ipc
                if ipc is not None:
                    try:
                        ipc.deliver_ipc_task(proc, t)
                    except ForgedGrant as e:  # the capsule did not catch it itself
                        self.forged_grant(e)
                    except Exception as e:  # contain any capsule bug
                        self.kernel_error(proc, "IPC delivery", e)
                        return None
                continue
            # a ReturnValue for a null upcall: discarded, the process stays asleep
            self.emit(
                "upcall_discarded",
                proc,
                driver=t.driver,
                subscribe=t.subscribe,
                args=[t.arg0, t.arg1, t.arg2],
                reason="null upcall",
            )
        return None

    # ---- life cycle -----------------------------------------------------------------

    def terminate(self, proc: Process, completion_code: int | None) -> None:
        """Tock's terminate(): empty the queue, free grants, state Terminated."""
        if not (proc.is_alive() or proc.state is State.FAULTED):
            return
        for capsule in self.capsules.values():
            capsule.terminating(proc)
        self._clear_queue(proc)
        self._release_grants(proc)
        proc.completion_code = completion_code
        proc.state = State.TERMINATED
        self.emit("terminated", proc, completion_code=completion_code)
        if self.os is not None:
            self.os.stop_os_process(proc)

    def _clear_queue(self, proc: Process) -> None:
        if proc.queue:
            lost = list(proc.queue)
            proc.queue.clear()
            for capsule in self.capsules.values():
                capsule.tasks_lost(proc, lost)

    def _release_grants(self, proc: Process) -> None:
        for capsule in self.capsules.values():
            capsule.release(proc)
        proc.grant_ptrs.clear()
        self._clear_grant_table(proc)

    def _clear_grant_table(self, proc: Process) -> None:
        """Every grant pointer entry to (driver_num 0, null), as process loading and
        terminate's `grant_ptrs_reset` do (process_standard.rs, 2.2). Nothing else of
        the block is touched: Tock zeroes neither the app's RAM nor old grant memory."""
        table = proc.mem_end - 8 * len(self.grant_numbers)
        self.ram.zero(table, 8 * len(self.grant_numbers))

    def try_restart(self, proc: Process, completion_code: int | None) -> None:
        """terminate() then reset(): a fresh identifier, Tock's memory marks, `_start`."""
        if proc.state is State.TERMINATED:
            return
        if self.os is not None:
            self.os.stop_os_process(proc)
        self._clear_queue(proc)
        for capsule in self.capsules.values():
            capsule.restarting(proc)
        self._release_grants(proc)
        proc.completion_code = completion_code
        self.reset(proc)
        if self.os is not None:
            self.os.respawn(proc)

    def start(self, proc: Process) -> bool:
        """Console `boot`: only from Terminated."""
        if proc.state is not State.TERMINATED:
            return False
        self.reset(proc)  # 2.2's start() is reset(), which raises the restart count
        if self.os is not None:
            self.os.respawn(proc)
        return True

    def reset(self, proc: Process) -> None:
        assert proc.mpu is not None
        old = proc.identifier
        proc.identifier = self.new_identifier()
        proc.syscall_count = 0
        proc.dropped_upcall_count = 0
        proc.timeslice_expirations = 0
        proc.last_call = ()
        proc.fault_reason = ""
        # Tock resets the process's own MPU config, IPC windows included, and rebuilds
        # the app region over the same block (`reset` in kernel/src/process_standard.rs, 2.2).
        self.mpu.reset_config(proc.mpu)
        k = self.initial_kernel_size
        arch_min = self.mpu.initial_app_brk_size
        self.mpu.allocate_app_memory_region(
            proc.mem_start, proc.memory_len, proc.memory_len, arch_min, k, proc.mpu
        )
        self.mpu.allocate_flash_region(
            proc.flash_start, proc.flash_end - proc.flash_start, proc.mpu
        )
        hwm = proc.allow_high_water_mark
        if self.hardened.get("zero_on_restart", False):
            # hardened: the next life starts from zeroed RAM, so neither its own old
            # heap nor the kernel's old grant memory can be read back (experiment
            # stale_grant). Tock zeroes nothing here.
            self.ram.zero(proc.mem_start, proc.memory_len)
        self._reset_memory(proc)
        proc.restart_count += 1
        proc.mpu_dirty = True
        proc.wait_for = None
        self._boot(proc)
        self.emit(
            "restart",
            proc,
            old_pid=old,
            restart_count=proc.restart_count,
            app_break=proc.app_break,
            kernel_memory_break=proc.kernel_memory_break,
            allow_high_water_mark=proc.allow_high_water_mark,
            grant_floor=self.grant_floor(proc),
            old_allow_high_water_mark=hwm,
        )

    def mpu_fault(self, proc: Process, address: int, length: int, access: int) -> None:
        """The runtime refused an access: fault with the address, kind and region table."""
        assert proc.mpu is not None
        kind = "write" if access & 2 else "execute" if access == 1 else "read"
        regions = [
            {
                "number": r.number,
                "start": r.start,
                "size": r.size,
                "perms": int(r.perms),
                "detail": r.detail,
            }
            for r in proc.mpu.regions()
        ]
        owner = next((p.name for p in self.processes if p.mem_start <= address < p.mem_end), None)
        where = f" (memory of {owner})" if owner and owner != proc.name else ""
        flash = next((p for p in self.processes if p.flash_start <= address < p.flash_end), None)
        if flash is not None:
            where = " (its own flash)" if flash is proc else f" (flash of {flash.name})"
        self.fault(
            proc,
            f"MPU fault: {kind} of {length} byte(s) at {address:#x}{where}",
            address=address,
            length=length,
            access=kind,
            regions=regions,
        )

    def fault(self, proc: Process, reason: str, **details: Any) -> None:
        """The process faulted: record why and apply its fault policy."""
        if not proc.is_alive():
            return
        proc.fault_reason = reason
        for capsule in self.capsules.values():
            capsule.faulted(proc)
        policy = proc.spec.fault_policy
        threshold = proc.spec.restart_threshold
        if (
            policy is FaultPolicy.RESTART
            and threshold is not None
            and proc.restart_count > threshold
        ):
            policy = FaultPolicy.STOP
        self.emit("fault", proc, reason=reason, policy=policy.value, **details)
        if policy is FaultPolicy.PANIC:
            proc.state = State.FAULTED
            self.panicked = f"Process {proc.name} had a fault: {reason}"
            if self.os is not None:
                self.os.panic(self.panicked)
            return
        if policy is FaultPolicy.RESTART:
            self.try_restart(proc, None)
            return
        self.terminate(proc, None)
        proc.state = State.FAULTED

    def stop(self, proc: Process) -> bool:
        if proc.state in (State.RUNNING, State.YIELDED, State.YIELDED_FOR):
            proc.stopped_from = proc.state
            proc.state = State.STOPPED
            self.emit("stopped", proc)
            return True
        return False

    def resume(self, proc: Process) -> bool:
        if proc.state is State.STOPPED:
            proc.state = proc.stopped_from or State.RUNNING
            proc.stopped_from = None
            self.emit("resumed", proc)
            if self.os is not None:
                self.os.wake()
            return True
        return False

    # ---- timers (kernel work) ---------------------------------------------------------

    def set_timer(self, deadline: float, callback: Callable[[], None], label: str = "timer") -> int:
        """Call `callback` at `deadline` (kernel clock); returns a token for cancel_timer."""
        token = next(self._timer_seq)
        heapq.heappush(self._timers, (deadline, token, label, callback))
        if self.os is not None:
            self.os.wake()
        return token

    def cancel_timer(self, token: int) -> None:
        """Forget a timer that has not fired (so re-arming never grows the heap)."""
        for i, timer in enumerate(self._timers):
            if timer[1] == token:
                self._timers[i] = self._timers[-1]
                self._timers.pop()
                heapq.heapify(self._timers)
                return

    def next_deadline(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def run_due_timers(self) -> None:
        """Fire every timer that is due. When several are due, the controlled scheduler
        may choose their order (`timer_chooser`); otherwise deadline, then FIFO."""
        now = self.clock()
        while self._timers and self._timers[0][0] <= now:
            if self.timer_chooser is not None and len(self._timers) > 1:
                due = sorted(t for t in self._timers if t[0] <= now)
                if len(due) > 1:
                    pick = due[self.timer_chooser([t[2] for t in due])]
                    self._timers.remove(pick)
                    heapq.heapify(self._timers)
                    self._fire_timer(pick[3])
                    continue
            self._fire_timer(heapq.heappop(self._timers)[3])

    def _fire_timer(self, callback: Callable[[], None]) -> None:
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


def _failed_call(cls: int, r2: int, r3: int) -> SyscallReturn:
    """FAIL, in the variant a syscall of class `cls` returns its failures in."""
    if cls == SyscallClass.SUBSCRIBE:
        return subscribe_failure(ErrorCode.FAIL, r2, r3)
    if cls in (SyscallClass.COMMAND, SyscallClass.MEMOP):
        return failure(ErrorCode.FAIL)
    return allow_failure(cls, ErrorCode.FAIL, r2, r3)
