"""The catalogue of Tock's IPC flaws: each one a runnable experiment.

An experiment builds a small board, runs it once in `tock` mode and once in `hardened`
mode with the real daemon and real app processes, and judges from the event stream and
the apps' output whether the flaw showed up: REPRODUCED (with the evidence: trace lines,
bytes read, error codes) or PREVENTED. `experiments/NAME.py` and `tockd experiment NAME`
run one; `tockd experiment --list` lists them.

Each experiment names the hardened switch that fixes it, so a test can turn exactly that
switch off and see exactly that flaw come back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import trio

from tockd.board import HARDENED_SWITCHES, BoardConfig, board_text, parse_board
from tockd.contract.events import Event, EventKind
from tockd.daemon import Daemon
from tockd.kernel.events import console_text
from tockd.trace import format_event

MODES = ("tock", "hardened")


@dataclass
class Observation:
    """What one run of a board produced."""

    mode: str
    events: list[Event]
    console: dict[str, str]
    status: int
    daemon: Daemon
    #: kernel invariant violations seen after any kernel step (tockd.lab.properties):
    #: a window onto memory its owner no longer shares, grants under shared memory...
    invariants: list[str] = field(default_factory=list)

    def of(self, kind: EventKind, name: str | None = None) -> list[Event]:
        return [
            e for e in self.events if e["kind"] == kind and (name is None or e.get("name") == name)
        ]

    def trace(self, name: str | None = None, contains: str = "") -> list[str]:
        lines = []
        for e in self.events:
            if name is not None and e.get("name") != name:
                continue
            line = format_event(e)
            if line is not None and contains in line:
                lines.append(line)
        return lines

    def proc(self, name: str) -> Any:
        p = self.daemon.kernel.find(name)
        if p is None:
            raise KeyError(name)
        return p


@dataclass
class Verdict:
    reproduced: bool
    evidence: list[str] = field(default_factory=list)

    @property
    def word(self) -> str:
        return "REPRODUCED" if self.reproduced else "PREVENTED"


@dataclass
class Experiment:
    """One flaw: a board, how to tell whether the flaw showed, and its fix."""

    name: str
    title: str
    tock_ref: str
    switch: str
    board: Callable[[str], str]  # mode -> board file text
    judge: Callable[[Observation], Verdict]
    timeout: float = 20.0

    def config(self, mode: str, switches: dict[str, bool] | None = None) -> BoardConfig:
        cfg = parse_board(self.board(mode))
        if switches is not None:
            cfg.hardened.update(switches)
        return cfg

    def run(self, mode: str, switches: dict[str, bool] | None = None) -> Verdict:
        """Run the board in `mode` (tock or hardened, optionally with switches
        overridden) and judge it."""
        return self.judge(self.observe(mode, switches))

    def observe(self, mode: str, switches: dict[str, bool] | None = None) -> Observation:
        return observe(self, self.config(mode, switches), mode)


def observe(exp: Experiment, cfg: BoardConfig, mode: str) -> Observation:
    return trio.run(_observe, exp, cfg, mode)


async def _observe(exp: Experiment, cfg: BoardConfig, mode: str) -> Observation:
    from tockd.lab.properties import InvariantWatch

    watch = InvariantWatch()
    daemon = Daemon(cfg, quiet=True, after_step=watch.after_step)
    events: list[Event] = []
    daemon.kernel.events.subscribe(events.append)
    invariants = watch.seen
    status = -1
    with trio.move_on_after(exp.timeout):
        status = await daemon.run()
    console = console_text(events)
    return Observation(mode, events, console, status, daemon, invariants)


def all_switches_but(switch: str) -> dict[str, bool]:
    """Hardened mode with exactly one switch turned off."""
    return {s: s != switch for s in HARDENED_SWITCHES}


#: the entry-point group of experiment providers: each entry is a function returning
#: a list of Experiments (the `experiments` package registers its `catalogue` in
#: pyproject.toml), so this module never imports the scripts that import it
ENTRY_POINTS = "tockd.experiments"


def catalogue() -> dict[str, Experiment]:
    """Every registered experiment, by name, in each provider's order."""
    found: dict[str, Experiment] = {}
    for entry in entry_points(group=ENTRY_POINTS):
        provide: Callable[[], Iterable[Experiment]] = entry.load()
        for exp in provide():
            found[exp.name] = exp
    return found


def report(exp: Experiment, modes: Iterable[str] = MODES, out: Any = None) -> dict[str, Verdict]:
    """Run `exp` in each mode and print the verdicts with their evidence."""
    out = out or sys.stdout
    print(f"{exp.name}: {exp.title}", file=out)
    print(f"  Tock: {exp.tock_ref}; fixed by hardened switch `{exp.switch}`", file=out)
    verdicts = {}
    for mode in modes:
        verdict = exp.run(mode)
        verdicts[mode] = verdict
        print(f"  [{mode:8}] {verdict.word}", file=out)
        for line in verdict.evidence:
            print(f"             {line}", file=out)
    out.flush()
    return verdicts


def main_for(exp: Experiment) -> None:
    """`python experiments/NAME.py`."""
    report(exp)


def apps_toml(apps: list[dict[str, Any]], **board: Any) -> str:
    """A board file's text from plain dicts (see tockd.board.board_text)."""
    return board_text(apps, **board)
