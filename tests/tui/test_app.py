"""The dashboard against real daemons, driven headless with a Pilot.

Each test checks what the dashboard shows against the kernel itself, read through an
independent control-socket client. (Textual tests are plain `def` tests running their
body with asyncio: pytest-trio owns `async def` tests.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.widgets import Input

from tests.harness import app, board_toml
from tests.tui.conftest import (
    ROOT,
    SETTLING_BOARD,
    Daemon,
    NotYet,
    drawn,
    run_async,
    settle,
    until,
    wait_for,
)
from tockd.tui.app import TockdApp
from tockd.tui.board import Board
from tockd.tui.panes import HelpScreen, PastBanner, StatusLine
from tockd.tui.proctable import ProcessRows
from tockd.tui.tracepane import TracePane

SPIN = board_toml([app("apps_py.spin")], name="spin", mpu="cortex-m")
FOREVERS = board_toml(
    [app("tests.apps.forever", name=n) for n in ("alpha", "beta", "gamma")],
    name="forevers",
    mpu="cortex-m",
)
SIZE = (120, 40)


def live(tui: TockdApp) -> Board:
    """The dashboard's newest keyframe; NotYet (false inside `until`) before the first."""
    board = tui.history.live()
    if board is None:
        raise NotYet("no keyframe yet")
    return board


def status(tui: TockdApp) -> str:
    return str(tui.query_one(StatusLine).render())


def trace_lines(tui: TockdApp) -> list[str]:
    return str(tui.query_one("#trace-body").render()).splitlines()


def attached(tui: TockdApp) -> bool:
    """Connected, and the process table drawn from the first keyframe."""
    return tui.connected and len(tui.query_one(ProcessRows).cells) > 0


def shown_lines(tui: TockdApp) -> list[str]:
    """The trace pane's lines, if it shows trace lines (not "no matching lines")."""
    lines = trace_lines(tui)
    return lines if lines and lines[0].startswith("[") else []


def moved_on(daemon: Daemon, counts: list[int]) -> Callable[[], dict[str, Any] | None]:
    """A condition: the kernel's snapshot, once every process has made more syscalls
    than `counts`."""

    def snapshot() -> dict[str, Any] | None:
        snap: dict[str, Any] = daemon.request("snapshot")
        now = [r["syscalls"] for r in snap["processes"]]
        return snap if all(a > b for a, b in zip(now, counts, strict=True)) else None

    return snapshot


def nothing_to_ask(tui: TockdApp) -> bool:
    """The dashboard has no reason left to ask for a keyframe: none in flight or
    wanted, every event it received is in one, and the quiet keyframe (one more after
    the last event, QUIET_S later) is taken. On a paused board it asks nothing more."""
    return not (
        tui._snapshot_busy
        or tui._want_snapshot
        or tui._quiet_pending
        or tui._seen != tui.history.received
    )


def count_refreshes(tui: TockdApp) -> list[int]:
    """Count the dashboard's refreshes (its 4 Hz timer and the redraws keys ask for):
    call before it mounts; the count is the list's one item."""
    ticks = [0]
    tick = tui._tick

    def counted() -> None:
        ticks[0] += 1
        tick()

    tui._tick = counted  # type: ignore[method-assign]
    return ticks


def caught_up(tui: TockdApp, daemon: Daemon) -> Callable[[], bool]:
    """A condition: the dashboard's newest keyframe includes every event the kernel has
    emitted up to now (on a paused board nothing more happens)."""
    target = daemon.request("snapshot")["seq"]

    def done() -> bool:
        board = tui.history.live()
        return board is not None and board.seq >= target

    return done


