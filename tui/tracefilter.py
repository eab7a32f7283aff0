"""The trace pane's filter (by process and by driver) and one-line event text."""

from __future__ import annotations

from dataclasses import dataclass

from tockd.contract.events import Event, EventKind
from tockd.trace import format_event
from tockd.tui.board import Board

_SYSCALL_DRIVER_CLASSES = (1, 2, 3, 4, 7)


def event_driver(ev: Event) -> int | None:
    """The driver number an event is about, if any."""
    if ev["kind"] == EventKind.SYSCALL:
        if ev.get("cls") in _SYSCALL_DRIVER_CLASSES:
            return int(ev["args"][0])
        return None
    driver = ev.get("driver")
    return int(driver) if type(driver) is int else None


@dataclass(frozen=True)
class TraceFilter:
    """Which trace lines to show: any of `processes` and any of `drivers` (empty: all).

    Syntax (space or comma separated): `p:NAME` or `p:N` (a name substring or the Tock
    process id the trace prints in brackets), `d:0x2` or `d:led` (a driver number or
    capsule name); a bare word is a process.
    """

    processes: tuple[str, ...] = ()
    drivers: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TraceFilter:
        procs: list[str] = []
        drivers: list[str] = []
        for token in text.replace(",", " ").split():
            key, sep, value = token.partition(":")
            if not sep:
                key, sep, value = token.partition("=")
            if not sep:
                procs.append(token)
                continue
            if not value:
                raise ValueError(f"{token!r}: nothing after {sep!r}")
            key = key.lower()
            if key in ("p", "proc", "process", "pid", "app"):
                procs.append(value)
            elif key in ("d", "drv", "driver"):
                drivers.append(value)
            else:
                raise ValueError(f"{token!r}: use p:PROCESS or d:DRIVER")
        for d in drivers:
            _parse_int(d)  # a name is fine too; only a malformed number is refused
        return cls(tuple(procs), tuple(drivers))

    @property
    def active(self) -> bool:
        return bool(self.processes or self.drivers)

    def describe(self) -> str:
        parts = [f"p:{p}" for p in self.processes] + [f"d:{d}" for d in self.drivers]
        return " ".join(parts)

    def compile(self, board: Board) -> Matcher:
        return Matcher(self, board)


def _parse_int(text: str) -> int | None:
    try:
        return int(text, 0)
    except ValueError:
        if text[:1].isdigit():
            raise ValueError(f"{text!r} is not a number") from None
        return None


class Matcher:
    """A filter resolved against one board's names, for a fast per-event test."""

    __slots__ = ("drivers", "indices", "pids", "wants_all")

    def __init__(self, flt: TraceFilter, board: Board) -> None:
        self.wants_all = not flt.active
        self.pids: set[int] = set()
        self.indices: set[int] | None = None
        if flt.processes:
            self.indices = set()
            for token in flt.processes:
                number = _parse_int(token) if token[:1].isdigit() else None
                if number is not None:
                    self.pids.add(number)
                    continue
                low = token.lower()
                self.indices |= {p.index for p in board.procs if low in p.name.lower()}
        self.drivers: set[int] | None = None
        if flt.drivers:
            self.drivers = set()
            for token in flt.drivers:
                number = _parse_int(token)
                if number is not None:
                    self.drivers.add(number)
                else:
                    low = token.lower()
                    self.drivers |= {d for d, n in board.capsules.items() if low in n.lower()}

    def __call__(self, ev: Event) -> bool:
        if self.wants_all:
            return True
        if self.indices is not None and not (
            ev.get("index") in self.indices or ev.get("pid") in self.pids
        ):
            return False
        return self.drivers is None or event_driver(ev) in self.drivers


def describe_event(ev: Event) -> str:
    """One line for any event: Tock's trace line if it has one, else kind and fields."""
    line = format_event(ev)
    if line is not None:
        return line
    skip = {"kind", "t", "seq", "pid", "index", "name"}
    fields = " ".join(f"{k}={v}" for k, v in ev.items() if k not in skip)
    pid = ev.get("pid")
    who = "" if pid is None else f"[{pid}] "
    return f"{who}{ev['kind']} {fields}".rstrip()
