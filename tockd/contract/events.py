"""The kernel's event schema: every kind of event, and the fields each one carries.

Everything observable on a board is an event: a dict with a `kind` and plain values
(ints, strings, lists), so the text trace, the JSONL file, the control socket, the
dashboard and the lab's checkers all read the same thing, and a client reads it without
loading kernel code. This module is the one definition of that stream: `EventKind`
names every kind, and one `TypedDict` per kind names its fields. A producer builds the
`TypedDict` (mypy checks the fields), hands it to `Kernel.emit`, and a consumer looks
kinds up by `EventKind` (a `StrEnum`, so it is equal to, and hashes as, the plain string
that arrives over msgpack or JSON). Adding an event is: a member here, a `TypedDict`
here, a producer; mypy then checks every reader of its fields.

Fields every event gets from the kernel when it is emitted (`EventBase`):

- `kind`: the `EventKind`;
- `t`: the kernel clock in microseconds (the virtual clock under the race lab);
- `seq`: the event's number on the board's stream, from 1, without gaps;
- `pid`, `index`, `name`: the Tock ProcessId, the process slot and the process name,
  for events about one process (`ProcEvent`).

Where a value is Tock's own Debug text (`result`, `ret`) it is the text release-2.2
prints (docs/trace.md).
"""

# no `from __future__ import annotations` here: the TypedDicts' annotations are
# evaluated at class creation, so `NotRequired` shows in `__required_keys__` at run time
# (tests/test_event_schema.py checks real events against them)
from enum import StrEnum
from typing import Literal, NotRequired, TypedDict


class EventKind(StrEnum):
    """Every kind of event on a board's stream."""

    # syscalls and upcalls (Tock's kernel.rs and upcall.rs print these in a trace)
    SYSCALL = "syscall"
    FUNCTION_CALL = "function_call"
    WAIT_FOR = "wait_for"
    SCHEDULE = "schedule"
    SCHEDULE_INVALID = "schedule_invalid"
    UPCALL_DROPPED = "upcall_dropped"
    UPCALL_DISCARDED = "upcall_discarded"
    REMOVE_PENDING_UPCALLS = "remove_pending_upcalls"
    # memory
    GRANT_ALLOC = "grant_alloc"
    GRANT_FAILED = "grant_failed"
    MPU_CHANGE = "mpu_change"
    # process life cycle
    SPAWN = "spawn"
    FAULT = "fault"
    TERMINATED = "terminated"
    RESTART = "restart"
    STOPPED = "stopped"
    RESUMED = "resumed"
    KERNEL_ERROR = "kernel_error"
    # the daemon's scheduler
    CONTEXT_SWITCH = "context_switch"
    PAUSED = "paused"
    RESUMED_SCHEDULER = "resumed_scheduler"
    # capsules
    CONSOLE = "console"
    BUTTON = "button"
    LED = "led"
    IPC_NOTIFY = "ipc_notify"
    IPC_HELD = "ipc_held"
    IPC_RELEASED = "ipc_released"
    IPC_DROPPED = "ipc_dropped"
    IPC_CALLEE_GRANT = "ipc_callee_grant"
    IPC_SHARE = "ipc_share"
    IPC_SHARE_REFUSED = "ipc_share_refused"
    IPC_REVOKE = "ipc_revoke"
    # the race lab
    DECISION = "decision"
    ADVERSITY = "adversity"
    INVARIANT_VIOLATION = "invariant_violation"
    # a client's placeholder for events it could not read from a damaged stream
    UNREADABLE = "unreadable"


class DecisionKind(StrEnum):
    """What the race lab's controlled scheduler asks its strategy to choose."""

    RUN = "run"  # which ready process runs next (or: advance the clock)
    SWITCH = "switch"  # continue the running process, or preempt it for another
    TIMER = "timer"  # which of several due timers fires first
    ADVERSITY = "adversity"  # none, or a stop/fault/restart of some process


class EventBase(TypedDict):
    """Fields the kernel adds to every event (`t` is absent on a syscall event that was
    rebuilt from a packed log, which records no time). Each kind's `TypedDict` adds its
    `kind`, a `Literal`, so a check of `ev["kind"]` narrows an `Event` to it."""

    t: NotRequired[int]
    seq: NotRequired[int]


class ProcEvent(EventBase):
    """An event about one process."""

    pid: NotRequired[int]
    index: NotRequired[int]
    name: NotRequired[str]


# ---- syscalls and upcalls -------------------------------------------------------------


