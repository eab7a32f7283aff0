"""Event stream -> Tock's syscall-trace text, and a JSONL writer.

Every line has the exact shape release-2.2 prints with the `trace_syscalls` feature: one
format string per `debug!` site, named beside the function that prints it (kernel.rs,
upcall.rs and process_standard.rs at release-2.2; docs/trace.md lists them all). Return
values are the Debug text of 2.2's `SyscallReturn` (tockd/kernel/syscall.py): allow sizes
in decimal, memop results as `SuccessPtr(CapabilityPtr { ptr: 0x… })`, `SuccessAddr(n)`
or `SuccessU32(n)` per op, 64-bit values whole.

Events 2.2 does not trace (restarts, grant allocations, console output...) format to
None here and reach only the JSONL file; so does an upcall scheduled with a subscribe
number past the driver's count, which 2.2's `GrantKernelData::schedule_upcall` refuses
before `Upcall::schedule` prints anything. A fault prints the line 2.2's debug fault
policies print (capsules/system/src/process_policies.rs); its reason, which 2.2 does not
print, is on the daemon's stderr and in the JSONL file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import IO, Any

from tockd.contract import events as ev
from tockd.contract.abi import SyscallClass
from tockd.contract.events import Event, EventKind

# the name each allow class's trace line starts with (kernel.rs 1176, 1381, 1256)
_ALLOW: dict[int, str] = {
    SyscallClass.ALLOW_RW: "read-write allow",
    SyscallClass.ALLOW_RO: "read-only allow",
    SyscallClass.ALLOW_USERSPACE_READABLE: "userspace readable allow",
}
# what StopWithDebugFaultPolicy and RestartWithDebugFaultPolicy print (process_policies.rs
# 40, 62); PanicFaultPolicy prints nothing, the kernel panics (the daemon says so)
_FAULT_OUTCOME = {"stop": "was stopped", "restart": "will be restarted"}


def format_event(ev: Event) -> str | None:
    """One release-2.2 trace line for `ev`, or None if 2.2 prints nothing for it."""
    formatter = _FORMATTERS.get(ev["kind"])
    return None if formatter is None else formatter(ev)


def _syscall(e: ev.Syscall) -> str | None:
    """The line of a syscall, printed once it has been handled (kernel.rs, release-2.2)."""
    pid, cls, a = e["pid"], e["cls"], e["args"]
    if cls == SyscallClass.YIELD:  # kernel.rs:811
        return f"[{pid}] yield. which: {a[0]}"
    ret = e.get("ret")
    if cls == SyscallClass.MEMOP:  # kernel.rs:795
        return f"[{pid}] memop({a[0]}, {a[1]:#x}) = {ret}"
    if cls == SyscallClass.SUBSCRIBE:  # kernel.rs:1024
        return f"[{pid}] subscribe({a[0]:#x}, {a[1]}, @{a[2]:#x}, {a[3]:#x}) = {ret}"
    if cls == SyscallClass.COMMAND:  # kernel.rs:1051
        return f"[{pid}] cmd({a[0]:#x}, {a[1]}, {a[2]:#x}, {a[3]:#x}) = {ret}"
    if cls in _ALLOW:  # kernel.rs:1176, 1381, 1256: the size is a decimal usize
        return f"[{pid}] {_ALLOW[cls]}({a[0]:#x}, {a[1]}, @{a[2]:#x}, {a[3]}) = {ret}"
    if cls == SyscallClass.EXIT:  # kernel.rs:1429, `ret` is an Option: None or Some(..)
        return f"[{pid}] exit(which: {a[0]}, completion_code: {a[1]}) = {ret}"
    return None


def _function_call(e: ev.FunctionCall) -> str:
    """kernel.rs:612: a Yielded process is handed a queued upcall."""
    return f"[{e['pid']}] function_call @{e['fnptr']:#x}({_hex(e['args'])})"


def _schedule(e: ev.Schedule) -> str:
    """upcall.rs:174: a capsule schedules an upcall; `result` is the Debug of
    `Result<(), UpcallError>`, e.g. `Ok(())`, `Err(QueueFull)`."""
    values = [*e["args"], e["appdata"]]
    return (
        f"[{e['pid']}] schedule[{e['driver']:#x}:{e['subscribe']}] @{e['fnptr']:#x}"
        f"({_hex(values)}) = {e['result']}"
    )


def _remove_pending_upcalls(e: ev.RemovePendingUpcalls) -> str:
    """process_standard.rs:569: a subscribe drops the upcalls its old one had queued."""
    return (
        f"[{e['pid']}] remove_pending_upcalls[{e['driver']:#x}:{e['subscribe']}] = "
        f"{e['removed']} upcall(s) removed"
    )


def _grant_failed(e: ev.GrantFailed) -> str:
    """kernel.rs:989 (and 1133, 1338): a driver did not allocate the caller's grant."""
    return f"[{e['pid']}] WARN driver #{e['driver']:x} did not allocate grant"


