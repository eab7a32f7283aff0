"""Properties checked over a run's event stream, and kernel invariants checked after
every kernel step.

A property is a function `(events, kernel) -> list of violation texts`. Helpers:
`notify_delivered`, `no_faults`, `prints(name, text)`; `PROPERTIES` maps CLI names.

A run cut short by its budget (an app that never ends) is judged only by what a prefix
can show: each property's `on_prefix` (`prefix_judge`), if it has one. A fault or a
dropped notify is final once it happened; a line never printed or a notify not yet
delivered is not. A property without one says nothing about such a run.

Invariants (`check_invariants`) look at the live kernel state:
1. no allowed buffer overlaps grant (kernel) memory;
2. memory another process still maps stays below its owner's app_break (the break never
   drops below memory that is shared);
3. each process's MPU covers [mem_start, app_break) and nothing of its own grant region
   (after a restart: the MPU view matches the new break);
4. (as a property) every notify to a subscribed upcall is delivered or recorded as
   dropped with a reason;
5. no process's MPU opens memory of another process that is not currently shared with
   it (an IPC window whose owner no longer allows it is a violation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tockd.contract import events as ev
from tockd.contract.events import Event, EventKind
from tockd.kernel.abi import DriverNum
from tockd.kernel.mpu import MPU, Permission

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process

#: a property of a whole run: the run's events and the kernel at its end -> violations
Property = Callable[[list[Event], "Kernel"], list[str]]


def notify_delivered(events: list[Event], kernel: Kernel) -> list[str]:
    """Every IPC notify the kernel accepted reached a subscribed upcall (or was
    recorded as dropped: that is still a violation of this property)."""
    out = notify_dropped(events, kernel)
    accepted = sum(
        1 for e in events if e["kind"] == EventKind.IPC_NOTIFY and e["result"] == "Success"
    )
    delivered = sum(
        1
        for e in events
        if e["kind"] == EventKind.SCHEDULE
        and e["driver"] == DriverNum.IPC
        and e["fnptr"] != 0
        and e["result"] == "Ok(())"
    )
    lost = accepted - delivered - len(out)
    if lost > 0:
        out.append(f"{lost} accepted notify(s) never delivered and never recorded as dropped")
    return out


def notify_dropped(events: list[Event], kernel: Kernel) -> list[str]:
    """`notify_delivered` on a run cut short: the notifies recorded as dropped (one
    accepted and not delivered yet may still be)."""
    return [
        f"notify from process {e['caller']} to {e.get('name')} dropped: {e['reason']}"
        for e in events
        if e["kind"] == EventKind.IPC_DROPPED
    ]


def no_faults(events: list[Event], kernel: Kernel) -> list[str]:
    return [
        f"{e.get('name')} faulted: {e['reason']}" for e in events if e["kind"] == EventKind.FAULT
    ]


def prints(name: str, text: str) -> Property:
    def check(events: list[Event], kernel: Kernel) -> list[str]:
        out = "".join(
            e["text"] for e in events if e["kind"] == EventKind.CONSOLE and e.get("name") == name
        )
        return [] if text in out else [f"{name} never printed {text!r}"]

    check.__name__ = f"prints({name!r}, {text!r})"
    return check


def lines_intact(events: list[Event], kernel: Kernel) -> list[str]:
    """Every console line that reports a message ("X says ...") holds exactly one."""
    bad = []
    for e in events:
        if e["kind"] == EventKind.CONSOLE:
            bad += [
                f"{e.get('name')} printed a mixed line: {line!r}"
                for line in e["text"].splitlines()
                if line.count(" says ") > 1
            ]
    return bad


def prefix_judge(prop: Property) -> Property | None:
    """How `prop` judges a run cut short: its `on_prefix` attribute, or None (it says
    nothing about such a run)."""
    judge: Property | None = getattr(prop, "on_prefix", None)
    return judge


# what a prefix of a run can already show (a fault or a mixed line is final)
notify_delivered.on_prefix = notify_dropped  # type: ignore[attr-defined]
no_faults.on_prefix = no_faults  # type: ignore[attr-defined]
lines_intact.on_prefix = lines_intact  # type: ignore[attr-defined]

PROPERTIES: dict[str, Property] = {
    "notify-delivered": notify_delivered,
    "no-faults": no_faults,
    "lines-intact": lines_intact,
}


def resolve(names: list[str]) -> list[Property]:
    """Properties by CLI name; `prints:NAME:TEXT` for prints()."""
    out = []
    for n in names:
        if n.startswith("prints:"):
            _, name, text = n.split(":", 2)
            out.append(prints(name, text))
        elif n in PROPERTIES:
            out.append(PROPERTIES[n])
        else:
            known = ", ".join([*PROPERTIES, "prints:NAME:TEXT"])
            raise ValueError(f"unknown property {n!r} (known: {known})")
    return out


class InvariantWatch:
    """Checks the invariants after every kernel step: hand `after_step` to the Daemon
    (its `after_step` hook); `seen` collects each distinct violation (also emitted as
    an `invariant_violation` event)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        #: what `check_invariants` keeps between steps (see there)
        self.memo: dict[int, tuple[object, list[str]]] = {}

    def after_step(self, kernel: Kernel) -> None:
        for v in check_invariants(kernel, self.memo):
            if v not in self.seen:
                self.seen.append(v)
                kernel.emit(ev.InvariantViolation(kind=EventKind.INVARIANT_VIOLATION, text=v))


