"""The kernel's one event stream. Everything observable is an event; sinks subscribe.

Events are plain dicts with a `kind` and JSON/msgpack-friendly values, so the text
trace, the JSONL file, the control socket and the experiment checkers all read the same
thing. The kernel builds an event only when `bus.active` is true: with no sink
listening the per-syscall path allocates nothing for observability.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
Sink = Callable[[Event], None]


def console_text(events: list[Event]) -> dict[str, str]:
    """Everything each process wrote to its console, by process name."""
    out: dict[str, str] = {}
    for e in events:
        if e["kind"] == "console":
            out[e["name"]] = out.get(e["name"], "") + e["text"]
    return out


class EventBus:
    """Fan-out of kernel events to synchronous sinks, in emission order."""

    __slots__ = ("_sinks", "active", "seq")

    def __init__(self) -> None:
        self._sinks: list[Sink] = []
        self.active = False
        self.seq = 0

    def subscribe(self, sink: Sink) -> Callable[[], None]:
        """Add a sink; returns a function that removes it."""
        self._sinks.append(sink)
        self.active = True

        def remove() -> None:
            if sink in self._sinks:
                self._sinks.remove(sink)
            self.active = bool(self._sinks)

        return remove

    def emit(self, event: Event) -> None:
        self.seq += 1
        event["seq"] = self.seq
        for sink in list(self._sinks):
            sink(event)
