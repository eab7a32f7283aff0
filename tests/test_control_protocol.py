"""The control protocol's table of ops and its one client (tockd/contract/control.py),
which the command line, the tests and the dashboard all frame requests with."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from tests.harness import app, board_toml, run_board
from tockd.cli import Client
from tockd.contract import wire
from tockd.contract.control import (
    ControlClient,
    ControlFailed,
    Disconnected,
    ReplyReader,
    check_reply,
)
from tockd.control import ControlServer
from tockd.control_ops import OPS, Command, Query, Session
from tockd.daemon import Daemon

#: every op the control socket knew before it was a table, in the order its unknown-op
#: error lists them: the table must answer exactly these
KNOWN_QUERIES = ("ps", "info", "mem", "sched", "grants", "snapshot", "ipc", "ping", "replay")
KNOWN_SESSION = ("subscribe", "readonly")
KNOWN_COMMANDS = (
    "stop",
    "start",
    "boot",
    "fault",
    "terminate",
    "restart",
    "button",
    "console",
    "pause",
    "resume",
    "step",
)


def test_the_table_states_each_op_as_a_query_a_command_or_a_session_op() -> None:
    assert {n for n, op in OPS.items() if isinstance(op, Query)} == set(KNOWN_QUERIES)
    assert {n for n, op in OPS.items() if isinstance(op, Session)} == set(KNOWN_SESSION)
    assert [n for n, op in OPS.items() if isinstance(op, Command)] == list(KNOWN_COMMANDS)
    assert all(op.name == name for name, op in OPS.items())


def _frames() -> list[object]:
    return [
        {"ok": True, "result": [1, 2, {"a": "b"}]},
        {"ok": False, "error": "no"},
        {"log": {"first": 1, "last": 2, "entries": b"\x92\x01\x02"}},
    ]


def test_a_reply_reader_gets_the_same_frames_wherever_the_bytes_are_cut() -> None:
    data = b"".join(wire.encode(f) for f in _frames())
    for cut in range(1, len(data)):
        reader = ReplyReader()
        reader.feed(data[:cut])
        got = reader.take_all()
        reader.feed(data[cut:])
        got += reader.take_all()
        assert got == _frames(), cut
        assert not reader.has_frame()


def test_a_reply_reader_refuses_a_closed_socket_and_a_bad_frame() -> None:
    with pytest.raises(Disconnected, match="closed"):
        ReplyReader().feed(b"")
    with pytest.raises(Disconnected, match="bad frame"):
        ReplyReader().feed(b"\xc1")  # a byte msgpack never uses


def test_check_reply_returns_successes_and_raises_the_daemons_reason() -> None:
    assert check_reply("ps", {"ok": True, "result": 3}) == {"ok": True, "result": 3}
    subscribed = {"ok": True, "result": "subscribed", "after": 41}
    assert check_reply("subscribe", subscribed)["after"] == 41
    with pytest.raises(ControlFailed) as failed:
        check_reply("stop", {"ok": False, "error": "no process named 'x'"})
    assert (failed.value.op, failed.value.error) == ("stop", "no process named 'x'")
    with pytest.raises(Disconnected, match="list"):
        check_reply("ps", [1])


async def test_a_read_only_connection_may_send_every_query_and_no_command() -> None:
    async def during(daemon: Daemon) -> None:
        server = ControlServer(daemon, Path("/nonexistent"))
        for name in KNOWN_COMMANDS:
            reply = await server.handle({"op": name, "name": "forever"}, readonly=True)
            assert reply == {"ok": False, "error": f"{name}: this connection is read-only"}
        for name in KNOWN_QUERIES:
            reply = await server.handle({"op": name, "name": "forever"}, readonly=True)
            assert reply["ok"] or "read-only" not in reply["error"], reply
        unknown = await server.handle({"op": "nope"})
        assert unknown["ok"] is False
        listed = ", ".join(KNOWN_QUERIES[:7] + KNOWN_SESSION + KNOWN_QUERIES[7:] + KNOWN_COMMANDS)
        assert unknown["error"] == f"unknown op 'nope' (known: {listed})"
        assert (await server.handle({"op": "terminate", "name": "forever"}))["ok"]

    run = await run_board(board_toml([app("tests.apps.forever")]), during=during)
    assert run.status == 0


@pytest.fixture
def sock_path() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="tc"))  # short: AF_UNIX paths are limited to 107 bytes
    yield d / "c.sock"
    shutil.rmtree(d)


def _talk(path: Path) -> dict[str, object]:
    """What the blocking clients see over the real socket (run in a worker thread)."""
    seen: dict[str, object] = {}
    client = ControlClient.connect(path)
    try:
        seen["ping"] = client.request("ping")
        with pytest.raises(ControlFailed) as failed:
            client.request("stop", name="nosuch")
        seen["failed"] = (failed.value.op, failed.value.error)
        seen["readonly"] = client.request("readonly")
        with pytest.raises(ControlFailed, match="read-only"):
            client.request("pause")
        client.send("subscribe", kinds=["syscall"])
        seen["subscribed"] = client.recv()
        seen["event"] = client.recv()
    finally:
        client.close()
    cli = Client(str(path))
    try:
        with pytest.raises(SystemExit) as exited:
            cli.request("nope")
        seen["exit"] = str(exited.value.code)
        seen["ps"] = [row["name"] for row in cli.request("ps")]
        seen["terminated"] = cli.request("terminate", name="forever")
    finally:
        cli.close()
    return seen


async def test_the_blocking_clients_speak_to_a_served_socket(sock_path: Path) -> None:
    seen: dict[str, object] = {}

    async def during(daemon: Daemon) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(ControlServer(daemon, sock_path).serve)
            seen.update(await trio.to_thread.run_sync(_talk, sock_path))
            nursery.cancel_scope.cancel()

    run = await run_board(board_toml([app("tests.apps.forever")]), during=during)
    assert run.status == 0
    assert seen["ping"] == "pong"
    op, reason = seen["failed"]  # type: ignore[misc]
    assert op == "stop" and "no process named 'nosuch'" in reason
    assert seen["readonly"] == "read-only"
    assert seen["subscribed"] == {"ok": True, "result": "subscribed"}
    event = seen["event"]
    assert isinstance(event, dict) and event["event"]["kind"] == "syscall"
    assert str(seen["exit"]).startswith("tockd: nope: unknown op 'nope'")
    assert seen["ps"] == ["forever"]
    assert seen["terminated"] == "Process forever terminated"
    assert not await trio.Path(sock_path).exists()  # the server removes its socket when it stops
