"""The `controlled` scheduler: every choice a run could take differently is a decision.

Decision points (each recorded as a Decision, so the schedule replays the run):

- run: which ready process runs next, or whether time passes first ("advance") so the
  next timer fires (a UART write completing, an alarm) before anyone runs. A process
  whose slice ended (it computed `STEP_CPU_S` of CPU time, or waited `STEP_BLOCKED_S`
  in the host OS, without a syscall: the lab's watch, tockd/lab/run.py) is offered
  only when nothing else can happen;
- switch: after each syscall of the running process (a yield too, when something is
  queued for it: Tock's do_process asks `continue_process` at the top of every turn of
  its loop, before it takes a task), whether it keeps the CPU, another
  ready process takes it (preemption counted in syscalls, not wall time), or time
  passes first so the next timer fires ("advance", as a timer interrupt would);
- timer: which of several timers due at the same instant fires first;
- adversity (only with `adversity=True`): fault or restart a process, make its next
  grant allocation fail, or make its upcall queue look full, at a scheduling point.

Time is virtual and belongs to the schedule (since `timers="decided"`; the default,
`"yields-decided"`, keeps that rule and adds the switch after a yield above): it stands
still while processes compute and make syscalls, and moves only to the next timer's
deadline, which then fires, either at an "advance" decision or when no process is ready
(then nothing else could happen, so it is no choice). A timer never fires behind the
schedule's back, so a syscall depends on a timer only through what the timer's callback
touches, as for any other step (what exploration's reduction needs, issue 16). Schedules
of version 1 were recorded under the older rule, `timers="implicit"`: the clock moved by
`syscall_cost_us` per syscall and the daemon fired every timer the clock had passed;
`tockd replay` runs them under that rule, so they replay as recorded
(tockd/lab/shrink.py). Schedules of version 2 (`timers="decided"`) were recorded when
a process that yielded with something queued took it at once, with no switch decision;
they replay under that rule too. Apps read time only from the kernel (the runtime maps
Python's clocks to the alarm driver in controlled runs), so a run is a function of its
schedule. Pausing does not change it: a paused daemon keeps the running process on the
CPU until the next step (tockd/daemon/loop.py), so a run stepped in the dashboard takes
the same decisions as one never paused; a board that follows a schedule file is
tockd/lab/follow.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from tockd.contract import events as ev
from tockd.contract.control import ReplayView
from tockd.contract.events import DecisionKind, EventKind
from tockd.kernel.abi import DriverNum, SyscallClass
from tockd.kernel.footprint import EVERYTHING, WRITE, Footprint
from tockd.kernel.scheduler import Scheduler, StoppedReason, register_scheduler
from tockd.lab.steps import ADVERSITY, TIME, Step
from tockd.lab.strategy import Decision, RandomWalk, Strategy

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process
    from tockd.kernel.timers import TimerChooser

ADVERSITIES = ("fault", "restart", "grant_fail", "queue_full")
#: timers fire only at the schedule's decisions, and a process that yields with work
#: queued for it keeps the CPU only if a switch decision says so (schedule version 3,
#: the default)
YIELDS_DECIDED = "yields-decided"
#: timers fire only at decisions; a yield that finds work takes it at once (version 2)
TIMERS_DECIDED = "decided"
#: the clock moves per syscall and due timers fire on their own (schedule version 1)
TIMERS_IMPLICIT = "implicit"
#: the rules a run's schedule may be recorded under, newest first
TIMER_RULES = (YIELDS_DECIDED, TIMERS_DECIDED, TIMERS_IMPLICIT)


class VirtualClock:
    """Seconds of virtual time; only the controlled scheduler moves it."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def advance_to(self, t: float) -> None:
        self.t = max(self.t, t)

    def tick(self, seconds: float) -> None:
        self.t += seconds


