"""Control requests against a live in-process daemon (handle() is what the socket calls),
the table of ops, and the client protocol both clients share (tockd/contract/control.py)."""

from __future__ import annotations

import select
import socket
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio

from tests.harness import app, board_toml, run_board
from tests.wait import wait_until
from tockd import control_stream
from tockd.contract import wire
from tockd.control import ControlServer
from tockd.daemon import Daemon
from tockd.records import read_log


def held_back(daemon: Daemon, name: str) -> bool:
    """Does the paused kernel hold process `name` back? Nothing is on the CPU, and the
    process waits on the kernel: its next syscall unread in its socket, or a reply or
    an upcall (its alarm fired) kept from it."""
    proc = daemon.kernel.find(name)
    assert proc is not None and proc.os is not None
    app_os = proc.os
    unread = bool(select.select([app_os.sock], [], [], 0)[0])
    return daemon.current is None and (unread or app_os.held is not None or bool(proc.queue))


async def test_pause_stops_syscalls_and_step_advances_exactly_one() -> None:
    async def during(daemon: Daemon) -> None:
        server = ControlServer(daemon, Path("/nonexistent"))
        assert (await server.handle({"op": "pause"}))["result"] is True
        ps = (await server.handle({"op": "ps"}))["result"]
        before = sum(r["syscalls"] for r in ps)
        decisions = daemon.decisions
        await wait_until(lambda: held_back(daemon, "forever"), "the kernel to hold forever")
        assert sum(r["syscalls"] for r in (await server.handle({"op": "ps"}))["result"]) == before
        assert daemon.decisions == decisions
        for _ in range(5):
            reply = await server.handle({"op": "step"})
            assert reply["ok"], reply
            await wait_until(lambda: daemon.steps == 0, "the step to be spent")
        assert daemon.decisions == decisions + 5
        bad = await server.handle({"op": "step", "count": 0})
        assert bad["ok"] is False
        assert (await server.handle({"op": "resume"}))["result"] is False
        assert (await server.handle({"op": "stop", "name": "forever"}))["ok"]
        assert (await server.handle({"op": "terminate", "name": "forever"}))["ok"]

    run = await run_board(board_toml([app("tests.apps.forever")]), during=during)
    assert run.status == 0


async def test_bad_requests_get_errors() -> None:
    async def during(daemon: Daemon) -> None:
        server = ControlServer(daemon, Path("/nonexistent"))
        for req in (
            [1],
            {"op": 3},
            {"op": "nope"},
            {"op": "stop"},
            {"op": "stop", "name": 7},
            {"op": "button", "index": "x"},
            {"op": "button", "index": 9},
            {"op": "console", "name": "forever", "text": 5},
        ):
            reply = await server.handle(req)
            assert reply["ok"] is False, req
            assert reply["error"]
        ro = await server.handle({"op": "stop", "name": "forever"}, readonly=True)
        assert "read-only" in ro["error"]
        assert (await server.handle({"op": "terminate", "name": "forever"}))["ok"]

    await run_board(board_toml([app("tests.apps.forever")]), during=during)


#: events the slow subscriber lets go by before it reads: many 20 ms frames' worth
SLOW_SUBSCRIBER_BEHIND = 4000


