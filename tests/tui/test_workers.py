"""A worker the dashboard asks for but that never starts (the app is quitting) leaves
no coroutine behind un-awaited: the dashboard hands Textual the coroutine function, and
the coroutine is made only when the worker runs. Once, a snapshot worker asked for
at the last refresh before quitting warned "coroutine 'Dashboard._snapshot' was never
awaited" into whatever ran next."""

from __future__ import annotations

import gc
import warnings

from tests.tui.conftest import run_async
from tockd.tui.app import TockdApp


def test_workers_asked_for_while_quitting_leave_no_coroutine() -> None:
    tui = TockdApp("/nonexistent/tockd.sock")

    async def body() -> None:
        async with tui.run_test(size=(120, 40)):
            tui.connected = True  # as if attached: the refresh asks for a snapshot
            tui._want_snapshot = True
            tui.exit()
            tui._tick()  # the snapshot worker, asked for as the app quits
            tui.action_button()  # a command worker, likewise

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_async(body)
        gc.collect()
    never_awaited = [w for w in caught if "never awaited" in str(w.message)]
    assert never_awaited == [], [str(w.message) for w in never_awaited]
