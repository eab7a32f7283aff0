"""tui.board and tui.history: the board at any event is rebuilt from a keyframe and the
events after it.

The fold is checked against the kernel itself: a real board (real app processes, an
in-process daemon) is snapshotted every few dozen events while it boots, syscalls,
restarts and faults; folding the events after each snapshot over it must give exactly
what the next snapshot says.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio

from tests.harness import app, board_toml, run_board
from tests.wait import WAIT_S
from tockd.control import ControlServer
from tockd.daemon import Daemon
from tockd.tui.board import Board, board_from_snapshot
from tockd.tui.fold import apply
from tockd.tui.history import History
from tockd.tui.tracefilter import TraceFilter, describe_event

#: events between two snapshots of the live board
SNAPSHOT_STRIDE = 10

_COMPARED = (
    "process_id",
    "state",
    "syscalls",
    "queue",
    "dropped",
    "restarts",
    "app_break",
    "kernel_memory_break",
)


def _row_view(board: Board) -> list[dict[str, Any]]:
    return [
        {
            **{k: getattr(p, k) for k in _COMPARED},
            "grants": sorted((g.driver, g.address, g.size) for g in p.grants),
        }
        for p in board.procs
    ]


async def test_folding_events_over_a_keyframe_gives_the_next_keyframe(tmp_path: Path) -> None:
    snaps: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []

    async def during(daemon: Daemon) -> None:
        server = ControlServer(daemon, Path("/nonexistent"))
        first_three = daemon.kernel.processes[:3]
        # a snapshot every SNAPSHOT_STRIDE events, until spin, blink and the restarter
        # have ended (each end is an event too)
        due, due_at = trio.Event(), 0

        def ended() -> bool:
            return not any(p.is_alive() for p in first_three)

        def sink(ev: dict[str, Any]) -> None:
            events.append(ev)
            if ev["seq"] >= due_at or ended():
                due.set()

        daemon.kernel.events.subscribe(sink)
        for i in itertools.count():
            reply = await server.handle({"op": "snapshot", "mem": "all" if i % 2 else i % 8})
            assert reply["ok"], reply
            snaps.append(reply["result"])
            if ended():
                break
            due, due_at = trio.Event(), snaps[-1]["seq"] + SNAPSHOT_STRIDE
            with trio.move_on_after(WAIT_S):
                await due.wait()
            assert due.is_set(), f"timed out waiting for event {due_at}"
        daemon.request_stop()  # the rot13 service waits forever

    apps = [
        app("apps_py.spin", args={"n": 3000}),
        app("apps_py.blink"),
        app("tests.apps.restarter", args={"marker": str(tmp_path / "m"), "times": 3}),
        app("apps_py.hello"),
        app("tests.apps.crasher"),
        app("apps_py.random_number"),
        app("apps_py.rot13_service", name="org.tockos.examples.rot13", ipc_service=True),
        app("apps_py.rot13_client", args={"rounds": 3, "delay_ms": 20}),
    ]
    run = await run_board(board_toml(apps, mpu="cortex-m", ram_size=65536), during=during)
    assert run.status == 0
    assert len(snaps) >= 5
    kinds = {e["kind"] for e in events}
    assert {"restart", "fault", "terminated", "grant_alloc", "function_call"} <= kinds
    assert {"ipc_notify", "ipc_share"} <= kinds

    history = History()
    history.add_snapshot(snaps[0])
    history.add_events(e for e in events if e["seq"] > snaps[0]["seq"])
    checked = 0
    for before, after in itertools.pairwise(snaps):
        folded = board_from_snapshot(before)
        for ev in events:
            if before["seq"] < ev["seq"] <= after["seq"]:
                apply(folded, ev)
        truth = board_from_snapshot(after)
        assert _row_view(folded) == _row_view(truth), (before["seq"], after["seq"])
        assert folded.sched.paused == truth.sched.paused
        # the memory maps known at the first keyframe follow the events
        for index in folded.mem.keys() & truth.mem.keys():
            m, t = folded.mem[index], truth.mem[index]
            assert (m.app_break, m.kernel_memory_break) == (t.app_break, t.kernel_memory_break)
            assert sorted(g.address for g in m.grants) == sorted(g.address for g in t.grants)
        history.add_snapshot(after)
        checked += before["seq"] != after["seq"]
    assert checked >= 3
    # History gives the same boards at every keyframe, and between them
    for snap in snaps[1:]:
        board = history.board_at(snap["seq"])
        assert board is not None
        assert _row_view(board) == _row_view(board_from_snapshot(snap))


def _ev(seq: int, kind: str, index: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "t": seq * 10,
        "kind": kind,
        "pid": index,
        "index": index,
        "name": "a",
        **fields,
    }


def _snap(seq: int, syscalls: int = 0) -> dict[str, Any]:
    row = {
        "index": 0,
        "name": "a",
        "pid": 100,
        "process_id": 0,
        "state": "Yielded",
        "syscalls": syscalls,
        "queue": 0,
        "dropped_upcalls": 0,
        "restarts": 0,
        "current": False,
        "ready": False,
    }
    return {
        "seq": seq,
        "now_us": seq * 10,
        "info": {"board": "b"},
        "sched": {"kind": "round-robin", "paused": False, "current": None, "run_queue": [0]},
        "capsules": [{"driver": 2, "name": "Led"}],
        "processes": [row],
        "mem": [],
    }


def _syscall(seq: int) -> dict[str, Any]:
    return _ev(seq, "syscall", cls=2, args=[2, 0, 0, 0], ret="Success")


def test_history_steps_through_every_event_and_back_to_the_newest() -> None:
    h = History()
    h.add_snapshot(_snap(10))
    h.add_events(_syscall(s) for s in range(11, 21))
    assert (h.start_seq, h.last_seq, h.positions()) == (10, 20, 10)
    assert h.step(20, -1) == 19
    assert h.step(11, -5) == 10  # not before the first keyframe
    assert h.step(19, +5) == 20
    board = h.board_at(15)
    assert board is not None and board.procs[0].syscalls == 5
    assert h.index_of(15) == 5
    assert h.event_at(15) == _syscall(15)
    assert describe_event(_syscall(15)) == "[0] cmd(0x2, 0, 0x0, 0x0) = Success"


def test_a_snapshot_ahead_of_the_stream_waits_for_its_events() -> None:
    """The snapshot and the events come on two connections, and a snapshot can overtake
    the events before it (a busy or loaded machine, a paused board). Taken as a keyframe
    at once, it made the board at an event before it the previous keyframe plus the
    events received so far: every process a few syscalls short (the time-travel flake).
    It must wait until the stream has reached it."""
    h = History()
    h.follow(0)
    h.add_snapshot(_snap(0))
    h.add_events(_syscall(s) for s in range(1, 5))
    ahead = h.add_snapshot(_snap(12, syscalls=12))  # the kernel is at 12; we have 4
    assert ahead.seq == 12 and h.pending == [ahead]
    live = h.live()
    assert live is not None and live.seq == 0  # not a board the events cannot back
    assert h.last_seq == 4
    h.add_events(_syscall(s) for s in range(5, 10))
    assert h.pending == [ahead] and len(h.keyframes) == 1
    h.add_events(_syscall(s) for s in range(10, 13))
    assert h.pending == [] and [k.seq for k in h.keyframes] == [0, 12]
    for seq in range(1, 13):
        board = h.board_at(seq)
        assert board is not None and board.procs[0].syscalls == seq


def test_a_snapshot_waits_for_events_the_stream_skipped_or_lost() -> None:
    """A packed frame's `last` counts the events it left out (not asked for, or lost
    by a subscriber that stayed away too long): the stream has reached it all the same.
    A snapshot at the `after` of the subscribe reply is a keyframe at once."""
    h = History()
    h.follow(7)
    h.add_snapshot(_snap(7))
    assert [k.seq for k in h.keyframes] == [7]
    h.add_snapshot(_snap(20, syscalls=3))
    entries = [[5, 0], [2, 2, 0, 0, 0], [0, 0, 0, 0, 0], 9, [2, 2, 0, 0, 0], [0, 0, 0, 0, 0]]
    h.ingest([{"log": {"first": 8, "last": 10, "entries": msgpack.packb(entries)}}])
    assert [k.seq for k in h.keyframes] == [7]
    assert h.missed == 1  # 9
    h.ingest([{"log": {"first": 11, "last": 20, "entries": msgpack.packb([20])}}])
    assert [k.seq for k in h.keyframes] == [7, 20]
    assert h.missed == 1 + 10  # 11..20, given up by the daemon: shown at once
    h.ingest([{"log": {"first": 21, "last": 21, "entries": msgpack.packb(entries[:3])}}])
    assert h.missed == 11 and h.last_seq == 21


def _packed(h: History, seqs: list[int]) -> None:
    h.add_packed(seqs[0], seqs[-1], len(seqs), msgpack.packb([_syscall(s) for s in seqs]))


def test_history_counts_missed_events_and_trims_at_a_keyframe() -> None:
    h = History(limit=100)
    h.add_snapshot(_snap(0))
    for first in range(1, 61, 20):
        _packed(h, list(range(first, first + 20)))
    h.add_snapshot(_snap(60, syscalls=60))
    _packed(h, list(range(63, 100)))  # 61 and 62 never arrived
    _packed(h, [*range(100, 150), *range(151, 200)])  # nor 150
    assert h.missed == 3
    assert h.start_seq == 60  # the first keyframe's events were dropped with it
    assert h.batches[0].first > 60 - 20
    board = h.board_at(None)
    assert board is not None and board.procs[0].syscalls == 60 + 37 + 99
    assert h.step(149, 1) == 151
    assert h.event_at(150) is None
    assert h.event_at(151) == _syscall(151)
    assert [e["seq"] for e in h.events_between(147, 152)] == [148, 149, 151, 152]


def test_a_malformed_batch_keeps_its_place_and_does_not_crash() -> None:
    h = History()
    h.add_snapshot(_snap(0))
    h.ingest(
        [
            {"log": {"first": 1, "last": 3, "entries": b"\xc1garbage"}},
            {"log": {"first": "x"}},
            [1, 2],
            {"event": _syscall(4)},
        ]
    )
    assert h.last_seq == 4 and h.positions() == 4
    ev = h.event_at(2)
    assert ev is not None and ev["kind"] == "unreadable"
    board = h.board_at(4)
    assert board is not None and board.procs[0].syscalls == 1


def test_a_log_frame_becomes_batches_of_events_with_the_gaps_counted() -> None:
    h = History()
    h.add_snapshot(_snap(0))
    entries: list[Any] = [(0, 0)]
    for _ in range(1200):
        entries += [(2, 2, 0, 0, 0), (0, 128, 0, 0, 0)]
    frame = {"first": 1, "last": 1200, "entries": msgpack.packb(entries), "names": ["app"]}
    h.ingest([{"log": frame}])
    assert [(b.first, b.last) for b in h.batches] == [(1, 512), (513, 1024), (1025, 1200)]
    expected = {k: v for k, v in _syscall(700).items() if k != "t"}
    assert h.event_at(700) == {**expected, "name": "app", "rv": [128, 0, 0, 0]}
    h.ingest(
        [{"log": {**frame, "first": 1301, "last": 1301, "entries": msgpack.packb(entries[:3])}}]
    )
    assert h.missed == 100 and h.last_seq == 1301
    board = h.board_at(None)
    assert board is not None and board.procs[0].syscalls == 1201


def test_trace_filter_by_process_and_driver() -> None:
    h = History()
    snap = _snap(0)
    snap["processes"].append({**snap["processes"][0], "index": 1, "name": "other", "process_id": 7})
    h.add_snapshot(snap)
    h.add_events(
        [
            _ev(1, "syscall", 0, cls=2, args=[2, 1, 0, 0], ret="Success"),
            {**_ev(2, "syscall", 1, cls=2, args=[1, 1, 0, 0], ret="Success"), "pid": 7},
            _ev(3, "syscall", 0, cls=0, args=[1, 0, 0, 0]),
        ]
    )
    board = h.board_at(None)
    assert board is not None

    def lines(text: str) -> list[str]:
        matcher = TraceFilter.parse(text).compile(board)
        return [line for _, line in h.trace_before(3, 10, matcher)]

    assert len(lines("")) == 3
    assert lines("d:0x2") == ["[0] cmd(0x2, 1, 0x0, 0x0) = Success"]
    assert lines("d:led") == lines("driver=2")
    assert lines("p:7") == ["[7] cmd(0x1, 1, 0x0, 0x0) = Success"]
    assert lines("other") == lines("p:7")
    assert lines("p:a d:2") == ["[0] cmd(0x2, 1, 0x0, 0x0) = Success"]
    for bad in ("x:1", "d:", "d:12z"):
        with pytest.raises(ValueError, match=r"."):
            TraceFilter.parse(bad)