class Syscall(ProcEvent):
    """A syscall, once handled: class, the four argument registers, and for a syscall
    that returns, the return's 2.2 Debug text and the four return registers."""

    kind: Literal[EventKind.SYSCALL]

    cls: int
    args: list[int]
    ret: NotRequired[str]
    rv: NotRequired[list[int]]


class FunctionCall(ProcEvent):
    """A Yielded process is handed a queued upcall (kernel.rs `function_call`)."""

    kind: Literal[EventKind.FUNCTION_CALL]

    fnptr: int
    args: list[int]  # r0, r1, r2, appdata
    driver: int
    subscribe: int


class WaitFor(ProcEvent):
    """A Yield-WaitFor returns with the awaited upcall; `null` if it was the null upcall
    (then `args` are its three values and there is no `fnptr`)."""

    kind: Literal[EventKind.WAIT_FOR]

    null: bool
    args: list[int]
    fnptr: NotRequired[int]


class Schedule(ProcEvent):
    """A capsule schedules an upcall; `result` is `Ok(())` or `Err(...)` as upcall.rs
    prints it."""

    kind: Literal[EventKind.SCHEDULE]

    driver: int
    subscribe: int
    fnptr: int
    args: list[int]
    appdata: int
    result: str


class ScheduleInvalid(ProcEvent):
    """An upcall scheduled with a subscribe number past the driver's count (refused
    before upcall.rs prints anything)."""

    kind: Literal[EventKind.SCHEDULE_INVALID]

    driver: int
    subscribe: int


class UpcallLost(ProcEvent):
    """An upcall that never ran: dropped (queue full, process gone...) or discarded at
    delivery (a null upcall)."""

    kind: Literal[EventKind.UPCALL_DROPPED, EventKind.UPCALL_DISCARDED]

    driver: int
    subscribe: int
    args: list[int]
    reason: str


class RemovePendingUpcalls(ProcEvent):
    """A subscribe removed the queued upcalls of the slot it replaced."""

    kind: Literal[EventKind.REMOVE_PENDING_UPCALLS]

    driver: int
    subscribe: int
    removed: int


# ---- memory -------------------------------------------------------------------------


class GrantAlloc(ProcEvent):
    """A capsule's grant was allocated below the kernel memory break."""

    kind: Literal[EventKind.GRANT_ALLOC]

    driver: int
    address: int
    size: int
    kernel_memory_break: int


class GrantFailed(ProcEvent):
    """A capsule's grant did not fit; `text` is the warning 2.2 prints."""

    kind: Literal[EventKind.GRANT_FAILED]

    driver: int
    text: str


class MpuChange(ProcEvent):
    """The app break moved (a brk or sbrk) and the MPU was reconfigured."""

    kind: Literal[EventKind.MPU_CHANGE]

    app_break: int
    reason: str


# ---- life cycle ---------------------------------------------------------------------


class Spawn(ProcEvent):
    """An OS process was started for a process: `start` is `zygote` or `cold`."""

    kind: Literal[EventKind.SPAWN]

    os_pid: int
    generation: int
    start: str


class MpuRegion(TypedDict):
    """One MPU region as the kernel configured it; `perms` is the `Permission` bits."""

    number: int
    start: int
    size: int
    perms: int
    detail: str


class MpuFaultDetails(TypedDict):
    """Where an MPU fault was: the address, the access's length and kind (`read`,
    `write`, `execute`), and the regions the MPU had set."""

    address: int
    length: int
    access: str
    regions: list[MpuRegion]


class Fault(ProcEvent):
    """A process faulted; `policy` is the fault policy applied (`stop`, `restart`,
    `panic`). An MPU fault also has the fields of `MpuFaultDetails`."""

    kind: Literal[EventKind.FAULT]

    reason: str
    policy: str
    address: NotRequired[int]
    length: NotRequired[int]
    access: NotRequired[str]
    regions: NotRequired[list[MpuRegion]]


class Terminated(ProcEvent):
    """A process ended; `completion_code` is None when it did not exit by itself."""

    kind: Literal[EventKind.TERMINATED]

    completion_code: int | None


class Restart(ProcEvent):
    """A process was restarted: a new ProcessId (`pid`), and its memory as it begins
    the new life."""

    kind: Literal[EventKind.RESTART]

    old_pid: int
    restart_count: int
    app_break: int
    kernel_memory_break: int
    allow_high_water_mark: int
    grant_floor: int
    old_allow_high_water_mark: int


