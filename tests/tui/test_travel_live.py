"""Forward never leaves the live view: `]` or `}` at live stay live, and stepping
forward onto the newest event comes back to live (once, `]` at live jumped into the
past and stepping forward never came back)."""

from __future__ import annotations

from collections.abc import Callable

from tests.tui.conftest import Daemon, run_async, until
from tests.tui.test_app import FOREVERS, SIZE, attached, caught_up, live
from tockd.tui.app import TockdApp
from tockd.tui.panes import PastBanner

FORWARD = ("right_square_bracket", "right_curly_bracket")


def test_forward_at_live_stays_live_and_reaching_the_newest_is_live(
    start_daemon: Callable[[str], Daemon],
) -> None:
    daemon = start_daemon(FOREVERS)
    tui = TockdApp(daemon.sock)

    def is_live() -> bool:
        return tui.viewing is None and not tui.query_one(PastBanner).display

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui) and len(tui.history.keyframes) > 2, "events")
            daemon.request("pause")
            await until(pilot, lambda: live(tui).sched.paused, "paused")
            await until(pilot, caught_up(tui, daemon), "every event")
            for key in FORWARD:  # at live: nothing to go forward to
                await pilot.press(key)
                assert is_live(), key
                assert not tui.screen.has_class("past")
            await pilot.press("left_square_bracket")
            assert tui.viewing == tui.history.step(tui.history.last_seq or 0, -1)
            await pilot.press("right_square_bracket")  # onto the newest event: live
            assert is_live()
            await pilot.press(*["left_square_bracket"] * 3)
            for _ in range(2):
                await pilot.press("right_square_bracket")
                assert tui.viewing is not None  # still in the past
            await pilot.press("right_square_bracket")
            assert is_live()
            await pilot.press("left_curly_bracket", "left_curly_bracket")
            assert tui.viewing is not None
            for _ in range(3):  # keyframe by keyframe, and past the last: live
                await pilot.press("right_curly_bracket")
            assert is_live()

    run_async(body)
