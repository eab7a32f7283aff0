"""A live board that follows a schedule file: `tockd run --schedule`, `tockd replay --tui`.

    followed = follow_schedule(daemon, "race.json")   # before daemon.run()
    followed.view()   # what the control socket's `replay` op answers

`follow_schedule` puts a daemon's board under the controlled scheduler and replays the
file's decisions exactly as `tockd replay` does (`replay` in tockd/lab/shrink.py): the
recorded decisions, then a random walk seeded with the file's seed where they no longer
fit; the kernel invariants checked after every step when the file was judged with them.
The daemon may be paused and stepped (the dashboard's `n`): under virtual time a paused
process keeps the CPU (tockd/daemon/loop.py), so the stepped run takes the recorded
decisions in the recorded order and emits the recorded events, to the same digest.

`FollowedSchedule.view()` says where the run is in the schedule: decision k of N, the
recorded decisions off the default path, the next one, and, once the run is over, its
verdict and digest, judged as `tockd replay` judges a run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tockd.contract.control import ReplayDecision, ReplayOutcome, ReplayView
from tockd.contract.events import Event, EventKind
from tockd.kernel.process import State
from tockd.lab.controlled import ControlledScheduler
from tockd.lab.properties import InvariantWatch, resolve
from tockd.lab.run import digest_events
from tockd.lab.shrink import ScheduleFile, default_choice
from tockd.lab.strategy import Replay

if TYPE_CHECKING:
    from tockd.daemon import Daemon
    from tockd.kernel.kernel import Kernel

#: events the one watching causes, not the run: a replay paused and stepped has them too
_WATCHER_EVENTS = frozenset({EventKind.PAUSED, EventKind.RESUMED_SCHEDULER})
#: how many numbers of off-default decisions a view lists
OFF_DEFAULT_SHOWN = 64
#: what `violated` names the kernel invariants by
INVARIANTS = "invariants"
#: events kept to judge the run; a run longer than this (one that goes on long after its
#: schedule, as a `--forever` board may) is never judged: plain replay would time out
EVENT_LIMIT = 1_000_000


def follow_schedule(daemon: Daemon, path: str | Path) -> FollowedSchedule:
    """Put `daemon`'s board under the controlled scheduler, replaying the schedule file
    at `path` as `tockd replay` does; warn if the board file changed since it was saved.
    OSError, ValueError or KeyError if the file cannot be read."""
    schedule = ScheduleFile.read(Path(path))
    board_changed = schedule.board_digest != daemon.cfg.digest
    if board_changed:
        print(
            "tockd: the board file changed since the schedule was saved; following it "
            "as far as it fits",
            file=sys.stderr,
        )
    strategy = schedule.strategy()
    scheduler = ControlledScheduler(
        daemon.kernel,
        strategy,
        adversity=schedule.adversity,
        timers=schedule.timers,
        max_steps=schedule.max_steps,  # a run the sweep cut is cut where it was
    )
    daemon.scheduler = scheduler
    watch = InvariantWatch() if schedule.check else None
    if watch is not None:
        daemon.after_step = watch.after_step
    followed = FollowedSchedule(daemon.kernel, schedule, strategy, watch, board_changed)
    scheduler.follows = followed.view
    return followed


class FollowedSchedule:
    """A run following a schedule file: its events, and where it is in the schedule."""

    def __init__(
        self,
        kernel: Kernel,
        schedule: ScheduleFile,
        strategy: Replay,
        watch: InvariantWatch | None,
        board_changed: bool,
    ) -> None:
        self.kernel = kernel
        self.schedule = schedule
        self.strategy = strategy
        self.watch = watch
        self.board_changed = board_changed
        #: the run's events, as `tockd replay` judges and digests them
        self.events: list[Event] = []
        self.off_default = [
            i + 1
            for i, d in enumerate(schedule.decisions)
            if d.choice != default_choice(d.kind, d.options)
        ]
        self._outcome: tuple[int, ReplayOutcome] | None = None
        self._unsubscribe: Callable[[], None] | None = kernel.events.subscribe(self._keep)

    def _keep(self, event: Event) -> None:
        if event["kind"] in _WATCHER_EVENTS or self._unsubscribe is None:
            return
        self.events.append(event)
        if len(self.events) >= EVENT_LIMIT:  # too long to judge: stop paying for events
            self._unsubscribe()
            self._unsubscribe = None

    @property
    def judged(self) -> bool:
        """Can the run still be judged (it has not outgrown `EVENT_LIMIT`)?"""
        return self._unsubscribe is not None

    def view(self) -> ReplayView:
        """The `replay` op's result (tockd/contract/control.py, ReplayView)."""
        s, strategy = self.schedule, self.strategy
        taken = strategy.position
        follows = strategy.divergence is None and taken < len(s.decisions)
        return {
            "file": str(s.path),
            "board": s.board,
            "board_changed": self.board_changed,
            "properties": s.properties,
            "recorded_verdict": s.verdict,
            "recorded_digest": s.digest,
            "recorded_violations": s.violations,
            "total": len(s.decisions),
            "taken": taken,
            "essential": len(self.off_default),
            "off_default": self.off_default[:OFF_DEFAULT_SHOWN],
            "next": self._decision(taken) if follows else None,
            "divergence": strategy.detail,
            "outcome": self.outcome() if self.judged and run_over(self.kernel) else None,
        }

    def _decision(self, index: int) -> ReplayDecision:
        d = self.schedule.decisions[index]
        return {
            "step": index + 1,
            "kind": d.kind,
            "options": d.options,
            "choice": d.choice,
            "default": default_choice(d.kind, d.options),
        }

    def outcome(self) -> ReplayOutcome:
        """The run so far judged as `tockd replay` judges a whole run (tockd/lab/run.py):
        each property over its events, then the invariants seen."""
        if self._outcome is not None and self._outcome[0] == len(self.events):
            return self._outcome[1]
        violated: list[str] = []
        violations: list[str] = []
        names = self.schedule.properties
        for name, prop in zip(names, resolve(names), strict=True):
            found = prop(self.events, self.kernel)
            violated += [name] if found else []
            violations += found
        invariants = self.watch.seen if self.watch is not None else []
        violated += [INVARIANTS] if invariants else []
        outcome: ReplayOutcome = {
            "verdict": "violation" if violations or invariants else "ok",
            "digest": digest_events(self.events),
            "violations": violations + invariants,
            "violated": violated,
        }
        self._outcome = (len(self.events), outcome)
        return outcome


def run_over(kernel: Kernel) -> bool:
    """Is the run over, where an unpaused daemon would end it (`_done` in
    tockd/daemon/loop.py): the kernel panicked, no process is alive, or every live one
    waits in yield with nothing queued and no timer will wake one?"""
    if kernel.panicked:
        return True
    alive = [p for p in kernel.processes if p.is_alive()]
    if not alive:
        return True
    return kernel.next_deadline() is None and all(
        p.state in (State.YIELDED, State.YIELDED_FOR) and not p.queue for p in alive
    )
