"""Event stream -> Tock's syscall-trace text, and a JSONL writer.

Line shapes are those Tock's `trace_syscalls` feature prints (TOCK.md §8.5), in the
release-2.x form the seed's IPC bug report shows: `yield. which: 1`, memop results as
`SuccessU32(n)` in decimal, allow sizes in hex. Events that Tock does not trace (faults,
restarts, grant allocations...) format to None here, except a fault, which prints the
line Tock's debug fault policies print, with tockd's reason; they still reach the JSONL file.
"""

from __future__ import annotations

import json
import os
import time
from typing import IO, Any

from tockd.kernel.events import Event

_ALLOW = {3: "read-write allow", 4: "read-only allow", 7: "userspace readable allow"}


def format_event(ev: Event) -> str | None:
    """One Tock trace line for `ev`, or None if Tock prints nothing for it."""
    kind = ev["kind"]
    pid = ev.get("pid")
    if kind == "syscall":
        cls = ev["cls"]
        a = ev["args"]
        if cls == 0:
            return f"[{pid}] yield. which: {a[0]}"
        if cls == 5:
            return f"[{pid}] memop({a[0]}, {a[1]:#x}) = {ev['ret']}"
        if cls == 1:
            return f"[{pid}] subscribe({a[0]:#x}, {a[1]}, @{a[2]:#x}, {a[3]:#x}) = {ev['ret']}"
        if cls == 2:
            return f"[{pid}] cmd({a[0]:#x}, {a[1]}, {a[2]:#x}, {a[3]:#x}) = {ev['ret']}"
        if cls in _ALLOW:
            return f"[{pid}] {_ALLOW[cls]}({a[0]:#x}, {a[1]}, @{a[2]:#x}, {a[3]:#x}) = {ev['ret']}"
        if cls == 6:
            return f"[{pid}] exit(which: {a[0]}, completion_code: {a[1]}) = {ev['ret']}"
        return None
    if kind == "function_call":
        a = ev["args"]
        return f"[{pid}] function_call @{ev['fnptr']:#x}({_hex(a)})"
    if kind == "schedule":
        a = [*ev["args"], ev["appdata"]]
        return (
            f"[{pid}] schedule[{ev['driver']:#x}:{ev['subscribe']}] @{ev['fnptr']:#x}"
            f"({_hex(a)}) = {ev['result']}"
        )
    if kind == "schedule_invalid":
        return f"[{pid}] schedule[{ev['driver']:#x}:{ev['subscribe']}] invalid subscribe_num"
    if kind == "remove_pending_upcalls":
        return (
            f"[{pid}] remove_pending_upcalls[{ev['driver']:#x}:{ev['subscribe']}] = "
            f"{ev['removed']} upcall(s) removed"
        )
    if kind == "grant_failed":
        return f"[{pid}] {ev['text']}"
    if kind == "fault":
        # what Tock's *WithDebugFaultPolicy prints, plus the reason tockd knows
        outcome = {
            "stop": "was stopped",
            "restart": "will be restarted",
            "panic": "will panic the kernel",
        }[ev["policy"]]
        return f"[{pid}] Process {ev['name']} faulted and {outcome}: {ev['reason']}"
    if kind == "wait_for":
        a = ev["args"]
        if ev["null"]:
            return f"[{pid}] Yield-WaitFor: [NU] ({_hex(a)})"
        return f"[{pid}] Yield-WaitFor [Suppressed function_call @{ev['fnptr']:#x}] ({_hex(a)})"
    return None


def _hex(values: list[int]) -> str:
    return ", ".join(f"{v:#x}" for v in values)


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


def _default(obj: Any) -> Any:
    return str(obj)
