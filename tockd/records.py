"""The packed event stream's log, and how a client reads it back into events.

A busy board makes tens of thousands of syscalls a second, and the kernel shares one
core with its apps, so whatever it does per syscall for a watcher is taken from the
apps. Building a dict per syscall, formatting its return and packing it slowed a 64-app
board by about 9%. A subscriber of the packed stream instead gets a log: per syscall the
daemon appends two byte strings it already holds, the call frame as the app sent it and
the reply frame it sends back; a log goes out as the join of its entries. The client
rebuilds from it the very event dicts the kernel's other sinks get, `ret` text
included, but without `t` (a syscall's time is not kept).

A log is a msgpack array of entries, in the order of the events they stand for:
- `[pid, index]`: the process whose syscalls follow (it has the CPU);
- `[class, r0, r1, r2, r3]` then `[0, r0, r1, r2, r3]` or nil: one syscall and its
  reply (nil for a yield, and for an exit that did not return: Tock prints `None`);
- a map: any other event, with its own `seq`;
- an integer: the `seq` of an event this subscriber did not ask for.
A log's first event has the `seq` its frame gives; each entry above is the next.

A return's text is the Debug release-2.2 prints for its `SyscallReturn` (docs/trace.md);
the Debug formatting is in tockd/contract/returns.py, below both the kernel and this
module, so that a client loads no kernel code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

# the return texts are part of the contract, shared with the kernel
from tockd.contract.events import Event, EventKind, Syscall
from tockd.contract.returns import ret_text

__all__ = ["read_log", "ret_text"]


def read_log(first: int, entries: object, names: Sequence[str]) -> list[Event]:
    """The events of a log whose first event has seq `first`; `names` maps a process
    index to its name. Raises ValueError on a log that is not well formed (an event
    entry is checked for its `seq` only: a reader uses `.get` for what it needs)."""
    if type(entries) is not list:
        raise ValueError("a log is an array of entries")
    events: list[Event] = []
    seq = first
    pid = index = -1
    name = "?"
    k, n = 0, len(entries)
    try:
        while k < n:
            entry = entries[k]
            k += 1
            kind = type(entry)
            if kind is list and len(entry) == 5:
                reply = entries[k]
                k += 1
                if reply is not None:
                    if type(reply) is not list or len(reply) != 5 or reply[0] != 0:
                        raise ValueError(f"a reply of an unknown shape: {reply!r:.40}")
                    reply = reply[1:]
                events.append(_syscall(seq, pid, index, name, entry, reply))
                seq += 1
            elif kind is list and len(entry) == 2:
                pid, index = entry
                name = names[index] if 0 <= index < len(names) else f"#{index}"
            elif kind is dict:
                if type(entry.get("seq")) is not int:
                    raise ValueError("an event without a seq")
                events.append(cast(Event, entry))
                seq = entry["seq"] + 1
            elif kind is int:
                seq = entry + 1
            else:
                raise ValueError(f"an entry of an unknown shape: {entry!r:.40}")
    except (IndexError, TypeError) as e:
        raise ValueError(f"a malformed log: {e}") from e
    return events


def _syscall(
    seq: int, pid: int, index: int, name: str, call: list[int], registers: list[int] | None
) -> Syscall:
    cls = call[0]
    ev = Syscall(
        kind=EventKind.SYSCALL,
        pid=pid,
        index=index,
        name=name,
        cls=cls,
        args=call[1:],
        seq=seq,
    )
    ret = ret_text(call, registers)
    if ret is not None:
        ev["ret"] = ret
        if registers is not None:
            ev["rv"] = registers
    return ev
