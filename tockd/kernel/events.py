"""The kernel's one event stream. Everything observable is an event; sinks subscribe.

Events are plain dicts with a `kind` and JSON/msgpack-friendly values, so the text
trace, the JSONL file, the control socket and the experiment checkers all read the same
thing; tockd/contract/events.py defines every kind and its fields. The kernel builds
an event only when `bus.active` is true: with no sink listening the per-syscall path
allocates nothing for observability.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tockd.contract.events import Event, EventKind

Sink = Callable[[Event], None]


def collect_console(bus: EventBus) -> list[str]:
    """A list that fills with every console text written on `bus` (subscribed without
    syscall events, so no syscall event is built for it)."""
    text: list[str] = []

    def sink(ev: Event) -> None:
        if ev["kind"] == EventKind.CONSOLE:
            text.append(ev["text"])

    bus.subscribe(sink, syscalls=False)
    return text


def console_text(events: list[Event]) -> dict[str, str]:
    """Everything each process wrote to its console, by process name."""
    out: dict[str, str] = {}
    for e in events:
        if e["kind"] == EventKind.CONSOLE:
            name = e.get("name", "")
            out[name] = out.get(name, "") + e["text"]
    return out


#: appends to a log of msgpack-encoded entries: each syscall as two, the call frame
#: `[class, r0, r1, r2, r3]` and the reply frame `[0, r0, r1, r2, r3]` (nil if none); and
#: `[pid, index]` whenever another process takes the CPU (tockd/records.py reads the
#: log). A list's `append`.
Recorder = Callable[[Any], None]


class EventBus:
    """Fan-out of kernel events to synchronous sinks, in emission order.

    Syscall events, the bulk of the stream, go only to the sinks that want them: as a
    dict to a sink subscribed with `syscalls=True`; as two log entries, the bytes of the
    call and of the reply that the daemon already holds (nothing built, nothing
    formatted), to a `record` function.
    `tracing` says whether anyone wants them at all; the kernel checks it first.
    """

    __slots__ = (
        "_sinks",
        "active",
        "only_recorder",
        "recorders",
        "seq",
        "syscall_sinks",
        "tracing",
    )

    def __init__(self) -> None:
        self._sinks: list[Sink] = []
        self.syscall_sinks: list[Sink] = []
        self.recorders: list[Recorder] = []
        self.active = False
        self.tracing = False
        #: the recorder, when it is the only taker of syscalls (the kernel's fast path)
        self.only_recorder: Recorder | None = None
        self.seq = 0

    def subscribe(
        self, sink: Sink, *, syscalls: bool = True, record: Recorder | None = None
    ) -> Callable[[], None]:
        """Add a sink for every event; with `syscalls=False` it gets no syscall events,
        and `record`, if given, gets each of them as a record instead. Returns a
        function that removes both."""
        self._sinks.append(sink)
        if syscalls:
            self.syscall_sinks.append(sink)
        if record is not None:
            self.recorders.append(record)
        self._update()

        def remove() -> None:
            for group in (self._sinks, self.syscall_sinks):
                if sink in group:
                    group.remove(sink)
            if record is not None and record in self.recorders:
                self.recorders.remove(record)
            self._update()

        return remove

    def _update(self) -> None:
        self.active = bool(self._sinks or self.recorders)
        self.tracing = bool(self.syscall_sinks or self.recorders)
        alone = len(self.recorders) == 1 and not self.syscall_sinks
        self.only_recorder = self.recorders[0] if alone else None

    def emit(self, event: Event) -> None:
        self.seq += 1
        event["seq"] = self.seq
        for sink in list(self._sinks):
            sink(event)
