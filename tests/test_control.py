"""Control requests against a live in-process daemon (handle() is what the socket calls)."""

from __future__ import annotations

from pathlib import Path

import trio

from tests.harness import app, board_toml, run_board
from tockd.control import ControlServer
from tockd.daemon import Daemon


async def test_pause_stops_syscalls_and_step_advances_exactly_one() -> None:
    async def during(daemon: Daemon) -> None:
        server = ControlServer(daemon, Path("/nonexistent"))
        assert (await server.handle({"op": "pause"}))["result"] is True
        await trio.sleep(0.2)
        ps = (await server.handle({"op": "ps"}))["result"]
        before = sum(r["syscalls"] for r in ps)
        decisions = daemon.decisions
        await trio.sleep(0.2)
        assert sum(r["syscalls"] for r in (await server.handle({"op": "ps"}))["result"]) == before
        for _ in range(5):
            reply = await server.handle({"op": "step"})
            assert reply["ok"], reply
            await trio.sleep(0.05)
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
