"""One controlled run: a board under a strategy, properties checked, a compact record.

    from tockd.lab import run_once, load_board, RandomWalk, notify_delivered
    record = run_once(load_board("configs/rot13.toml"), RandomWalk(7), [notify_delivered])
    record.verdict, record.digest, record.decisions

The record is what exploration writes as one JSON line: seed, strategy, schedule
digest, number of decisions, faults, invariant violations, property violations,
verdict. The schedule itself (every decision) is kept for violating runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import NotRequired, TypedDict, cast

import psutil
import trio

from tockd.board import BoardConfig
from tockd.contract.events import Event, EventKind
from tockd.daemon import Daemon
from tockd.kernel.events import console_text
from tockd.kernel.kernel import Kernel
from tockd.lab.controlled import YIELDS_DECIDED, ControlledScheduler
from tockd.lab.dpor import Sleep, TraceJson, sleep_to_json
from tockd.lab.properties import InvariantWatch, Property, prefix_judge
from tockd.lab.steps import Race, Step, ordering_of, reversals
from tockd.lab.strategy import DecisionJson, Strategy, StrategyJson
from tockd.zygote import Zygote

_zygote: Zygote | None = None


@contextlib.contextmanager
def zygote_session() -> Iterator[Zygote]:
    """Reuse one warm zygote for every run inside the block, and close it at the end.

    Started on this (the main) thread, which outlives the block: the zygote's
    PDEATHSIG is tied to it. Each run still gets fresh app processes forked from it and
    a fresh RAM image. Nested sessions share the outer zygote.
    """
    global _zygote
    if _zygote is not None and _zygote.running:
        yield _zygote
        return
    _zygote = Zygote()
    _zygote.start()
    try:
        yield _zygote
    finally:
        zygote, _zygote = _zygote, None
        zygote.close()


#: the core this worker's boards run on (one per pool worker), None: the board decides
_worker_cpu: int | None = None


def worker_zygote() -> None:
    """For a worker process of a pool: a zygote for the worker's whole life, closed by
    multiprocessing's finalizers when the worker exits (atexit does not run there), and
    a core of its own, so that concurrent workers never pin their boards to one core."""
    import multiprocessing
    import multiprocessing.util
    import os

    global _zygote, _worker_cpu
    identity = multiprocessing.current_process()._identity
    cores = sorted(os.sched_getaffinity(0))
    if identity and len(cores) > 1:
        _worker_cpu = cores[(identity[-1] - 1) % len(cores)]
    _zygote = Zygote()
    _zygote.start()
    multiprocessing.util.Finalize(None, _zygote.close, exitpriority=10)


#: a run's budget of steps: an app that makes syscalls without end (or sleeps and wakes
#: without end) is cut off after this many, about a second of its syscalls; the shipped
#: boards end in a few hundred
MAX_STEPS = 20_000

#: the CPU time an app may compute in one step, without a syscall, before its slice
#: ends (s): no timeslice ends a turn under virtual time, and the others would wait
#: behind it for good. Far more than any step of a real app, so that only one that
#: computes without end meets it, and meets it in the same step of every replay
STEP_CPU_S = 2.0

#: how long the app on the CPU may wait in the host OS in one step, using no CPU and
#: without a syscall to its kernel, before its slice ends (s of wall time, as many as
#: STEP_CPU_S). Under virtual time an app's clocks and sleeps are syscalls
#: (apps_py/libtock/vtime.py), so a well-behaved app never waits so; one that does
#: (a lock or an event it waits on for ever, a select on nothing) would otherwise hold
#: the CPU until the run's wall-clock budget, in every run of a sweep
STEP_BLOCKED_S = 2.0

#: event fields that vary between identical runs (wall time, OS pids)
_VOLATILE = ("t", "seq", "os_pid", "generation")


class RunJson(TypedDict):
    """One run as JSON: `RunRecord.to_json`, plus what the sweep adds.

    This is the line a sweep appends to its JSONL file and reads back on resume."""

    seed: int | None
    strategy: StrategyJson
    digest: str
    decisions: int
    faults: list[str]
    invariant_violations: list[str]
    property_violations: list[str]
    verdict: str  # "ok" | "violation" | "timeout"
    seconds: float
    divergence: str
    #: what the apps observed (`observation_of`); not in records older than issue 16
    observation: NotRequired[str]
    #: the run's ordering (tockd/lab/steps.py: `ordering_of`); not in older records
    ordering: NotRequired[str]
    #: the races of the run as [earlier step, later step] labels (`steps.races`)
    races: NotRequired[list[list[str]]]
    #: what exhaustive search with reduction needs back (tockd/lab/dpor.py)
    trace: NotRequired[TraceJson]
    #: [kind, options, choice] per decision; only in a violating run's record
    schedule: NotRequired[list[DecisionJson]]
    console: NotRequired[dict[str, str]]
    #: why the run was stopped before its board ended (only in those): a timeout, or a
    #: violation its prefix already shows (tockd.lab.properties.prefix_judge)
    cut: NotRequired[str]
    #: where the run ran (set by the worker)
    node: NotRequired[str]
    #: the sweep it belongs to (`explore.sweep_id`: board, properties, modes), which a
    #: resumed sweep must match
    sweep: NotRequired[str]
    #: set by shrinking: decisions off the default path, and replays it took
    essential: NotRequired[int]
    shrink_tries: NotRequired[int]


#: RunRecord fields that are not part of its JSON record
_NOT_JSON = ("steps", "sleeps", "blocked_at", "race_steps")


@dataclass
class RunRecord:
    seed: int | None
    strategy: StrategyJson
    digest: str
    decisions: int
    faults: list[str]
    invariant_violations: list[str]
    property_violations: list[str]
    verdict: str  # "ok" | "violation" | "timeout"
    seconds: float
    schedule: list[DecisionJson] = field(default_factory=list)
    divergence: str = ""
    console: dict[str, str] = field(default_factory=dict)
    observation: str = ""
    ordering: str = ""
    races: list[list[str]] = field(default_factory=list)
    #: the steps, for `trace_json` (not part of the JSON record)
    steps: list[Step] = field(default_factory=list, repr=False)
    sleeps: dict[int, Sleep] = field(default_factory=dict, repr=False)
    blocked_at: int | None = field(default=None, repr=False)
    race_steps: list[Race] = field(default_factory=list, repr=False)
    #: why the run was stopped before its board ended; "" for one that ended
    cut: str = ""

    def to_json(self, with_schedule: bool | None = None) -> RunJson:
        raw = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_JSON}
        data = cast(RunJson, raw)
        keep = self.violated if with_schedule is None else with_schedule
        if not keep:
            del data["schedule"], data["console"]
        if not self.cut:
            del data["cut"]
        return data

    def trace_json(self) -> TraceJson:
        """What exhaustive search with reduction reads back (tockd/lab/dpor.py)."""
        return {
            "decisions": self.schedule,
            "steps": [s.to_json() for s in self.steps],
            "sleeps": [[i, sleep_to_json(sl)] for i, sl in sorted(self.sleeps.items())],
            "blocked_at": self.blocked_at,
            "races": [(j, k, list(first)) for j, k, first in self.race_steps],
            "ordering": self.ordering,
        }

    @property
    def violated(self) -> bool:
        return self.verdict != "ok"


def _unrecorded(check: Callable[[Kernel], None]) -> Callable[[Kernel], None]:
    """`check` run between steps without counting what it reads in the step's
    footprint: the invariant checks look at every process, the step did not."""

    def unrecorded(kernel: Kernel) -> None:
        fp, kernel.footprint = kernel.footprint, None
        try:
            check(kernel)
        finally:
            kernel.footprint = fp

    return unrecorded


def observation_of(events: list[Event]) -> str:
    """What the apps observed in a run, as a short hash: for each process, in its own
    order, the returns of its syscalls (with the calls it made), the upcalls handed to
    it and how it ended; and the console's text, in the order it left the UART. Two
    runs that order independent steps differently, or differ only in kernel
    bookkeeping the apps never see, observe the same; the event-stream digest
    (`digest_events`) tells them apart. (When an app's text leaves the UART is not
    set against its own syscalls: no app can tell whether its next syscall came before
    or after the bytes went out; it sees the write-done upcall, which is here.)"""
    seen: dict[int, list[object]] = {}
    console: list[object] = []
    for e in events:
        index = e.get("index")
        if not isinstance(index, int):
            continue
        item: list[object]
        if e["kind"] == EventKind.SYSCALL:
            item = ["sys", e["cls"], e["args"], e.get("rv")]
        elif e["kind"] == EventKind.FUNCTION_CALL:
            item = ["upcall", e["driver"], e["subscribe"], e["args"]]
        elif e["kind"] == EventKind.WAIT_FOR:
            item = ["wait_for", e["null"], e["args"]]
        elif e["kind"] == EventKind.CONSOLE:
            console.append([index, e["text"]])
            continue
        elif e["kind"] == EventKind.FAULT:
            item = ["fault", e["reason"]]
        elif e["kind"] == EventKind.TERMINATED:
            item = ["terminated", e["completion_code"]]
        elif e["kind"] == EventKind.RESTART:
            item = ["restart", e["restart_count"]]
        else:
            continue
        seen.setdefault(index, []).append(item)
    text = json.dumps([sorted(seen.items()), console], default=int)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: `json.dumps(..., sort_keys=True, default=int)`, without building an encoder per event
_encode_sorted = json.JSONEncoder(sort_keys=True, default=int).encode


def digest_events(events: list[Event]) -> str:
    """A hash of everything the kernel did, minus wall-clock and OS-assigned values: the
    SHA-256 of each event's sorted JSON (without `_VOLATILE` fields), one after another."""
    text = "".join(
        _encode_sorted({k: v for k, v in e.items() if k not in _VOLATILE}) for e in events
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_once(
    cfg: BoardConfig,
    strategy: Strategy,
    properties: list[Property],
    *,
    check: bool = True,
    adversity: bool = False,
    seed: int | None = None,
    timeout: float = 20.0,
    max_decisions: int = 20_000,
    timers: str = YIELDS_DECIDED,
    max_steps: int | None = None,
) -> RunRecord:
    """Run `cfg` once under `strategy` (the board's scheduler is replaced by the
    controlled one, with the timer rule `timers`) and judge it. A run that has not
    ended within `timeout` seconds, `max_decisions` decisions or `max_steps` steps
    (`MAX_STEPS` by default) is stopped there, and `cut` says which: verdict "timeout",
    or "violation" if what it did so far already violates (`prefix_judge`)."""
    budget = (timeout, max_decisions, max_steps or MAX_STEPS)
    return trio.run(_run, cfg, strategy, properties, check, adversity, seed, budget, timers)


class StepWatch:
    """Beside a lab run: the process on the CPU, looked at every `STEP_CPU_S / 4`.

    No timeslice ends the turn of a process that holds the CPU without a syscall under
    virtual time, so the board would wait for it until the run's wall-clock budget:
    once it has used `STEP_CPU_S` of its CPU time in one step (CPU time, not the wall
    clock's: a loaded host must not change a run), or has waited in the host OS for
    `STEP_BLOCKED_S` using none (asleep, its reply delivered, the board not paused),
    its slice ends there (`KernelLoop.expire_slice`). It is stopped and the others go
    on, as round robin would have it; the scheduler runs it again only when nothing
    else can happen, and cuts the run if it then runs on alone without a syscall
    (tockd/lab/controlled.py). One that stopped itself (SIGSTOP) is continued, as
    round robin's next turn would: nothing it can observe changes. And `since`, when a
    step last ended as far as the watch saw, says for how long the process on the CPU
    had taken none when the wall clock cuts the run."""

    def __init__(self, daemon: Daemon, sched: ControlledScheduler) -> None:
        self.daemon = daemon
        self.sched = sched
        self.since = time.monotonic()

    async def run(self) -> None:
        sched = self.sched
        taken = 0  # steps taken at the last look
        seen: tuple[int, int] = (-1, -1)  # (steps taken, pid) when `base` was read
        base = last = 0.0  # its CPU time then, and at the last look
        busy = 0.0  # when its CPU time last grew, or the board last held it
        while True:
            looked = time.monotonic()
            await trio.sleep(STEP_CPU_S / 4)
            if sched.taken != taken:  # a step ended since the last look
                taken, self.since = sched.taken, looked
            proc = self.daemon.current
            app = proc.os if proc is not None else None
            if proc is None or app is None:
                continue
            try:
                ps = psutil.Process(app.pid)
                status = ps.status()
                if status == psutil.STATUS_STOPPED and not app.sigstopped:
                    app.sigcont(even_self_stopped=True)
                    continue
                times = ps.cpu_times()
            except psutil.Error:
                continue
            now = time.monotonic()
            used = times.user + times.system
            if (sched.taken, app.pid) != seen:
                seen, base, last, busy = (sched.taken, app.pid), used, used, now
                continue
            # asleep by its own doing (not in disk I/O, which a slow disk stretches)
            asleep = status == psutil.STATUS_SLEEPING
            if used != last or not asleep or app.held is not None or self.daemon.paused:
                busy = now  # it computes, or waits for its reply: the board holds it
            last = used
            if used - base >= STEP_CPU_S or now - busy >= STEP_BLOCKED_S:
                self.daemon.expire_slice(proc)  # its step ends; the scheduler goes on
                seen = (-1, -1)

    def timed_out(self, timeout: float) -> str:
        """Why the run was cut at its wall-clock budget, naming the process on the CPU
        then (in whole seconds: runs cut alike are counted together in the summary)."""
        why = f"the board had not ended after {timeout:g} s"
        proc = self.daemon.current
        if proc is None:
            return why
        quiet = time.monotonic() - self.since
        return f"{why} ({proc.name} on the CPU, {quiet:.0f} s since a step last ended)"


async def _run(
    cfg: BoardConfig,
    strategy: Strategy,
    properties: list[Property],
    check: bool,
    adversity: bool,
    seed: int | None,
    budget: tuple[float, int, int],
    timers: str,
) -> RunRecord:
    started = time.monotonic()
    timeout, max_decisions, max_steps = budget
    cfg.scheduler = "controlled"
    if _worker_cpu is not None and cfg.cpu == "auto":
        cfg.cpu = _worker_cpu
    shared = _zygote if _zygote is not None and _zygote.running else None
    watch = InvariantWatch()
    daemon = Daemon(
        cfg,
        quiet=True,
        zygote=shared if cfg.spawn == "zygote" else None,
        scheduler=lambda kernel: ControlledScheduler(
            kernel,
            strategy,
            adversity=adversity,
            max_decisions=max_decisions,
            max_steps=max_steps,
            timers=timers,
            keep_steps=True,
        ),
        after_step=_unrecorded(watch.after_step) if check else None,
    )
    kernel = daemon.kernel
    sched = daemon.scheduler
    assert isinstance(sched, ControlledScheduler)  # the one built just above
    events: list[Event] = []
    kernel.events.subscribe(events.append)
    invariants = watch.seen
    timed_out = True
    watch_steps = StepWatch(daemon, sched)
    with trio.move_on_after(timeout):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_steps.run)
            await daemon.run()
            nursery.cancel_scope.cancel()
        timed_out = False
    cut = watch_steps.timed_out(timeout) if timed_out else sched.cut
    # a run cut short is judged only by what its prefix shows (properties.prefix_judge)
    judges = [prefix_judge(p) for p in properties] if cut else properties
    violations = [v for judge in judges if judge is not None for v in judge(events, kernel)]
    faults = [e["reason"] for e in events if e["kind"] == EventKind.FAULT]
    bad = violations or invariants
    verdict = "violation" if bad else "timeout" if cut else "ok"
    console = console_text(events)
    steps = sched.steps
    raced = reversals(steps)
    return RunRecord(
        seed=seed,
        strategy=strategy.describe(),
        digest=digest_events(events),
        decisions=len(sched.decisions),
        faults=faults,
        invariant_violations=invariants,
        property_violations=violations,
        verdict=verdict,
        seconds=round(time.monotonic() - started, 4),
        schedule=[d.to_json() for d in sched.decisions],
        divergence=getattr(strategy, "detail", ""),
        console=console,
        observation=observation_of(events),
        ordering=ordering_of(steps),
        races=[[steps[j].label, steps[k].label] for j, k, _ in raced],
        race_steps=raced,
        steps=steps,
        sleeps=getattr(strategy, "sleeps", {}),
        blocked_at=getattr(strategy, "blocked_at", None),
        cut=cut,
    )
