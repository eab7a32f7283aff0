"""Syscall tracing: the `syscall` event and the recorders' log entries.

Tock has nothing like it (a board may print syscalls with `debug_syscalls`, in
kernel/src/kernel.rs, release-2.2); it is tockd's, and lives apart from dispatch so
that the dispatch path shows only Tock's rules. Nothing is built unless someone
listens (`EventBus.tracing`), which the kernel checks before calling in here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.contract import events as ev
from tockd.contract import wire
from tockd.contract.events import EventKind
from tockd.contract.returns import ret_text
from tockd.kernel.abi import FRAME_RETURN

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process

#: the log entry of a syscall that returns nothing (msgpack nil)
NO_REPLY = b"\xc0"

Registers = tuple[int, int, int, int]


def trace_syscall(kernel: Kernel, proc: Process, registers: Registers | None) -> None:
    """The `syscall` event of `proc.last_call`, returning `registers` (None: a yield,
    or an exit that did not return): as a dict to the sinks that take dicts, and to
    the recorders as two log entries, the packed call and the packed reply frame
    (tockd/records.py)."""
    bus = kernel.events
    bus.seq += 1
    if bus.recorders:
        call = wire.encode(proc.last_call)
        reply = NO_REPLY if registers is None else wire.encode((FRAME_RETURN, *registers))
        for append in bus.recorders:
            append(call)
            append(reply)
    if bus.syscall_sinks:
        _syscall_event(kernel, proc, registers)


def note_running(kernel: Kernel, proc: Process) -> None:
    """The daemon hands `proc` the CPU: the recorders' log says whose syscalls follow
    (only the running process makes syscalls, so the log names it once a quantum)."""
    key = wire.encode((proc.identifier, proc.index))
    for append in kernel.events.recorders:
        append(key)


def _syscall_event(kernel: Kernel, proc: Process, registers: Registers | None) -> None:
    call = proc.last_call
    cls = call[0]
    event = ev.Syscall(
        kind=EventKind.SYSCALL,
        t=round(kernel.clock() * 1e6),
        pid=proc.identifier,
        index=proc.index,
        name=proc.name,
        cls=cls,
        args=list(call[1:]),
    )
    ret = ret_text(call, registers)
    if ret is not None:
        event["ret"] = ret
        if registers is not None:
            event["rv"] = list(registers)
    event["seq"] = kernel.events.seq
    for sink in list(kernel.events.syscall_sinks):
        sink(event)
