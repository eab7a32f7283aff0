"""SVG snapshots of the dashboard's screens, on a board whose state is deterministic,
at 120x40 and at 80x24 (the compact layout).

The board settles (buttons waits in yield, hello has exited, the crasher has faulted)
and is paused before the dashboard attaches; then the test presses button 0 and steps
two scheduling decisions, so the trace holds the same lines on every run. The dashboard
runs with `redact=True`: OS pids, CPU%, RSS, rates and clocks differ between runs and
are drawn as placeholders. A snapshot alone can pass for an app that crashed (its SVG is
then a blank screen), so each screen here is also checked with a Pilot (test_app.py,
test_layout.py, test_trace_pane.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from textual.pilot import Pilot

from tests.tui.conftest import SETTLING_BOARD, Daemon, drawn, settle, until
from tockd.tui.app import TockdApp
from tockd.tui.proctable import ProcessRows

SIZE = (120, 40)
SMALL = (80, 24)
Compare = Callable[..., bool]


def prepared(
    daemon: Daemon, tui: TockdApp, keys: Iterable[str] = ()
) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """A run_before: attach, press button 0, step twice, wait until every pane shows
    the last event, then press `keys`."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: tui.connected and tui.query_one(ProcessRows).cells, "attach")
        decisions = daemon.request("sched")["decisions"]
        daemon.request("button", index=0, pressed=True)
        for n in (1, 2):
            await pilot.press("n")
            await until(
                pilot, lambda n=n: daemon.request("sched")["decisions"] == decisions + n, "step"
            )
        last = daemon.request("snapshot")["seq"]

        def caught_up() -> bool:
            live = tui.history.live()
            return live is not None and live.seq >= last and tui.history.last_seq == last

        await until(pilot, caught_up, "the last event and keyframe")
        await until(pilot, lambda: drawn(tui), "the panes drawn from it")
        if keys:
            await pilot.press(*keys)
            await until(pilot, lambda: drawn(tui), "the panes drawn after the keys")

    return run_before


def test_main_screen(snap_compare: Compare, start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    tui = TockdApp(daemon.sock, redact=True)
    assert snap_compare(tui, terminal_size=SIZE, run_before=prepared(daemon, tui))


def test_time_travel_screen(snap_compare: Compare, start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    tui = TockdApp(daemon.sock, redact=True)
    keys = ["left_square_bracket"] * 3
    assert snap_compare(tui, terminal_size=SIZE, run_before=prepared(daemon, tui, keys))


def test_trace_filter_and_memory_of_another_process(
    snap_compare: Compare, start_daemon: Callable[[str], Daemon]
) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    tui = TockdApp(daemon.sock, redact=True)
    keys = ["down", "down", "slash", *"d:button", "enter"]
    assert snap_compare(tui, terminal_size=SIZE, run_before=prepared(daemon, tui, keys))


def test_help_screen(snap_compare: Compare, start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    tui = TockdApp(daemon.sock, redact=True)
    keys = ["question_mark"]
    assert snap_compare(tui, terminal_size=SIZE, run_before=prepared(daemon, tui, keys))


def test_trace_searched_and_zoomed(
    snap_compare: Compare, start_daemon: Callable[[str], Daemon]
) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    tui = TockdApp(daemon.sock, redact=True)
    keys = ["tab", "z", "ctrl+f", *"@0x40104(", "enter", "f3"]
    assert snap_compare(tui, terminal_size=SIZE, run_before=prepared(daemon, tui, keys))


def test_main_screen_80x24(snap_compare: Compare, start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    tui = TockdApp(daemon.sock, redact=True)
    assert snap_compare(tui, terminal_size=SMALL, run_before=prepared(daemon, tui))


def test_help_screen_80x24(snap_compare: Compare, start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    tui = TockdApp(daemon.sock, redact=True)
    keys = ["question_mark"]
    assert snap_compare(tui, terminal_size=SMALL, run_before=prepared(daemon, tui, keys))


def test_sorted_table_and_grants_80x24(
    snap_compare: Compare, start_daemon: Callable[[str], Daemon]
) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    tui = TockdApp(daemon.sock, redact=True)
    keys = [*["greater_than_sign"] * 4, "tab", "tab", "tab"]  # by State; the Grants pane
    assert snap_compare(tui, terminal_size=SMALL, run_before=prepared(daemon, tui, keys))
