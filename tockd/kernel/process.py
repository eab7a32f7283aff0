"""A Tock process as the kernel sees it: state, upcall queue, memory marks, counters.

Names follow `kernel/src/process.rs` and `process_standard.rs`. The OS side of a process
(pid, socket) is attached by the daemon; nothing here does I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple

from tockd.kernel.abi import UPCALL_QUEUE_CAPACITY

if TYPE_CHECKING:
    from tockd.kernel.mpu import MpuConfig


class State(Enum):
    """Process states (HEAD / release-2.2)."""

    RUNNING = "Running"
    YIELDED = "Yielded"
    YIELDED_FOR = "YieldedFor"
    STOPPED = "Stopped"
    FAULTED = "Faulted"
    TERMINATED = "Terminated"


class TaskKind(Enum):
    FUNCTION_CALL = "FunctionCall"
    RETURN_VALUE = "ReturnValue"  # an event for a null upcall: queued, then discarded
    IPC = "IPC"


class Task(NamedTuple):
    """One entry of a process's upcall queue."""

    kind: TaskKind
    driver: int
    subscribe: int
    fnptr: int = 0
    arg0: int = 0
    arg1: int = 0
    arg2: int = 0
    appdata: int = 0
    #: which of its process's tasks this is (1, 2, ... in the order queued while the
    #: lab records footprints, tockd/kernel/footprint.py; else 0); never in an event
    serial: int = 0


class FaultPolicy(Enum):
    STOP = "stop"
    RESTART = "restart"
    PANIC = "panic"


@dataclass
class AppSpec:
    """What a board file says about one app."""

    name: str  # the TBF package name
    module: str  # Python module with a main()
    ram: int = 4096  # TBF minimum_ram_size
    stack: int = 1024  # stack reserved by the runtime's crt0
    flash: int = 16 * 1024
    fault_policy: FaultPolicy = FaultPolicy.STOP
    restart_threshold: int | None = None  # None: restart forever (RestartFaultPolicy)
    ipc_service: bool = False  # declared IPC service (used by hardened uniform_errors)
    rodata: list[bytes] = field(default_factory=list)  # read-only data placed in flash
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Process:
    """Kernel state of one process slot."""

    index: int
    spec: AppSpec
    identifier: int
    state: State = State.YIELDED
    stopped_from: State | None = None
    wait_for: tuple[int, int] | None = None  # (driver, subscribe) of a yield-wait-for
    queue: deque[Task] = field(default_factory=deque)
    queued: int = 0  # tasks queued while footprints were recorded (the last `serial`)
    # memory (emulated addresses)
    mem_start: int = 0
    memory_len: int = 0
    app_break: int = 0
    kernel_memory_break: int = 0
    initial_kernel_break: int = 0
    allow_high_water_mark: int = 0
    flash_start: int = 0
    flash_end: int = 0
    flash_protected: int = 0x40  # the TBF header
    stack_top_hint: int = 0
    heap_start_hint: int = 0
    grant_ptrs: dict[int, int] = field(default_factory=dict)  # grant number -> address
    mpu: MpuConfig | None = None
    mpu_dirty: bool = True  # changed since the runtime was last told
    # counters (debug, reset on restart)
    syscall_count: int = 0
    dropped_upcall_count: int = 0
    timeslice_expirations: int = 0
    last_call: tuple[int, ...] = ()  # (class, r0, r1, r2, r3) of the last syscall
    restart_count: int = 0
    completion_code: int | None = None
    fault_reason: str = ""
    adversity: set[str] = field(default_factory=set)  # injected by a controlled run
    # OS side, owned by the daemon
    pid: int | None = None
    generation: int = 0
    os: Any = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def last_syscall(self) -> str:
        """The last syscall, as Tock's process console prints it (Rust Debug)."""
        if not self.last_call:
            return ""
        cls, r0, r1, r2, r3 = self.last_call
        names = {
            0: f"Yield {{ which: {r0} }}",
            1: f"Subscribe {{ driver_number: {r0:#x}, subdriver_number: {r1} }}",
            2: f"Command {{ driver_number: {r0:#x}, subdriver_number: {r1}, "
            f"arg0: {r2}, arg1: {r3} }}",
            5: f"Memop {{ operand: {r0}, arg0: {r1:#x} }}",
            6: f"Exit {{ which: {r0}, completion_code: {r1} }}",
        }
        return names.get(cls, f"Allow {{ class: {cls}, driver_number: {r0:#x}, number: {r1} }}")

    @property
    def mem_end(self) -> int:
        return self.mem_start + self.memory_len

    def is_alive(self) -> bool:
        """Tock's `is_running()`: upcalls may be queued, grants entered."""
        return self.state in (State.RUNNING, State.YIELDED, State.YIELDED_FOR, State.STOPPED)

    def ready(self) -> bool:
        """Tock's `ready()`: can the scheduler run this process now?"""
        if self.state is State.RUNNING:
            return True
        if self.state is State.YIELDED:
            return bool(self.queue)
        if self.state is State.YIELDED_FOR:
            # Departure: 2.2's ready() is "has any task", so a process waiting for one
            # upcall with only others queued is picked, finds nothing in do_process
            # (kernel.rs, `remove_upcall` -> None) and goes back; Tock spins so until
            # the awaited upcall comes. Those rounds change nothing but the host's CPU
            # time (round robin and MLFQ rotate a skipped process to the tail just as
            # they rotate one that ran), so tockd counts the process ready only when
            # the upcall it waits for is queued.
            return self.waited_task() is not None
        return False

    def waited_task(self) -> int | None:
        """Where in the queue the upcall a Yield-WaitFor waits for is: 2.2's
        `remove_upcall(upcall_id)` matches a FunctionCall from that driver upcall or a
        ReturnValue for it, never an IPC task (process_standard.rs)."""
        if self.wait_for is None:
            return None
        for i, t in enumerate(self.queue):
            if t.kind is not TaskKind.IPC and (t.driver, t.subscribe) == self.wait_for:
                return i
        return None

    def state_debug(self) -> str:
        """The state as Tock's console prints it (Rust Debug)."""
        if self.state is State.STOPPED:
            inner = self.stopped_from.value if self.stopped_from else "Running"
            return f"Stopped({inner})"
        if self.state is State.YIELDED_FOR and self.wait_for is not None:
            d, s = self.wait_for
            return f"YieldedFor(UpcallId {{ driver_num: {d:#x}, subscribe_num: {s} }})"
        return str(self.state.value)

    def enqueue(self, task: Task) -> bool:
        """Add a task; False (and the caller drops it) when the queue is full: Tock's
        10-slot ring buffer holds 9 (abi.UPCALL_QUEUE_CAPACITY)."""
        if len(self.queue) >= UPCALL_QUEUE_CAPACITY:
            return False
        self.queue.append(task)
        return True

    def remove_pending_upcalls(self, driver: int, subscribe: int) -> int:
        """Drop queued FunctionCalls for one upcall id (on re-subscribe). Returns how many."""
        before = len(self.queue)
        self.queue = deque(
            t
            for t in self.queue
            if not (
                t.kind is TaskKind.FUNCTION_CALL and t.driver == driver and t.subscribe == subscribe
            )
        )
        return before - len(self.queue)

    def in_ram(self, address: int, length: int) -> bool:
        """[address, address+length) inside [mem_start, app_break), no wrap-around."""
        return self.mem_start <= address and address + length <= self.app_break

    def in_flash(self, address: int, length: int) -> bool:
        return self.flash_start + self.flash_protected <= address and (
            address + length <= self.flash_end
        )
