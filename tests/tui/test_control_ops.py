"""The control-socket additions the dashboard relies on: `snapshot` and `grants`, and the
`packed`/`interval_ms`/`kinds` fields of `subscribe`, each validated like a syscall."""

from __future__ import annotations

import select
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

from tests.harness import app, board_toml, run_board
from tests.tui.conftest import Daemon
from tests.wait import wait_for, wait_until
from tockd.contract import wire
from tockd.contract.control import ControlClient
from tockd.control import ControlServer
from tockd.control_views import grant_rows
from tockd.daemon import Daemon as KernelDaemon
from tockd.records import read_log

SPIN = board_toml([app("apps_py.spin"), app("tests.apps.forever")], name="spin", mpu="cortex-m")


async def test_snapshot_is_one_consistent_instant_and_validates_mem() -> None:
    async def during(daemon: KernelDaemon) -> None:
        server = ControlServer(daemon, Path("/nonexistent"))
        forever = daemon.kernel.processes[1]
        await wait_until(
            lambda: {g["capsule"] for g in grant_rows(daemon, forever)} >= {"Alarm", "Console"},
            "forever's alarm and console grants",
        )
        snap = (await server.handle({"op": "snapshot", "mem": "all"}))["result"]
        assert snap["seq"] == daemon.kernel.events.seq
        assert {"info", "sched", "capsules", "processes", "now_us"} <= snap.keys()
        assert [m["index"] for m in snap["mem"]] == [0, 1]
        assert {"decisions", "run_queue", "paused", "kind"} <= snap["sched"].keys()
        names = {c["name"] for c in snap["capsules"]}
        assert {"Console", "Alarm", "Led", "Ipc"} <= names
        forever = snap["processes"][1]
        assert {g["capsule"] for g in forever["grant_list"]} >= {"Alarm", "Console"}
        one = (await server.handle({"op": "snapshot", "mem": "forever"}))["result"]
        assert [m["index"] for m in one["mem"]] == [1]
        assert (await server.handle({"op": "snapshot"}))["result"]["mem"] == []
        for bad in (7, "nosuch", 1.5, ["all"]):
            reply = await server.handle({"op": "snapshot", "mem": bad})
            assert (reply["ok"] is False and "mem" in reply["error"]) or "no process" in reply[
                "error"
            ], reply
        grants = (await server.handle({"op": "grants"}))["result"]
        assert grants["processes"][1]["grants"] == forever["grant_list"]
        assert (await server.handle({"op": "terminate", "name": "spin"}))["ok"]
        assert (await server.handle({"op": "terminate", "name": "forever"}))["ok"]

    apps = [app("apps_py.spin", args={"every_ms": 5}), app("tests.apps.forever")]
    run = await run_board(board_toml(apps, mpu="cortex-m"), during=during)
    assert run.status == 0


def _connect(daemon: Daemon) -> ControlClient:
    """A client on the protocol the CLI and the dashboard share; a stopped daemon fails
    the test instead of hanging it."""
    client = ControlClient.connect(daemon.sock)
    client.sock.settimeout(10)
    return client


def test_subscribe_fields_are_validated(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SPIN)
    for bad in (
        {"kinds": "syscall"},
        {"kinds": [{}]},  # unhashable: once a TypeError that could reach the daemon
        {"interval_ms": -1},
        {"interval_ms": 1001},
        {"interval_ms": "10"},
        {"packed": 1},
    ):
        client = _connect(daemon)
        try:
            client.send("subscribe", **bad)
            reply = client.recv()
        finally:
            client.close()
        assert reply["ok"] is False and "subscribe" in reply["error"], bad
    assert daemon.request("ping") == "pong"


def test_packed_stream_carries_every_event_in_order(
    start_daemon: Callable[[str], Daemon],
) -> None:
    daemon = start_daemon(SPIN)
    client = _connect(daemon)
    try:
        client.send("subscribe", packed=True, interval_ms=50)
        reply = client.recv()
        assert reply == {"ok": True, "result": "subscribed", "after": reply["after"]}
        seqs: list[int] = []
        names: list[str] = []
        while True:
            log = client.recv()["log"]
            names = log.get("names", names)
            assert names[:2] == ["spin", "forever"]
            events = read_log(log["first"], msgpack.unpackb(log["entries"]), names)
            assert (events[0]["seq"], events[-1]["seq"]) == (log["first"], log["last"])
            assert {e["name"] for e in events if e["kind"] == "syscall"} <= {"spin", "forever"}
            seqs += [e["seq"] for e in events]
            if len(seqs) > 5000:
                break
    finally:
        client.close()
    # the stream starts right after the event the reply named, and has no hole
    assert seqs == list(range(reply["after"] + 1, reply["after"] + 1 + len(seqs)))
    assert daemon.request("ping") == "pong"


def test_subscribers_leaving_a_busy_board_never_hurt_the_daemon(
    start_daemon: Callable[[str], Daemon],
) -> None:
    """A subscriber closing while the kernel emits thousands of events a second once
    raised BrokenResourceError inside the kernel loop and stopped the daemon."""
    daemon = start_daemon(SPIN)
    wait_for(lambda: daemon.syscalls()["spin"] > 1000, "a busy board")
    for i in range(12):
        req: dict[str, Any] = {"op": "subscribe"}
        if i % 2:
            req.update(packed=True, interval_ms=20)
        elif i % 3 == 0:
            req.update(kinds=["syscall"])
        s = _connect(daemon).sock
        s.sendall(wire.encode(req))
        s.recv(1 << 16)
        wait_for(lambda s=s: select.select([s], [], [], 0)[0], "events on their way")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # with unread data: a reset, mid-send
    # thousands more syscalls, each streamed to every subscriber, the closed ones too
    before = daemon.syscalls()["spin"]
    wait_for(lambda: daemon.syscalls()["spin"] > before + 2000, "the board running on")
    assert daemon.proc.poll() is None
