"""The control socket's ops: one small handler per op, in one table (`OPS`).

The table says, for each op, whether it only reads or commands:

- a `Query` reads the board and is answered at once, between two kernel steps (the
  server runs in the daemon's trio loop, so the kernel is never mid-step); a read-only
  connection may send it;
- a `Command` changes the board: its `prepare` checks the request where the server
  runs, and returns the action, which runs inside the kernel loop (`Daemon.post`),
  the one place that mutates the kernel; a read-only connection may not send it;
- a `Session` op changes the connection itself (`subscribe`, `readonly`): the
  server's session loop answers it (tockd/control.py).

The process commands are Tock's process console's (capsules/core/src/process_console.rs,
release-2.2): `stop`, `start` (its resume), `fault`, `terminate` and `boot`, with its
reply texts; `restart` is tockd's own (it asks the kernel what a fault with the restart
policy would do, `Process::try_restart` in kernel/src/process.rs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import trio

from tockd.capsules.button import Button
from tockd.capsules.console import Console
from tockd.contract.abi import DriverNum
from tockd.contract.control import (
    BoardInfo,
    GrantsResult,
    IpcView,
    MemoryMap,
    ProcessRow,
    ReplayView,
    SchedInfo,
    Snapshot,
)
from tockd.contract.events import Bare, EventKind
from tockd.control_views import (
    board_info,
    capsule_names,
    grant_rows,
    ipc_description,
    memory_map,
    process_row,
    replay_view,
    sched_info,
    snapshot,
)
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import Process, State

if TYPE_CHECKING:
    from tockd.daemon import Daemon

#: a request the server has checked is a map with a string "op"
Request = dict[str, object]
#: what a command does inside the kernel loop; its return value is the reply's result
Action = Callable[[], object]
#: how long a command waits for the kernel loop to run its action (s)
KERNEL_ANSWER_S = 10


class ControlError(Exception):
    """A request the daemon refuses; the message is the error reply's text."""


@dataclass(frozen=True, slots=True)
class Query:
    """An op that only reads: `answer` gives the result (allowed read-only)."""

    name: str
    answer: Callable[[Daemon, Request], object]


@dataclass(frozen=True, slots=True)
class Command:
    """An op that changes the board: `prepare` checks the request and returns the
    action to run in the kernel loop (refused on a read-only connection)."""

    name: str
    prepare: Callable[[Daemon, Request], Action]


@dataclass(frozen=True, slots=True)
class Session:
    """An op that changes the connection; the session loop answers it."""

    name: str


Op = Query | Command | Session


# ---- arguments ----------------------------------------------------------------------


def find_process(daemon: Daemon, req: Request, field: str = "name") -> Process:
    """The process `req[field]` names, by name or by index."""
    name = req.get(field)
    kernel = daemon.kernel
    if type(name) is int:
        if 0 <= name < len(kernel.processes):
            return kernel.processes[name]
        raise ControlError(f"no process at index {name}")
    if type(name) is not str:
        raise ControlError(f"{field!r} must be a process name or index")
    proc = kernel.find(name)
    if proc is None:
        names = ", ".join(p.name for p in kernel.processes)
        raise ControlError(f"no process named {name!r} (processes: {names})")
    return proc


# ---- queries ------------------------------------------------------------------------


def _ping(daemon: Daemon, req: Request) -> str:
    return "pong"


def _ps(daemon: Daemon, req: Request) -> list[ProcessRow]:
    return [process_row(daemon, p) for p in daemon.kernel.processes]


def _info(daemon: Daemon, req: Request) -> BoardInfo:
    return board_info(daemon)


def _mem(daemon: Daemon, req: Request) -> MemoryMap:
    return memory_map(daemon, find_process(daemon, req))


def _sched(daemon: Daemon, req: Request) -> SchedInfo:
    return sched_info(daemon)


def _ipc(daemon: Daemon, req: Request) -> IpcView:
    description = ipc_description(daemon)
    if description is None:
        raise ControlError("this board has no IPC capsule")
    return description


def _replay(daemon: Daemon, req: Request) -> ReplayView:
    view = replay_view(daemon)
    if view is None:
        raise ControlError("this board follows no schedule (tockd replay FILE --tui does)")
    return view


def _grants(daemon: Daemon, req: Request) -> GrantsResult:
    return {
        "capsules": capsule_names(daemon),
        "processes": [
            {"index": p.index, "name": p.name, "grants": grant_rows(daemon, p)}
            for p in daemon.kernel.processes
        ],
    }


def _snapshot(daemon: Daemon, req: Request) -> Snapshot:
    """`mem`: "all", or the index or name of one process, or absent: which memory maps
    to include."""
    which = req.get("mem")
    if which is None:
        maps = []
    elif which == "all":
        maps = list(daemon.kernel.processes)
    else:
        maps = [find_process(daemon, req, "mem")]
    return snapshot(daemon, maps)


# ---- commands on the scheduler and the board's inputs ----------------------------------


def _set_paused(daemon: Daemon, paused: bool) -> Action:
    def action() -> bool:
        daemon.paused = paused
        if paused:
            daemon.kernel.emit(Bare(kind=EventKind.PAUSED))
        else:
            daemon.kernel.emit(Bare(kind=EventKind.RESUMED_SCHEDULER))
        return daemon.paused

    return action


def _pause(daemon: Daemon, req: Request) -> Action:
    return _set_paused(daemon, True)


