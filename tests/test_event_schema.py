"""Every event a real board emits matches its kind's TypedDict in tockd/contract/events.py:
the schema is the stream, not a description of it."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import trio

from tockd.board import load_board
from tockd.contract.events import Event, EventKind
from tockd.daemon import Daemon
from tockd.experiment import catalogue
from tockd.lab.properties import InvariantWatch

ROOT = Path(__file__).resolve().parent.parent


def _schema() -> dict[str, type]:
    """Each kind's TypedDict, read from the `kind` Literal of every member of `Event`."""
    out: dict[str, type] = {}
    for td in typing.get_args(Event):
        kind = typing.get_type_hints(td)["kind"]
        for k in typing.get_args(kind):
            assert k not in out, f"{k} has two TypedDicts"
            out[k] = td
    return out


SCHEMA = _schema()


def test_every_kind_has_exactly_one_typeddict() -> None:
    assert set(SCHEMA) == set(EventKind)


def _check(e: dict[str, object]) -> None:
    kind = e["kind"]
    assert kind in SCHEMA, f"an event of an unknown kind: {e}"
    td = SCHEMA[str(kind)]
    hints = typing.get_type_hints(td)
    keys = set(e)
    missing = td.__required_keys__ - keys  # type: ignore[attr-defined]
    extra = keys - set(hints)
    assert not missing, f"{kind} lacks {sorted(missing)}: {e}"
    assert not extra, f"{kind} has fields its TypedDict does not name {sorted(extra)}: {e}"
    for name, value in e.items():
        want = hints[name]
        if want is int:
            assert isinstance(value, int) and not isinstance(value, bool), f"{kind}.{name}"
        elif want is str:
            assert isinstance(value, str), f"{kind}.{name} = {value!r} is not a str"
        elif want is bool:
            assert type(value) is bool, f"{kind}.{name} = {value!r} is not a bool"


async def _events(config: str) -> list[Event]:
    cfg = load_board(ROOT / config)
    watch = InvariantWatch()
    daemon = Daemon(cfg, quiet=True, after_step=watch.after_step)
    events: list[Event] = []
    daemon.kernel.events.subscribe(events.append)
    with trio.move_on_after(20):
        await daemon.run()
    return events


@pytest.mark.parametrize("config", ["configs/demo.toml", "configs/rot13.toml"])
def test_a_board_emits_only_what_the_schema_says(config: str) -> None:
    events = trio.run(_events, config)
    assert len(events) > 20
    seen = {e["kind"] for e in events}
    assert {EventKind.SYSCALL, EventKind.SPAWN, EventKind.CONSOLE} <= seen
    for e in events:
        _check(dict(e))


def test_the_experiments_emit_only_what_the_schema_says() -> None:
    """The nine experiments, in both modes, reach faults, restarts, IPC holds, drops,
    shares and revocations: every event of theirs is checked."""
    seen: set[str] = set()
    for exp in catalogue().values():
        for mode in ("tock", "hardened"):
            obs = exp.observe(mode)
            for e in obs.events:
                _check(dict(e))
            seen |= {str(e["kind"]) for e in obs.events}
    expected = {
        EventKind.FAULT,
        EventKind.RESTART,
        EventKind.TERMINATED,
        EventKind.IPC_NOTIFY,
        EventKind.IPC_SHARE,
        EventKind.IPC_REVOKE,
        EventKind.IPC_DROPPED,
        EventKind.IPC_HELD,
        EventKind.GRANT_ALLOC,
        EventKind.SCHEDULE,
        EventKind.FUNCTION_CALL,
    }
    assert expected <= seen, expected - seen


def test_the_race_labs_events_match_the_schema() -> None:
    """Kinds a plain board never shows: the race lab's decisions and invariant checks."""
    from tockd.kernel.kernel import Kernel
    from tockd.lab import RandomWalk, run_once

    events: list[Event] = []

    def grab(run: list[Event], kernel: Kernel) -> list[str]:  # a property that keeps them
        events.extend(run)
        return []

    cfg = load_board(ROOT / "configs/rot13_report.toml")
    record = run_once(cfg, RandomWalk(seed=3), [grab])
    assert record.decisions > 0
    for e in events:
        _check(dict(e))
    assert any(e["kind"] == EventKind.DECISION for e in events)