def test_process_table_shows_the_real_pids(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(FOREVERS)
    pids = wait_for(lambda: len(daemon.app_pids()) == 3 and daemon.app_pids(), "three apps")
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            rows = tui.query_one(ProcessRows)
            await until(pilot, lambda: len(rows.cells) == 3, "three rows")
            shown = {p.os_pid for p in live(tui).procs}
            assert shown == pids
            for i, p in enumerate(live(tui).procs):
                text = rows.row_text(i)
                assert str(p.os_pid) in text and p.name in text, text
            # the daemon's ProcessId is the trace's [pid]
            assert [p.process_id for p in live(tui).procs] == [
                r["process_id"] for r in daemon.request("ps")
            ]

    run_async(body)


def test_pausing_stops_syscalls_and_resuming_starts_them(
    start_daemon: Callable[[str], Daemon],
) -> None:
    daemon = start_daemon(SPIN)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: tui.connected and live(tui).procs[0].syscalls > 0, "spin")
            await pilot.press("p")
            await until(pilot, lambda: live(tui).sched.paused, "the board paused")
            assert "scheduler paused" in status(tui)
            before = daemon.syscalls()
            await until(pilot, daemon.parked, "the kernel to hold spin")
            # catching up takes the dashboard an event batch and a refresh: spin, were it
            # running, would make thousands of syscalls meanwhile
            await until(pilot, caught_up(tui, daemon), "a keyframe")
            assert daemon.syscalls() == before
            assert live(tui).procs[0].syscalls == before["spin"]
            await until(pilot, lambda: drawn(tui), "the panes drawn from it")
            assert "PAUSED" in str(tui.query_one("#scheduler").render())
            await pilot.press("p")
            await until(pilot, lambda: not live(tui).sched.paused, "the board running")
            await until(pilot, lambda: daemon.syscalls()["spin"] > before["spin"], "syscalls")

    run_async(body)


def test_stepping_advances_exactly_one_decision(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SPIN)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui), "attached")
            await pilot.press("n")  # not paused yet: the daemon refuses, the TUI says why
            await until(pilot, lambda: "pause the scheduler first" in status(tui), "refusal")
            await pilot.press("p")
            await until(pilot, lambda: live(tui).sched.paused, "paused")
            decisions = daemon.request("sched")["decisions"]
            syscalls = daemon.syscalls()["spin"]
            await until(pilot, caught_up(tui, daemon), "a keyframe")
            seen = tui.history.last_seq
            assert seen is not None
            await pilot.press("n")
            await until(
                pilot, lambda: daemon.request("sched")["decisions"] == decisions + 1, "a step"
            )
            await until(pilot, daemon.parked, "the step spent, and nothing more to run")
            assert daemon.request("sched")["decisions"] == decisions + 1
            assert daemon.syscalls()["spin"] == syscalls + 1
            # the dashboard saw exactly that one syscall, and shows it last in the trace
            await until(pilot, lambda: (tui.history.last_seq or 0) > seen, "the event")
            await until(pilot, caught_up(tui, daemon), "a keyframe")
            new = list(tui.history.events_between(seen, tui.history.last_seq or 0))
            assert [e["kind"] for e in new].count("syscall") == 1, new
            await until(pilot, lambda: drawn(tui), "the panes drawn from it")
            assert trace_lines(tui)[-1].startswith("[0] cmd(0x2, 0, 0x0, 0x0) = SuccessU32(")
            assert live(tui).procs[0].syscalls == syscalls + 1
            assert "step" in status(tui)

    run_async(body)


def test_restart_from_the_tui_restarts_the_process(
    start_daemon: Callable[[str], Daemon],
) -> None:
    daemon = start_daemon(FOREVERS)
    wait_for(lambda: len(daemon.app_pids()) == 3, "three apps")
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui), "attached")
            await pilot.press("down")  # beta
            await until(pilot, lambda: tui.selected == 1, "beta selected")
            before = live(tui).procs[1]
            await pilot.press("r")
            await until(pilot, lambda: live(tui).procs[1].restarts == 1, "a restart")
            after = wait_for(lambda: daemon.request("ps")[1], "ps")
            assert after["restarts"] == 1
            assert after["process_id"] != before.process_id
            await until(
                pilot,
                lambda: live(tui).procs[1].os_pid not in (None, before.os_pid),
                "a new OS process",
            )
            assert live(tui).procs[1].process_id == after["process_id"]
            assert "Process beta restarted" in status(tui)
            assert [p.restarts for p in live(tui).procs] == [0, 1, 0]

    run_async(body)