def check_invariants(
    kernel: Kernel, memo: dict[int, tuple[object, list[str]]] | None = None
) -> list[str]:
    """The kernel invariants (see the module docstring) on the current state.

    `memo`, kept by the caller from one step to the next: each process's MPU verdict
    (invariant 3) with the values it was computed from, given again while they are the
    same (they change only when a break moves or a window opens or closes)."""
    out: list[str] = []
    procs = kernel.processes
    ipc = kernel.capsules.get(DriverNum.IPC)
    # the capsules whose grants hold allowed buffers (the others have no slot to look at)
    allowing = [
        c.grant_spec
        for c in kernel.capsules.values()
        if c.grant_spec.allow_ro or c.grant_spec.allow_rw
    ]
    mpu = kernel.mpu
    pure_check = type(mpu).check is MPU.check  # a verdict that is a function of the ranges
    for p in procs:
        if not p.is_alive() or p.mpu is None:
            continue
        # 1. allowed buffers never overlap grant memory
        for spec in allowing:
            grant = kernel.grant_if_allocated(p, spec)
            if grant is None:
                continue
            for ptr, length in grant.raw_allows():
                if length and ptr < p.mem_end and ptr + length > p.kernel_memory_break:
                    out.append(
                        f"{p.name}: allowed buffer {ptr:#x}+{length} overlaps its grant "
                        f"memory (kernel_memory_break {p.kernel_memory_break:#x})"
                    )
        # 3. the MPU covers the break and none of the grant region
        ranges = mpu.accessible_ranges(p.mpu)
        key = (
            tuple(ranges),
            p.mem_start,
            p.app_break,
            p.mem_end,
            p.kernel_memory_break,
            p.name,
        )
        kept = memo.get(p.index) if memo is not None and pure_check else None
        if kept is not None and kept[0] == key:
            out.extend(kept[1])
            continue
        found: list[str] = []
        if p.app_break > p.mem_start and not mpu.check(
            p.mpu, p.mem_start, p.app_break - p.mem_start, Permission.READ_WRITE
        ):
            found.append(f"{p.name}: MPU does not cover [mem_start, app_break)")
        for start, end, _perms in ranges:
            if start < p.mem_end and end > p.kernel_memory_break and _own(p, start, end):
                found.append(f"{p.name}: MPU opens its own grant memory {start:#x}..{end:#x}")
        if memo is not None and pure_check:
            memo[p.index] = (key, found)
        out.extend(found)
    # 2 and 5: IPC windows
    for w in getattr(ipc, "windows", []):
        owner, holder = procs[w.owner], procs[w.holder]
        if not holder.is_alive():
            continue
        shared_now = False
        if owner.is_alive() and ipc is not None:
            grant = kernel.grant_if_allocated(owner, ipc.grant_spec)
            if grant is not None:
                ptr, length = grant.raw_allow_rw(holder.index)
                shared_now = length > 0 and ptr <= w.ptr and w.ptr + w.length <= ptr + length
        if not shared_now:
            out.append(
                f"{holder.name}'s MPU opens {w.ptr:#x}+{w.length} of {owner.name}, "
                f"which {owner.name} no longer shares with it"
            )
        if w.ptr + w.length > owner.app_break:
            out.append(
                f"{owner.name}: app_break {owner.app_break:#x} dropped below memory "
                f"{holder.name} still maps ({w.ptr:#x}+{w.length})"
            )
    return out


def _own(p: Process, start: int, end: int) -> bool:
    return bool(p.mem_start <= start < p.mem_end)