class ControlledScheduler(Scheduler):
    """Takes every scheduling choice from a strategy and records it."""

    name = "controlled"
    virtual: ClassVar[bool] = True

    def __init__(
        self,
        kernel: Kernel,
        strategy: Strategy | None = None,
        *,
        adversity: bool = False,
        syscall_cost_us: int = 10,
        max_decisions: int = 20_000,
        max_steps: int | None = None,
        timers: str = YIELDS_DECIDED,
        keep_steps: bool = False,
    ) -> None:
        """`max_decisions`: past that many, the first option is taken without asking
        the strategy. `max_steps`: the lab's budget of a run; once that many steps are
        taken, or the decisions run out, the scheduler is `spent` and the board stops
        (an app that never ends must not keep a sweep waiting). None: no budget (a
        board run under this scheduler goes on as long as its apps do). `keep_steps`:
        keep every step in `steps` (the lab reads them once the run is over; a board
        that runs for days must not keep one per syscall)."""
        super().__init__(kernel)
        if timers not in TIMER_RULES:
            raise ValueError(f"timers must be one of {', '.join(TIMER_RULES)}, not {timers!r}")
        self.timers = timers
        self.decides_timers = timers != TIMERS_IMPLICIT
        self.decides_yields = timers == YIELDS_DECIDED
        self.strategy: Strategy = strategy or RandomWalk(kernel.seed)
        self.adversity = adversity
        self.syscall_cost = syscall_cost_us / 1e6
        self.max_decisions = max_decisions
        self.max_steps = max_steps
        #: why the budget ran out ("" while it has not): the record's `cut`
        self.cut = ""
        self.decisions: list[Decision] = []
        self.clock = VirtualClock()
        self._forced: Process | None = None
        #: processes whose slice ended without a syscall (`result`): each waits while
        #: anything else can happen, so one that computes (or waits in the host OS)
        #: without end holds up nobody
        self._behind: set[int] = set()
        self.exhausted = False
        #: the schedule file this run follows (tockd/lab/follow.py) as the control
        #: socket's `replay` op shows it; None for a run that follows none
        self.follows: Callable[[], ReplayView] | None = None
        #: the run cut into steps with their footprints (tockd/lab/steps.py), if kept
        self.steps: list[Step] = []
        self.keep_steps = keep_steps
        self.taken = 0  # steps taken, kept or not
        #: the step under way: actor, node, footprint, decisions before it
        self._step: tuple[str, int, Footprint, int] | None = None
        self._chosen = -1  # the decision that chose the next step of a process, if any
        self.node = -1

    # ---- decisions ----------------------------------------------------------------------

    def decide(self, kind: DecisionKind, options: list[str]) -> int:
        """Ask the strategy to pick one of `options`, and record the decision.
        `self.node` is then its index, -1 when there was nothing to decide."""
        self.node = -1
        if len(options) == 1:
            return 0
        if len(self.decisions) >= self.max_decisions:
            self.exhausted = True
            if self.max_steps is not None and not self.spent:
                self.spend(f"the board had not ended after {self.max_decisions:,} decisions")
            return 0
        choice = self.strategy.choose(kind, options, len(self.decisions) + 1)
        if not 0 <= choice < len(options):
            raise ValueError(f"strategy chose {choice} of {len(options)} options")
        self.decisions.append(Decision(kind, list(options), choice))
        self.node = len(self.decisions) - 1
        self.kernel.emit(
            ev.Decision(
                kind=EventKind.DECISION,
                decision=kind,
                options=options,
                choice=choice,
                step=len(self.decisions),
            )
        )
        return choice

    def _choose_timer(self, labels: list[str]) -> int:
        return self.decide(DecisionKind.TIMER, labels)

    # ---- Scheduler interface ------------------------------------------------------------

    def spend(self, why: str) -> None:
        """The run's budget is spent (`why`: the record's `cut`): the board stops."""
        self.spent = True
        self.cut = why

    def next(self) -> tuple[Process, int | None] | None:
        if self.spent:
            return None
        kernel = self.kernel
        # a loop, not recursion: a strategy may let time pass many times; each pass is a
        # scheduling point of its own (adversity offered again, as it always was)
        while True:
            if self.adversity:
                self._maybe_adversity()
            forced, self._forced = self._forced, None
            if forced is not None and forced.ready():
                self._begin(str(forced.index), self._chosen)
                return forced, None
            deadline = kernel.next_deadline()
            ready = self._runnable(deadline is not None)
            options = [f"run {p.index}" for p in ready]
            if deadline is not None and ready:
                options.append(self._advance_label(deadline))
            if not options:
                return None
            pick = self.decide(DecisionKind.RUN, options)
            node = self.node
            if pick < len(ready):
                self._behind.discard(ready[pick].index)
                self._begin(str(ready[pick].index), node)
                return ready[pick], None
            self._advance(node)  # let time pass: the next timer fires first

    def _runnable(self, timer: bool, but: Process | None = None) -> list[Process]:
        """The ready processes (but `but`) the scheduler may choose: one whose slice
        ended waits while another is ready or a `timer` is pending."""
        ready = [p for p in self.kernel.processes if p.ready() and p is not but]
        if not self._behind:  # every syscall asks: the usual case costs nothing more
            return ready
        ahead = [p for p in ready if p.index not in self._behind]
        return ahead if ahead or timer else ready

    def continue_process(self, proc: Process) -> bool:
        self._end(proc)
        if self.spent:
            return False
        if not self.decides_timers:
            self.clock.tick(self.syscall_cost)
        while True:  # a timer interrupt fires, then the choice is taken again
            deadline = self.kernel.next_deadline() if self.decides_timers else None
            others = self._runnable(True, proc)  # never one whose slice ended
            if not others and deadline is None:
                self._begin(str(proc.index), -1)
                return True
            options = [f"continue {proc.index}", *(f"preempt {p.index}" for p in others)]
            if deadline is not None:
                options.append(self._advance_label(deadline))
            pick = self.decide(DecisionKind.SWITCH, options)
            node = self.node
            if pick == 0:
                self._begin(str(proc.index), node)
                return True
            if pick <= len(others):
                self._forced = others[pick - 1]
                self._chosen = node
                return False
            self._advance(node)  # `proc` keeps the CPU

    def yielded(self, proc: Process) -> bool:
        """A yield ends the process's step whether or not it blocks: taking what is
        queued is a step of its own. When something is queued, Tock's do_process asks
        the scheduler whether the process goes on before it takes it (as after any
        syscall), and so does this one: a switch decision. So the step that makes the
        yield is the same whether an upcall for it was queued just before or just
        after, and commutes with the step that queued it; and in both runs the step
        that takes the upcall comes after that one, at a decision, so whatever others
        do between the two can be put before the take in either. (Under the rule of
        schedule version 2 the take followed at once, with no decision: then a yield
        that found its upcall and one that waited for it led to different runs,
        which the search took for one; tests/lab/test_search_model.py.)"""
        if not proc.ready():
            return True
        if self.decides_yields or self.spent:
            return self.continue_process(proc)
        self._end(proc)
        self._begin(str(proc.index), -1)
        return True

    def _advance_label(self, deadline: float) -> str:
        us = round((deadline - self.clock()) * 1e6)
        return f"advance {max(0, us) if self.decides_timers else us}us"

    def _advance(self, node: int) -> None:
        """Let time pass to the next timer's deadline, and fire what is due then: a step
        of time, chosen by decision `node` (-1: there was no choice)."""
        deadline = self.kernel.next_deadline()
        assert deadline is not None  # "advance" is offered only with a timer pending
        self._begin(TIME, node)
        self.kernel.touch("time")
        self.kernel.touch("timers")
        self.clock.advance_to(deadline)
        self.kernel.run_due_timers(self._choose_timer)
        self._end(None)

    def result(self, proc: Process, reason: StoppedReason, used_us: int | None) -> None:
        if reason is not StoppedReason.TIMESLICE_EXPIRED:
            self._end(proc)
            return
        # the lab's watch ended its slice: it computed, or waited in the host OS, without
        # a syscall (there is no other timeslice under virtual time); the others go on,
        # as under round robin
        who = proc.name.rsplit(".", 1)[-1]
        self._end(proc, f"{who}: runs without a syscall (its slice ended)")
        self._behind.add(proc.index)
        if self.kernel.next_deadline() is None and not self._runnable(False, proc):
            self.spend(
                f"the board had not ended: only {who} could run, and it runs on without a syscall"
            )

    # ---- steps --------------------------------------------------------------------------

    def _begin(self, actor: str, node: int) -> None:
        """A step of `actor` starts: the kernel records what it touches from now on."""
        fp: Footprint = {}
        self._step = (actor, node, fp, len(self.decisions))
        self._chosen = -1
        self.kernel.footprint = fp

    def _end(self, proc: Process | None, label: str = "") -> None:
        """The current step is over (`proc`: the process that took it, None for time;
        `label`: what it did, if not its last syscall)."""
        current, self._step = self._step, None
        self.kernel.footprint = None
        if current is None:
            return
        actor, node, fp, after = current
        if proc is not None:
            fp[f"p{proc.index}"] = WRITE
            for window in getattr(self.kernel.ipc, "windows", ()):
                if window.holder == proc.index:  # its code may touch those bytes
                    fp[f"p{window.owner}"] = WRITE
            label = label or call_label(self.kernel, proc)
        elif actor == ADVERSITY:
            label = "adversity"
        else:
            label = "time passes"
        step = Step(actor, node, fp, label, after)
        if self.keep_steps:
            self.steps.append(step)
        self.taken += 1
        self.strategy.on_step(step)
        if self.max_steps is not None and self.taken >= self.max_steps:
            self.spend(f"the board had not ended after {self.max_steps:,} steps")

    def idle_advance(self) -> bool:
        """Nothing is ready: jump to the next timer. False if there is none."""
        deadline = self.kernel.next_deadline()
        if deadline is None:
            return False
        if self.decides_timers:
            self._advance(-1)  # the only thing that can happen: no choice to record
        else:
            self.clock.advance_to(deadline)
        return True

    def run_queue(self) -> list[int]:
        return [p.index for p in self.kernel.processes if p.ready()]

    def own_clock(self) -> VirtualClock:
        """Virtual time: the daemon makes it the kernel's clock when the board runs."""
        return self.clock

    def timer_chooser(self) -> TimerChooser:
        return self._choose_timer

    def replay_view(self) -> ReplayView | None:
        """The schedule file this run follows and where the run is in it (the control
        socket's `replay` op, which finds this method by name); None if it follows none."""
        return None if self.follows is None else self.follows()

    # ---- adversity ----------------------------------------------------------------------

    def _maybe_adversity(self) -> None:
        kernel = self.kernel
        alive = [p for p in kernel.processes if p.is_alive()]
        options = ["none"] + [f"{a} {p.index}" for p in alive for a in ADVERSITIES]
        pick = self.decide(DecisionKind.ADVERSITY, options)
        if pick == 0:
            return
        what, index = options[pick].split()
        proc = kernel.processes[int(index)]
        self._begin(ADVERSITY, self.node)
        kernel.touch(EVERYTHING)
        kernel.emit(ev.Adversity(kind=EventKind.ADVERSITY, action=what), proc)
        if what in ("fault", "restart"):
            self._behind.discard(proc.index)  # its next life starts afresh
        if what == "fault":
            kernel.fault(proc, "adversity: fault injected by the strategy")
        elif what == "restart":
            kernel.try_restart(proc, None)
        elif what == "grant_fail":
            proc.adversity.add("grant_fail")
        else:
            proc.adversity.add("queue_full")
        self._end(None)


