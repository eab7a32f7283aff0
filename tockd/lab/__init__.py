"""tockd.lab: controlled scheduling, exploration, record and replay, shrinking.

from tockd.lab import explore, replay, run_once, RandomWalk, PCT, notify_delivered
from tockd.board import load_board

record = run_once(load_board("configs/rot13_report.toml"), PCT(seed=1), [notify_delivered])
summary = explore("configs/rot13_report.toml", ["notify-delivered"], runs=200, jobs=2)
replay(summary.schedule_file)["identical"]
"""

from tockd.lab.controlled import ControlledScheduler, VirtualClock
from tockd.lab.explore import Summary, explore, replay, shrink_schedule
from tockd.lab.properties import (
    PROPERTIES,
    check_invariants,
    no_faults,
    notify_delivered,
    prints,
)
from tockd.lab.run import RunRecord, digest_events, run_once
from tockd.lab.strategy import PCT, Decision, Exhaustive, RandomWalk, Replay, Strategy

__all__ = [
    "PCT",
    "PROPERTIES",
    "ControlledScheduler",
    "Decision",
    "Exhaustive",
    "RandomWalk",
    "Replay",
    "RunRecord",
    "Strategy",
    "Summary",
    "VirtualClock",
    "check_invariants",
    "digest_events",
    "explore",
    "no_faults",
    "notify_delivered",
    "prints",
    "replay",
    "run_once",
    "shrink_schedule",
]