def test_stop_start_fault_terminate_and_button_keys(
    start_daemon: Callable[[str], Daemon],
) -> None:
    board = board_toml(
        [
            app("tests.apps.forever", name="alpha"),
            app("tests.apps.forever", name="beta"),
            app("apps_py.buttons", name="buttons"),
        ],
        name="keys",
        mpu="cortex-m",
        buttons=1,
    )
    daemon = start_daemon(board)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui), "attached")
            await pilot.press("s")
            await until(pilot, lambda: daemon.state(0).startswith("Stopped"), "alpha stopped")
            await until(pilot, lambda: live(tui).procs[0].state.startswith("Stopped"), "shown")
            await pilot.press("s")  # on a stopped process: start it again
            await until(pilot, lambda: not live(tui).procs[0].state.startswith("Stopped"), "go")
            assert not daemon.state(0).startswith("Stopped")
            await pilot.press("down", "f", "y")  # f asks first (test_meaning.py)
            await until(pilot, lambda: live(tui).procs[1].state == "Faulted", "beta faulted")
            assert daemon.state(1) == "Faulted"
            assert "Process beta now faulted" in status(tui)
            await pilot.press("up", "t", "y")
            await until(pilot, lambda: live(tui).procs[0].state == "Terminated", "terminated")
            assert daemon.state(0) == "Terminated"
            await pilot.press("b")
            await until(pilot, lambda: "released" in status(tui), "the button")
            assert "(1 notified)" in status(tui)
            await until(
                pilot,
                lambda: any(
                    e["kind"] == "button"
                    for e in tui.history.events_before(tui.history.last_seq or 0, 500)
                ),
                "the button event",
            )

    run_async(body)


def test_trace_filter_by_process_and_driver(start_daemon: Callable[[str], Daemon]) -> None:
    board = board_toml(
        [app("apps_py.spin", args={"every_ms": 5}), app("tests.apps.forever", name="forever")],
        name="mixed",
        mpu="cortex-m",
    )
    daemon = start_daemon(board)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui) and tui.history.received > 100, "events")
            forever = live(tui).procs[1].process_id
            await pilot.press("slash")
            await pilot.press(*"p:forever", "enter")
            await until(pilot, lambda: "filter: p:forever" in status(tui), "the filter")
            lines = await until(pilot, lambda: trace_lines(tui)[-3:] or None, "lines")
            lines = trace_lines(tui)
            assert lines and all(line.startswith(f"[{forever}] ") for line in lines), lines
            assert "(filter: p:forever)" in str(tui.query_one(TracePane).border_title)
            await pilot.press("slash")
            tui.query_one("#trace-filter", Input).value = "d:led"
            await pilot.press("enter")
            await until(pilot, lambda: "filter: d:led" in status(tui), "the driver filter")
            lines = await until(pilot, lambda: shown_lines(tui), "the LED lines")
            assert all(line.split("] ", 1)[1].startswith("cmd(0x2,") for line in lines)
            await pilot.press("slash")
            tui.query_one("#trace-filter", Input).value = "x:1"
            await pilot.press("enter")
            await until(pilot, lambda: "use p:PROCESS or d:DRIVER" in status(tui), "an error")
            await pilot.press("escape")
            await pilot.press("slash", "ctrl+a", "ctrl+k", "enter")  # empty: everything
            await until(pilot, lambda: "trace filter: off" in status(tui), "no filter")

    run_async(body)


def test_time_travel_shows_the_board_as_it_was(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(FOREVERS)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui), "attached")
            # the kernel's own account at two moments, taken behind the dashboard's back,
            # each once every process has made syscalls since the moment before
            truths: list[dict[str, Any]] = []
            counts = [p.syscalls for p in live(tui).procs]
            for _ in range(2):
                truth = await until(pilot, moved_on(daemon, counts), "every app to move on")
                truths.append(truth)
                counts = [r["syscalls"] for r in truth["processes"]]
            # `}` from the oldest event lands on the second keyframe only if it is not the
            # newest position (moving onto that is live again): have a third one
            await until(pilot, lambda: len(tui.history.keyframes) >= 3, "three keyframes")
            daemon.request("pause")
            await until(pilot, lambda: live(tui).sched.paused, "paused")
            for truth in truths:
                tui.viewing = truth["seq"]
                board = tui.board()
                assert board is not None
                shown = [(p.process_id, p.state, p.syscalls, p.queue) for p in board.procs]
                real = [
                    (r["process_id"], r["state"], r["syscalls"], r["queue"])
                    for r in truth["processes"]
                ]
                assert shown == real, (truth["seq"], tui.history.missed)
            await pilot.press("end")
            assert tui.viewing is None
            banner = tui.query_one(PastBanner)
            assert not banner.display
            await pilot.press("left_square_bracket")
            assert tui.viewing is not None and banner.display
            assert "VIEWING THE PAST" in str(banner.render())
            assert tui.screen.has_class("past")
            here = tui.viewing
            await pilot.press("left_square_bracket", "left_square_bracket")
            assert tui.viewing == tui.history.step(here, -2)
            await pilot.press("right_square_bracket")
            assert tui.viewing == tui.history.step(here, -1)
            await pilot.press("home")
            assert tui.viewing == tui.history.start_seq
            await pilot.press("right_curly_bracket")
            assert tui.viewing == tui.history.keyframes[1].seq
            await pilot.press("end")
            assert tui.viewing is None and not banner.display
            assert not tui.screen.has_class("past")

    run_async(body)