def _wait_for(e: ev.WaitFor) -> str:
    """kernel.rs:658 (a null upcall) and 674 (a subscribed one, not run): a
    Yield-WaitFor returns the upcall's values."""
    pid, a = e["pid"], e["args"]
    if e["null"]:
        return f"[{pid}] Yield-WaitFor: [NU] ({_hex(a)})"
    return f"[{pid}] Yield-WaitFor [Suppressed function_call @{e['fnptr']:#x}] ({_hex(a)})"


def _fault(e: ev.Fault) -> str | None:
    """process_policies.rs:40, 62 (capsules/system, release-2.2): no process id, and no
    reason."""
    outcome = _FAULT_OUTCOME.get(e["policy"])
    return None if outcome is None else f"Process {e['name']} faulted and {outcome}."


def _hex(values: list[int]) -> str:
    return ", ".join(f"{v:#x}" for v in values)


# Each formatter takes its kind's TypedDict, so mypy checks the fields it reads; mypy
# cannot relate a key of this table to its value's argument type, hence `Any` there.
_FORMATTERS: dict[EventKind, Callable[[Any], str | None]] = {
    EventKind.SYSCALL: _syscall,
    EventKind.FUNCTION_CALL: _function_call,
    EventKind.SCHEDULE: _schedule,
    EventKind.REMOVE_PENDING_UPCALLS: _remove_pending_upcalls,
    EventKind.GRANT_FAILED: _grant_failed,
    EventKind.WAIT_FOR: _wait_for,
    EventKind.FAULT: _fault,
}


class TextTrace:
    """Writes Tock trace lines to a stream."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def __call__(self, ev: Event) -> None:
        line = format_event(ev)
        if line is not None:
            self.out.write(line + "\n")


class JsonlTrace:
    """Writes every event as one JSON line, in batches, so that no reader ever meets a
    torn line, even after the daemon is SIGKILLed.

    A batch (256 events, 64 KiB, or `interval_s` since the last flush, and always on
    `flush()` / `close()`) is written with one `pwrite` of whole lines: no line is ever
    split between two writes, so a kill loses at most the unflushed batch. A single
    write can still be cut short by SIGKILL, but only at a page boundary of the file:
    the kernel copies a write into the page cache page (folio) by page and checks for a
    fatal signal between them. So no line may straddle a page boundary: a line that
    would is preceded by spaces padding the previous line up to the boundary (JSON
    allows trailing whitespace, so that line still parses). When the previous line
    was written by an earlier batch, this batch starts one byte early and rewrites its
    newline as the first padding byte. Only a line longer than a page (4 KiB) must
    cross a boundary; it starts on one.
    """

    PAGE = 4096
    BATCH_EVENTS = 256
    BATCH_BYTES = 64 * 1024

    def __init__(self, path: str, *, interval_s: float = 0.5) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self.interval_s = interval_s
        self.offset = 0  # where the next batch goes (the file's length)
        self._lines: list[bytes] = []
        self._end = 0  # file offset at which the pending lines end
        self._last_flush = time.monotonic()

    @property
    def pending(self) -> int:
        return len(self._lines)

    def __call__(self, ev: Event) -> None:
        line = (json.dumps(ev, separators=(",", ":"), default=_default) + "\n").encode()
        self._add(line)
        if (
            len(self._lines) >= self.BATCH_EVENTS
            or self._end - self.offset >= self.BATCH_BYTES
            or time.monotonic() - self._last_flush >= self.interval_s
        ):
            self.flush()

    def _add(self, line: bytes) -> None:
        start = self._end
        room = -start % self.PAGE  # bytes left in the current page
        if start and room and len(line) > room:
            # pad the previous line to the page boundary; this line starts on it
            pad = b" " * room
            if self._lines:
                self._lines[-1] = self._lines[-1][:-1] + pad + b"\n"
            else:  # the previous line is on disk: rewrite its newline, then pad
                self.offset -= 1
                self._lines.append(pad + b"\n")
            start += room
        self._lines.append(line)
        self._end = start + len(line)

    def flush(self) -> None:
        """Write the pending lines (one pwrite, retried only on a short write)."""
        self._last_flush = time.monotonic()
        if not self._lines:
            return
        data = b"".join(self._lines)
        self._lines.clear()
        view = memoryview(data)
        while view:
            n = os.pwrite(self.fd, view, self.offset)
            self.offset += n
            view = view[n:]

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            self.flush()
        finally:
            os.close(self.fd)
            self.fd = -1


def _default(obj: object) -> str:
    return str(obj)