def _resume(daemon: Daemon, req: Request) -> Action:
    return _set_paused(daemon, False)


def _step(daemon: Daemon, req: Request) -> Action:
    """Let `count` more decisions (syscalls or upcalls) happen while paused."""
    count = req.get("count", 1)
    if type(count) is not int or count < 1:
        raise ControlError("step needs a positive integer 'count'")

    def action() -> int:
        if not daemon.paused:
            raise ControlError("step: pause the scheduler first")
        daemon.steps += count
        daemon.wake()
        return daemon.decisions

    return action


def _button(daemon: Daemon, req: Request) -> Action:
    index, pressed = req.get("index"), req.get("pressed", True)
    if type(index) is not int or type(pressed) is not bool:
        raise ControlError("button needs an integer 'index' and a bool 'pressed'")
    button = daemon.kernel.capsules.get(DriverNum.BUTTON)
    if not isinstance(button, Button):
        raise ControlError("this board has no buttons")

    def action() -> int:
        try:
            return button.set_button(index, pressed)
        except ValueError as e:
            raise ControlError(str(e)) from None

    return action


def _console(daemon: Daemon, req: Request) -> Action:
    proc = find_process(daemon, req)
    text = req.get("text")
    if type(text) is not str:
        raise ControlError("console needs a string 'text'")
    console = daemon.kernel.capsules.get(DriverNum.CONSOLE)
    if not isinstance(console, Console):
        raise ControlError("this board has no console")

    def action() -> int:
        console.feed_input(proc, text.encode())
        return len(text)

    return action


# ---- commands on one process (the process console's) ---------------------------------

#: what a process command does to the kernel and its process; returns the reply text
ProcessAct = Callable[[Kernel, Process], str]


def _on_process(act: ProcessAct) -> Callable[[Daemon, Request], Action]:
    """A command's `prepare` that finds the process `name` names, then acts on it."""

    def prepare(daemon: Daemon, req: Request) -> Action:
        proc = find_process(daemon, req)
        return lambda: act(daemon.kernel, proc)

    return prepare


def _stop(kernel: Kernel, proc: Process) -> str:
    if kernel.stop(proc):
        return f"Process {proc.name} stopped"
    return f"{proc.name} is {proc.state_debug()}"


def _start(kernel: Kernel, proc: Process) -> str:
    if kernel.resume(proc):
        return f"Process {proc.name} resumed."
    return f"{proc.name} is not stopped"


def _boot(kernel: Kernel, proc: Process) -> str:
    if not kernel.start(proc):
        raise ControlError(f"{proc.name} is {proc.state_debug()}; boot needs Terminated")
    return f"Process {proc.name} booted"


def _fault(kernel: Kernel, proc: Process) -> str:
    if not proc.is_alive():
        raise ControlError(f"{proc.name} is {proc.state_debug()}")
    kernel.fault(proc, "faulted from the process console")
    return f"Process {proc.name} now faulted"


def _terminate(kernel: Kernel, proc: Process) -> str:
    if proc.state is State.TERMINATED:  # nothing to do: say so, not "terminated"
        raise ControlError(f"{proc.name} is already {proc.state_debug()}")
    kernel.terminate(proc, None)
    return f"Process {proc.name} terminated"


def _restart(kernel: Kernel, proc: Process) -> str:
    if proc.state is State.TERMINATED:
        kernel.start(proc)
    else:
        kernel.try_restart(proc, None)
    return f"Process {proc.name} restarted"


# ---- the table --------------------------------------------------------------------------

#: every op, by name: queries first, then commands (the order an unknown op's error
#: lists them in)
OPS: Final[dict[str, Op]] = {
    op.name: op
    for op in (
        Query("ps", _ps),
        Query("info", _info),
        Query("mem", _mem),
        Query("sched", _sched),
        Query("grants", _grants),
        Query("snapshot", _snapshot),
        Query("ipc", _ipc),
        Session("subscribe"),
        Session("readonly"),
        Query("ping", _ping),
        Query("replay", _replay),
        Command("stop", _on_process(_stop)),
        Command("start", _on_process(_start)),
        Command("boot", _on_process(_boot)),
        Command("fault", _on_process(_fault)),
        Command("terminate", _on_process(_terminate)),
        Command("restart", _on_process(_restart)),
        Command("button", _button),
        Command("console", _console),
        Command("pause", _pause),
        Command("resume", _resume),
        Command("step", _step),
    )
}


async def answer(daemon: Daemon, op: Op, req: Request) -> object:
    """The result of one valid request; ControlError if the daemon refuses it."""
    if isinstance(op, Query):
        return op.answer(daemon, req)
    if isinstance(op, Command):
        return await in_kernel(daemon, op.prepare(daemon, req))
    raise ControlError(f"{op.name}: the connection answers it, not a handler")


async def in_kernel(daemon: Daemon, action: Action) -> object:
    """Run `action` inside the kernel loop and wait for its result."""
    done = trio.Event()
    box: list[tuple[bool, object]] = []

    def work() -> None:
        try:
            box.append((True, action()))
        except ControlError as e:
            box.append((False, e))
        done.set()

    daemon.post(work)
    with trio.move_on_after(KERNEL_ANSWER_S):
        await done.wait()
    if not box:
        raise ControlError(f"the kernel did not answer in {KERNEL_ANSWER_S} s")
    succeeded, value = box[0]
    if not succeeded:
        assert isinstance(value, ControlError)
        raise value
    return value
