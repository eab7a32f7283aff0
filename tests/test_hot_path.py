"""The daemon's syscall hot path: split frames, cached replies, the short wait."""

from __future__ import annotations

import msgpack

from tests.harness import app, board_toml, run_board
from tockd.kernel.abi import FRAME_RETURN


async def test_a_frame_that_arrives_a_byte_at_a_time_is_one_syscall() -> None:
    run = await run_board(board_toml([app("tests.apps.dribble")], leds=4))
    assert run.faults() == []
    assert run.console["dribble"] == "dribbled\n"
    leds = [e for e in run.syscalls("dribble", 2) if e["args"][0] == 2]
    assert len(leds) == 4 and all(e["rv"] == [129, 4, 0, 0] for e in leds)


async def test_every_cached_reply_encodes_exactly_its_registers() -> None:
    # the ABI app checks every return variant and value it gets back
    run = await run_board(board_toml([app("tests.apps.abi")], abi_echo=True))
    assert run.faults() == []
    assert run.console["abi"].endswith("ABI OK\n")
    cache = run.daemon.hot.replies
    assert len(cache) > 10
    for registers, data in cache.items():
        assert msgpack.unpackb(data) == [FRAME_RETURN, *registers]
