"""A real sans-IO kernel for capsule unit tests, driven by syscalls on a hand-moved clock.

Each capsule is reached the way an app reaches it: `Kernel.handle_syscall` with the
registers libtock would put in r0..r3. Nothing of the kernel is mocked; only the clock
is replaced (the kernel takes any `() -> float`, tests/kernel/test_scheduler.py does the
same), so a test moves time by a number and no test depends on timing. No OS process
is started: `build_kernel` loads the apps' images but spawns nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tockd.board import build_kernel, parse_board
from tockd.kernel.abi import ErrorCode, ReturnVariant, SyscallClass
from tockd.kernel.grant import GrantSpec
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import Process, State, Task, TaskKind

#: where an app's heap ends after `Rig.app` moves its break: buffers live below it,
#: grants are allocated above it (the kernel break starts 4 KiB over mem_start)
HEAP = 0x800
#: an upcall entry point inside every app's flash (subscribe checks it is there)
FN_OFFSET = 0x100
APPDATA = 0x5EC
START_TIME = 100.0  # seconds; not 0, so a tick count of 0 means nothing special
TICKS_PER_SECOND = 1_000_000

Registers = tuple[int, int, int, int]


def ok(value: int | None = None) -> Registers:
    """A command's Success (value None) or SuccessU32(value), as r0..r3."""
    if value is None:
        return (int(ReturnVariant.SUCCESS), 0, 0, 0)
    return (int(ReturnVariant.SUCCESS_U32), value & 0xFFFF_FFFF, 0, 0)


def err(code: ErrorCode) -> Registers:
    """A command's Failure(code), as r0..r3."""
    return (int(ReturnVariant.FAILURE), int(code), 0, 0)


class Clock:
    """The kernel clock in seconds, moved only by the test."""

    def __init__(self) -> None:
        self.t = START_TIME

    def __call__(self) -> float:
        return self.t


@dataclass
class Rig:
    """One kernel, its clock, and every event it emitted."""

    kernel: Kernel
    clock: Clock
    events: list[dict[str, Any]] = field(default_factory=list)

    def app(self, index: int = 0) -> Process:
        """Process `index`, booted (its `_start` delivered) and Running, with a heap of
        HEAP bytes so that allows in RAM are possible."""
        proc = self.kernel.processes[index]
        if proc.state is State.YIELDED:
            assert self.kernel.next_delivery(proc) is not None  # _start
        proc.state = State.RUNNING
        if proc.app_break < proc.mem_start + HEAP:
            reply = self.syscall(proc, SyscallClass.MEMOP, 0, proc.mem_start + HEAP)
            assert reply == ok(), reply
        return proc

    def syscall(
        self, proc: Process, cls: int, r0: int = 0, r1: int = 0, r2: int = 0, r3: int = 0
    ) -> Registers:
        """One syscall that returns (not a yield or exit): its r0..r3."""
        out = self.kernel.handle_syscall(proc, cls, r0, r1, r2, r3)
        assert out.reply is not None, f"no reply: {proc.name} is {proc.state}"
        return out.reply

    def command(self, proc: Process, driver: int, cmd: int, a0: int = 0, a1: int = 0) -> Registers:
        return self.syscall(proc, SyscallClass.COMMAND, driver, cmd, a0, a1)

    def subscribe(self, proc: Process, driver: int, num: int, fnptr: int | None = None) -> int:
        """Subscribe upcall `num`; returns the function pointer stored."""
        fn = proc.flash_start + FN_OFFSET + 4 * num if fnptr is None else fnptr
        reply = self.syscall(proc, SyscallClass.SUBSCRIBE, driver, num, fn, APPDATA)
        assert reply[0] == ReturnVariant.SUCCESS_2_U32, reply
        return fn

    def allow_ro(self, proc: Process, driver: int, num: int, address: int, size: int) -> None:
        reply = self.syscall(proc, SyscallClass.ALLOW_RO, driver, num, address, size)
        assert reply[0] == ReturnVariant.SUCCESS_2_U32, reply

    def allow_rw(self, proc: Process, driver: int, num: int, address: int, size: int) -> None:
        reply = self.syscall(proc, SyscallClass.ALLOW_RW, driver, num, address, size)
        assert reply[0] == ReturnVariant.SUCCESS_2_U32, reply

    def put(self, proc: Process, offset: int, data: bytes) -> int:
        """Write `data` into `proc`'s RAM at mem_start + offset (the app filling a
        buffer); returns the address."""
        address = proc.mem_start + offset
        assert address + len(data) <= proc.app_break
        self.kernel.ram.write(address, data)
        return address

    def advance(self, seconds: float) -> None:
        """Move the clock, then run the kernel work that is due (as the daemon does)."""
        self.clock.t += seconds
        self.kernel.run_due_timers()

    def advance_ticks(self, ticks: int) -> None:
        self.advance(ticks / TICKS_PER_SECOND)

    def upcalls(self, proc: Process, driver: int | None = None) -> list[Task]:
        """The FunctionCall tasks queued for `proc` (of `driver`, if given)."""
        return [
            t
            for t in proc.queue
            if t.kind is TaskKind.FUNCTION_CALL and (driver is None or t.driver == driver)
        ]

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]

    def state(self, proc: Process, spec: GrantSpec) -> dict[str, int]:
        grant = self.kernel.grant_if_allocated(proc, spec)
        assert grant is not None, f"{proc.name} has no grant for {spec.driver_num:#x}"
        return grant.state()


def board(
    apps: int = 2,
    *,
    services: tuple[int, ...] = (),
    hardened: dict[str, bool] | None = None,
    rodata: tuple[str, ...] = (),
    **keys: object,
) -> str:
    """A board file: `apps` hello apps named a, b, c, ... (those in `services` declared
    IPC services; every one with the `rodata` strings in its flash), [board] `keys`, the
    [kernel.hardened] switches given."""
    lines = ["[board]", 'mpu = "ideal"']
    lines += [f"{k} = {_toml(v)}" for k, v in keys.items()]
    if hardened:
        lines += ["[kernel.hardened]"] + [f"{k} = {_toml(v)}" for k, v in hardened.items()]
    for i in range(apps):
        lines += ["[[apps]]", f'name = "{chr(ord("a") + i)}"', 'module = "apps_py.hello"']
        if i in services:
            lines.append("ipc_service = true")
        if rodata:
            lines.append("rodata = [" + ", ".join(_toml(r) for r in rodata) + "]")
    return "\n".join(lines) + "\n"


def _toml(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


@contextmanager
def make_rig(
    apps: int = 2,
    *,
    services: tuple[int, ...] = (),
    hardened: dict[str, bool] | None = None,
    rodata: tuple[str, ...] = (),
    **keys: object,
) -> Iterator[Rig]:
    """A Rig on a fresh kernel (also usable inside a hypothesis example, which must
    not share a function-scoped fixture)."""
    text = board(apps, services=services, hardened=hardened, rodata=rodata, **keys)
    kernel = build_kernel(parse_board(text))
    clock = Clock()
    kernel.clock = clock
    rig = Rig(kernel, clock)
    kernel.events.subscribe(rig.events.append, syscalls=False)
    try:
        yield rig
    finally:
        kernel.ram.close()