class KernelError(ProcEvent):
    """A capsule raised while serving the process (a kernel bug): the process faults."""

    kind: Literal[EventKind.KERNEL_ERROR]

    during: str
    error: str


class ContextSwitch(ProcEvent):
    """The daemon hands the process the CPU for a timeslice (None: no limit)."""

    kind: Literal[EventKind.CONTEXT_SWITCH]

    timeslice_us: int | None


# ---- capsules -------------------------------------------------------------------------


class Console(ProcEvent):
    """Text a process wrote to its console."""

    kind: Literal[EventKind.CONSOLE]

    text: str


class Button(EventBase):
    """A button changed; `notified` is how many processes were told."""

    kind: Literal[EventKind.BUTTON]

    button: int
    pressed: bool
    notified: int


class Led(ProcEvent):
    """A process set an LED."""

    kind: Literal[EventKind.LED]

    led: int
    on: bool


class IpcNotify(ProcEvent):
    """A notify of `target` (a process index) as its service or its client."""

    kind: Literal[EventKind.IPC_NOTIFY]

    target: int
    role: str
    result: str


class IpcHeld(ProcEvent):
    """(hardened) A notify held until the service subscribes."""

    kind: Literal[EventKind.IPC_HELD]

    caller: int
    reason: str


class IpcReleased(ProcEvent):
    """(hardened) `count` held notifies released when the service subscribed."""

    kind: Literal[EventKind.IPC_RELEASED]

    count: int


class IpcDropped(ProcEvent):
    """A notify that will never be delivered, and why; `counted` if it was already
    counted as a dropped upcall."""

    kind: Literal[EventKind.IPC_DROPPED]

    caller: int
    role: str
    reason: str
    counted: bool


class IpcCalleeGrant(ProcEvent):
    """The IPC grant entered in the callee when a notify is delivered."""

    kind: Literal[EventKind.IPC_CALLEE_GRANT]

    caller: int
    size: int


class IpcShare(ProcEvent):
    """A buffer of `owner` mapped into this process (`ok`), or refused (`reason`)."""

    kind: Literal[EventKind.IPC_SHARE]

    owner: int
    ptr: int
    length: int
    ok: bool
    region_start: NotRequired[int]
    region_size: NotRequired[int]
    reason: NotRequired[str]


class IpcShareRefused(ProcEvent):
    """An allow to the IPC driver the MPU cannot share."""

    kind: Literal[EventKind.IPC_SHARE_REFUSED]

    target: int
    ptr: int
    length: int
    reason: str


class IpcRevoke(ProcEvent):
    """A shared window of `owner`'s memory taken back from this process."""

    kind: Literal[EventKind.IPC_REVOKE]

    owner: int
    ptr: int
    length: int
    reason: str


class Bare(ProcEvent):
    """The kinds that carry no fields of their own (process-scoped or board-wide)."""

    kind: Literal[
        EventKind.STOPPED,
        EventKind.RESUMED,
        EventKind.PAUSED,
        EventKind.RESUMED_SCHEDULER,
        EventKind.UNREADABLE,
    ]


# ---- the race lab and the daemon's scheduler ----------------------------------------


class Decision(EventBase):
    """The controlled scheduler's `step`-th choice: `choice` of `options`."""

    kind: Literal[EventKind.DECISION]

    decision: DecisionKind
    options: list[str]
    choice: int
    step: int


class Adversity(ProcEvent):
    """The lab stopped, faulted or restarted a process on purpose."""

    kind: Literal[EventKind.ADVERSITY]

    action: str


class InvariantViolation(EventBase):
    """A kernel invariant the lab checks after every step did not hold."""

    kind: Literal[EventKind.INVARIANT_VIOLATION]

    text: str


Event = (
    Syscall
    | FunctionCall
    | WaitFor
    | Schedule
    | ScheduleInvalid
    | UpcallLost
    | RemovePendingUpcalls
    | GrantAlloc
    | GrantFailed
    | MpuChange
    | Spawn
    | Fault
    | Terminated
    | Restart
    | KernelError
    | ContextSwitch
    | Console
    | Button
    | Led
    | IpcNotify
    | IpcHeld
    | IpcReleased
    | IpcDropped
    | IpcCalleeGrant
    | IpcShare
    | IpcShareRefused
    | IpcRevoke
    | Decision
    | Adversity
    | InvariantViolation
    | Bare
)
"""Any event: `ev["kind"]` tells which."""
