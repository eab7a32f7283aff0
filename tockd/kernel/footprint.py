"""What one kernel step touches: its footprint, for the lab's reduction of schedules.

The controlled scheduler (tockd/lab/controlled.py) cuts a run into steps: a process
given the CPU until its next syscall is handled, or time passing to fire the next
timer. Two steps of different actors are *dependent* when their footprints touch one
resource in conflicting ways; swapping two adjacent independent steps changes nothing
any process or the kernel can tell apart, so exploration runs only one order of them
(tockd/lab/dpor.py). A footprint maps a resource to how it was used:

- `p<i>`: process i's memory and kernel break. Every step of process i writes it
  (its code may write any of its bytes); another step writes it when a capsule reads
  or writes i's buffers, a grant is allocated for i, or the step's process holds an
  IPC window into i's memory (its code may touch those bytes at any time);
- process i's upcall queue, in four parts, so that what commutes in a FIFO is seen
  to: `q<i>` its order (written by queueing a task, read by a yield-no-wait asking
  whether anything is queued); `q<i>.<k>` the k-th task ever queued on i (written
  when it is queued and when i takes it); `l<i>` its length (written when i takes or
  purges, read by queueing on a queue one short of full, where whether the task fits
  depends on what i took); `u<i>.<n>.<s>` i's pending upcalls of driver n, subscribe
  number s (written when one is queued, and by i subscribing to (n, s), which purges
  them). So i taking the task at its queue's head commutes with another process
  queueing one behind it, and two tasks queued on i do not commute. A yield that
  finds nothing to take touches none of them: it ends i's step (tockd/lab/
  controlled.py), and the step that later takes what was queued is ordered after
  the queueing either way;
- `g<i>.<n>`: process i's grant of driver n (its upcall slots, allows and the
  capsule's state for i): entered by i's syscalls to n and by capsule work for i;
- `d<n>`: the shared state of driver n (the console's UART, the alarm mux, the IPC
  registry and its windows): a command to it, capsule work for it at a process's
  yield or a timer of its own;
- `timers`: the kernel's pending timers. Arming one *adds* (two adds commute: the order
  in which two timers were armed never changes which fires first, their deadlines
  do); passing time to the next deadline or cancelling one writes;
- `time`: the virtual clock: read by a capsule that asks for the time, written when
  time passes;
- `*`: everything: a process ends, faults or restarts (its grants, windows and IPC
  state go in ways no finer resource describes). Dependent on every other step.

The kernel only records while `Kernel.footprint` is a dict (the controlled scheduler
sets one per step); otherwise every hook (`Kernel.touch`) is one attribute test, and
builds no name.
"""

from __future__ import annotations

#: a footprint: resource -> READ | ADD | WRITE bits
Footprint = dict[str, int]

READ = 1
ADD = 2
WRITE = 4
#: the resource every footprint conflicts with
EVERYTHING = "*"


def name(kind: str, index: int | None = None, part: int | str | None = None) -> str:
    """A resource's name: `name("q", 1)` is "q1", `name("g", 1, 0)` is "g1.0" (`part`:
    a driver number, a task's serial, an upcall id "driver.subscribe")."""
    if index is None:
        return kind
    return f"{kind}{index}" if part is None else f"{kind}{index}.{part}"


def conflicts(a: Footprint, b: Footprint) -> bool:
    """Do two steps' footprints conflict (at least one writes what the other touches,
    or one reads what the other adds to)?"""
    if EVERYTHING in a or EVERYTHING in b:
        return True
    if len(b) < len(a):
        a, b = b, a
    for resource, mode in a.items():
        other = b.get(resource)
        if other is None:
            continue
        both = mode | other
        if both & WRITE or (both & READ and both & ADD):
            return True
    return False


__all__ = [
    "ADD",
    "EVERYTHING",
    "READ",
    "WRITE",
    "Footprint",
    "conflicts",
    "name",
]
