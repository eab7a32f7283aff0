"""Event stream -> Tock's syscall-trace text, and a JSONL writer.

Line shapes are those Tock's `trace_syscalls` feature prints (TOCK.md §8.5), in the
release-2.x form the seed's IPC bug report shows: `yield. which: 1`, memop results as
`SuccessU32(n)` in decimal, allow sizes in hex. Events that Tock does not trace (faults,
restarts, grant allocations...) format to None here, except a fault, which prints the
line Tock's debug fault policies print, with tockd's reason; they still reach the JSONL file.
"""

from __future__ import annotations

import json
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
    """Writes every event as one JSON line; each line is written whole, then flushed
    in batches, so a reader never sees a torn line from a clean stop."""

    def __init__(self, path: str) -> None:
        self.file: IO[str] = open(path, "w", buffering=1 << 16)  # noqa: SIM115
        self.pending = 0

    def __call__(self, ev: Event) -> None:
        self.file.write(json.dumps(ev, separators=(",", ":"), default=_default) + "\n")
        self.pending += 1
        if self.pending >= 256:
            self.flush()

    def flush(self) -> None:
        self.file.flush()
        self.pending = 0

    def close(self) -> None:
        self.flush()
        self.file.close()


def _default(obj: Any) -> Any:
    return str(obj)
