"""The dashboard's history is complete: every board it shows is one the kernel had.

Two ways it was not (the time-travel flake, tests/tui/test_app.py): the packed stream
dropped whole frames for a dashboard that fell behind, and a snapshot that overtook the
events before it became a keyframe at once. Either way the board at an earlier event was
folded from too few events, a few syscalls short for every process. Both are forced here
against a real daemon: a dashboard that stops reading while a busy board runs on, and a
dashboard whose stream is slower than its snapshots.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.harness import app, board_toml
from tests.tui.conftest import Daemon, run_async, until, wait_for
from tests.tui.test_app import FOREVERS, SIZE, attached, live
from tockd.tui.app import TockdApp
from tockd.tui.board import Board
from tockd.tui.fold import apply
from tockd.tui.history import History

#: two busy apps: a packed frame of theirs fills a socket buffer by itself
BUSY = board_toml([app("apps_py.spin", name=n) for n in ("spin0", "spin1")], mpu="cortex-m")
#: events the kernel emits while the dashboard does not read: far more than the daemon's
#: frame queue (PACKED_QUEUE frames of 20 ms) and the socket's buffers hold
STALL_EVENTS = 60_000
#: the slowest stream a dashboard can ask for: snapshots overtake its events every time
SLOW_STREAM_MS = 1000


def folded(history: History, start: Board, upto: int) -> Board:
    """`start` with every event the history holds after it, up to `upto`, folded in."""
    board = start.copy()
    for ev in history.events_between(start.seq, upto):
        apply(board, ev)
    return board


def syscalls(board: Board) -> list[tuple[int, int]]:
    return [(p.process_id, p.syscalls) for p in board.procs]


def assert_complete(tui: TockdApp) -> None:
    """No event missed, no keyframe beyond the stream, and every keyframe is what the
    first keyframe with the events after it says."""
    h = tui.history
    assert h.missed == 0
    assert h.stream_seq is not None and all(k.seq <= h.stream_seq for k in h.keyframes)
    first = h.keyframes[0]
    for kf in h.keyframes[1:]:
        assert syscalls(folded(h, first, kf.seq)) == syscalls(kf), kf.seq


def test_a_dashboard_that_stops_reading_misses_no_event(
    start_daemon: Callable[[str], Daemon],
) -> None:
    daemon = start_daemon(BUSY)
    tui = TockdApp(daemon.sock, interval_ms=0)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui), "attached")
            # the dashboard's loop is held here: it reads nothing while the board runs on
            target = daemon.request("snapshot")["seq"] + STALL_EVENTS
            wait_for(lambda: daemon.request("snapshot")["seq"] >= target, "a busy board")
            daemon.request("pause")
            await until(pilot, lambda: live(tui).sched.paused, "paused")
            assert live(tui).seq >= target
            assert_complete(tui)

    run_async(body)


def test_snapshots_overtaking_a_slow_stream_wait_for_it(
    start_daemon: Callable[[str], Daemon],
) -> None:
    daemon = start_daemon(FOREVERS)
    tui = TockdApp(daemon.sock, interval_ms=SLOW_STREAM_MS)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui), "attached")
            truth = daemon.request("snapshot")
            daemon.request("pause")
            await until(pilot, lambda: live(tui).sched.paused, "paused")
            tui.viewing = truth["seq"]
            board = tui.board()
            assert board is not None
            assert [(p.process_id, p.state, p.syscalls) for p in board.procs] == [
                (r["process_id"], r["state"], r["syscalls"]) for r in truth["processes"]
            ]
            assert_complete(tui)

    run_async(body)