async def _read_slowly(daemon: Daemon) -> tuple[int, list[dict[str, Any]]]:
    """Subscribe to the packed stream over a socket pair with buffers of a few KiB, read
    nothing until the kernel is `SLOW_SUBSCRIBER_BEHIND` events further, then read up to
    there. Returns the subscribe reply's `after` and the frames' `log` maps, each checked
    to carry events in order within its `first`..`last`, and to follow the one before."""
    ours, theirs = trio.socket.socketpair()
    for sock in (ours, theirs):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client, server = trio.SocketStream(ours), trio.SocketStream(theirs)
    req = {"op": "subscribe", "packed": True, "interval_ms": 0}
    decoder = wire.FrameDecoder(max_frame=64 << 20)
    frames: list[Any] = []

    async def more() -> Any:
        while not frames:
            decoder.feed(await client.receive_some(1 << 16))
            frames.extend(decoder.frames())
        return frames.pop(0)

    logs: list[dict[str, Any]] = []
    async with client, server, trio.open_nursery() as nursery:
        nursery.start_soon(control_stream.stream_events, daemon, server, req)
        reply = await more()
        assert reply["ok"] and type(reply["after"]) is int
        # not reading: the kernel goes on, the daemon's queue and the socket fill
        target = daemon.kernel.events.seq + SLOW_SUBSCRIBER_BEHIND
        await wait_until(lambda: daemon.kernel.events.seq >= target, "the kernel to go on")
        names: list[str] = []
        reached = reply["after"]
        while reached < target:
            log = (await more())["log"]
            assert log["first"] == reached + 1
            names = log.get("names", names)
            log["events"] = read_log(log["first"], msgpack.unpackb(log["entries"]), names)
            seqs = [e["seq"] for e in log["events"]]
            assert seqs == sorted(set(seqs)) and all(reached < s <= log["last"] for s in seqs)
            reached = log["last"]
            logs.append(log)
        nursery.cancel_scope.cancel()
    stop = await ControlServer(daemon, Path("/nonexistent")).handle(
        {"op": "terminate", "name": "spin"}
    )
    assert stop["ok"]
    return reply["after"], logs


async def test_a_packed_subscriber_that_stops_reading_loses_no_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A packed subscriber that falls behind once lost whole frames (a queue of 16, then
    each new frame dropped): a dashboard folding events into boards then showed every
    process a few syscalls short. With a queue of one frame and socket buffers of a few
    KiB the daemon is stuck sending at once; every event must still arrive, in order,
    from the one after the subscribe reply's `after`."""
    monkeypatch.setattr(control_stream, "PACKED_QUEUE", 1)
    got: list[int] = []
    after = -1

    async def during(daemon: Daemon) -> None:
        nonlocal after
        after, logs = await _read_slowly(daemon)
        got.extend(e["seq"] for log in logs for e in log["events"])

    run = await run_board(board_toml([app("apps_py.spin")]), during=during)
    assert run.status == 0
    assert got == list(range(after + 1, after + 1 + len(got)))
    assert len(got) >= SLOW_SUBSCRIBER_BEHIND


async def test_a_subscriber_too_far_behind_is_told_what_it_missed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past `PACKED_MOST` log entries the daemon gives a stalled subscriber's events up
    (it must not hold them forever), but the next frame still covers their seqs, so the
    subscriber knows how many it missed and where."""
    monkeypatch.setattr(control_stream, "PACKED_QUEUE", 1)
    monkeypatch.setattr(control_stream, "PACKED_MOST", 64)
    logs: list[dict[str, Any]] = []

    async def during(daemon: Daemon) -> None:
        logs.extend((await _read_slowly(daemon))[1])

    run = await run_board(board_toml([app("apps_py.spin")]), during=during)
    assert run.status == 0
    covered = sum(log["last"] - log["first"] + 1 for log in logs)
    received = sum(len(log["events"]) for log in logs)
    assert covered >= SLOW_SUBSCRIBER_BEHIND and received < covered


async def test_a_process_that_answers_at_once_is_seen_on_the_cpu() -> None:
    """A process that never yields and answers each syscall at once holds the CPU nearly
    all the time; a control request must be able to see that. The kernel loop lets the
    daemon's other tasks in while such a process keeps the CPU (tockd/daemon/loop.py,
    SHARE_LOOP_S), not only between turns, when nothing is on the CPU."""
    samples: list[bool] = []

    async def during(daemon: Daemon) -> None:
        server = ControlServer(daemon, Path("/nonexistent"))
        await wait_until(lambda: daemon.kernel.processes[0].syscall_count > 1000, "spin to spin")
        for _ in range(100):
            sched = (await server.handle({"op": "sched"}))["result"]
            samples.append(sched["current"] is not None)
            await trio.sleep(0.001)
        assert (await server.handle({"op": "terminate", "name": "spin"}))["ok"]

    run = await run_board(board_toml([app("apps_py.spin")]), during=during)
    assert run.status == 0
    # before the loop shared itself, about one request in ten saw spin on the CPU
    assert sum(samples) >= 50, f"spin seen on the CPU in {sum(samples)} of 100 requests"