#: commands worth a name in a step's label: (driver, command) -> name
_COMMANDS: dict[tuple[int, int], str] = {
    (DriverNum.IPC, 1): "discover",
    (DriverNum.IPC, 2): "notify service",
    (DriverNum.IPC, 3): "notify client",
    (DriverNum.CONSOLE, 1): "write",
    (DriverNum.CONSOLE, 2): "read",
    (DriverNum.ALARM, 5): "set alarm",
}
_DRIVERS = {int(d): d.name.lower() for d in DriverNum}
_CLASSES = {int(c): c.name.lower() for c in SyscallClass}


def call_label(kernel: Kernel, proc: Process) -> str:
    """The last syscall of `proc`, for people: "rot13_client: command ipc.2 (notify
    service)"; a process is named by the last part of its package name."""
    who = proc.name.rsplit(".", 1)[-1]
    if not proc.last_call:
        return f"{who}: start"
    cls, r0, r1 = proc.last_call[:3]
    what = _CLASSES.get(cls, f"class {cls}")
    if cls in (SyscallClass.YIELD, SyscallClass.MEMOP, SyscallClass.EXIT):
        return f"{who}: {what} {r0}"
    label = f"{who}: {what} {_DRIVERS.get(r0, f'{r0:#x}')}.{r1}"
    known = _COMMANDS.get((r0, r1)) if cls == SyscallClass.COMMAND else None
    return f"{label} ({known})" if known else label


# a board may name it once the lab is loaded (tockd.runner loads it for such a board)
register_scheduler(ControlledScheduler.name, ControlledScheduler)