def test_time_travel_shows_ipc_as_it_was(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon((ROOT / "configs/rot13.toml").read_text(), "--paused")
    tui = TockdApp(daemon.sock)

    def ipc_pane() -> str:
        return str(tui.query_one("#ipc").render())

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui), "attached")
            first = tui.history.start_seq
            assert "services (0)" in ipc_pane()
            daemon.request("resume")
            # the client shares its buffer and subscribes as a client in either order:
            # wait for both (and the service), not for the first of them
            await until(
                pilot,
                lambda: all(
                    part in ipc_pane()
                    for part in ("shared buffers (1)", "services (1)", "rot13_client → ")
                ),
                "the service, the client and its shared buffer",
            )
            daemon.request("pause")
            await until(pilot, lambda: live(tui).sched.paused, "paused")
            await pilot.press("home")
            assert tui.viewing == first
            assert "services (0)" in ipc_pane() and "shared buffers (0)" in ipc_pane()
            await pilot.press("right_square_bracket")
            assert f"as at event #{first}, the keyframe before" in ipc_pane()
            await pilot.press("end")
            assert "shared buffers (1)" in ipc_pane() and "as at event" not in ipc_pane()

    run_async(body)


def test_a_settled_board_its_panes_no_polling_and_help(
    start_daemon: Callable[[str], Daemon],
) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    tui = TockdApp(daemon.sock)
    ticks = count_refreshes(tui)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui), "attached")
            states = [p.state for p in live(tui).procs]
            assert states == ["Yielded", "Terminated", "Faulted"]
            buttons = live(tui).procs[0]
            assert {g.capsule for g in buttons.grants} >= {"Button", "Console"}
            memory = str(tui.query_one("#memory-body").render())
            assert "app memory" in memory and "grant block" in memory and "MPU#0" in memory
            assert "services (0)" in str(tui.query_one("#ipc").render())
            # nothing happens on a paused board, so nothing is asked: no polling (also
            # after commands, which ask for one keyframe each)
            await pilot.press("p")
            await until(pilot, lambda: not live(tui).sched.paused, "running")
            await pilot.press("p")
            await until(pilot, lambda: live(tui).sched.paused, "paused")
            await until(pilot, lambda: nothing_to_ask(tui), "the one keyframe after the last")
            asked, since = tui.snapshots, ticks[0]
            await until(pilot, lambda: ticks[0] >= since + 4, "four more refreshes")
            assert tui.snapshots == asked
            await pilot.press("question_mark")
            assert isinstance(tui.screen, HelpScreen)
            assert "time travel" in str(tui.screen.query_one("#help-body").render())
            await pilot.press("escape")
            assert not isinstance(tui.screen, HelpScreen)

    run_async(body)


def test_the_daemon_going_away_keeps_the_history(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(FOREVERS)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: tui.connected and tui.history.received > 10, "events")
            daemon.stop()
            await until(pilot, lambda: tui.disconnected, "the disconnect")
            assert "disconnected" in status(tui)
            await pilot.press("r")
            await until(pilot, lambda: "not connected" in status(tui), "a refusal")
            await pilot.press("left_square_bracket")
            assert tui.viewing is not None and tui.board() is not None
            await pilot.press("q")
        assert tui.return_code in (None, 0)

    run_async(body)


def test_a_dashboard_with_no_daemon_says_so(tmp_path: object) -> None:
    tui = TockdApp("/nonexistent/tockd.sock")

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: tui.disconnected, "the failure")
            assert "cannot connect" in status(tui)
            started = time.monotonic()
            await pilot.press("p", "n", "left_square_bracket", "end")
            assert time.monotonic() - started < 5

    run_async(body)
