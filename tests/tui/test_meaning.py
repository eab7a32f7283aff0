"""What the dashboard shows means what it says (issue 15, "meaning on screen").

- a process in Tock's Running state that is not on the CPU does not look on the CPU;
- the help overlay explains `▶`, `•` and the state colours;
- the run queue lists no process that has ended;
- `f` and `t` ask first; `t` on a terminated process says so; `t` then `r` counts the
  restart;
- each sparkline is scaled to its own process's peak, which it shows;
- once the daemon is gone, no pane says running or shows a dead pid;
- the Grants table keeps its columns as time moves, and counts `1 grant`;
- a refusal names its command once (`step: ...`, not `step: step: ...`).
"""

from __future__ import annotations

from collections.abc import Callable

from textual.content import Content
from textual.widgets import DataTable

from tests.harness import app, board_toml
from tests.tui.conftest import SETTLING_BOARD, Daemon, drawn, run_async, settle, until
from tests.tui.test_app import (
    FOREVERS,
    SIZE,
    SPIN,
    attached,
    caught_up,
    live,
    nothing_to_ask,
    status,
)
from tockd.tui import render
from tockd.tui.app import TockdApp
from tockd.tui.confirm import Confirm
from tockd.tui.panes import HelpScreen
from tockd.tui.proctable import COLUMNS, ProcessRows

RATE = [c.label for c in COLUMNS].index("Rate /s     peak")
RST = [c.label for c in COLUMNS].index("Rst")


def scheduler(tui: TockdApp) -> str:
    return str(tui.query_one("#scheduler").render())


def row(tui: TockdApp, index: int) -> str:
    return tui.query_one(ProcessRows).row_text(index)


def subtitle(tui: TockdApp, pane: str) -> str:
    return Content.from_markup(tui.query_one(pane).border_subtitle or "").plain


def test_on_the_cpu_and_runnable_look_different(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SPIN)
    tui = TockdApp(daemon.sock)

    def on_cpu() -> bool:
        return live(tui).procs[0].current and row(tui, 0).startswith(" ▶ ")

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui) and on_cpu(), "spin on the CPU")
            assert " Running " in row(tui, 0) and render.RUNNING_READY not in row(tui, 0)
            await pilot.press("n")  # refused while running: the command is named once
            await until(pilot, lambda: "pause the scheduler first" in status(tui), "refusal")
            assert status(tui) == "step: pause the scheduler first"
            await pilot.press("p")
            await until(pilot, lambda: live(tui).sched.paused, "paused")
            await until(pilot, daemon.parked, "the kernel to hold spin")
            await until(pilot, caught_up(tui, daemon), "a keyframe")
            await until(pilot, lambda: render.RUNNING_READY in row(tui, 0), "runnable")
            assert live(tui).procs[0].state == "Running"  # Tock's state, not on the CPU
            assert row(tui, 0).startswith(" • ")
            cell = tui.query_one(ProcessRows).cells[0][5]
            assert cell.style == render.st("ready") != render.state_style("Running")
            assert "current: none (kernel idle)" in scheduler(tui)
            assert subtitle(tui, "#processes") == "1 process, 0 on the CPU"

    run_async(body)


def test_the_help_explains_the_marks_and_the_colours() -> None:
    tui = TockdApp("/nonexistent/tockd.sock")

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await pilot.press("question_mark")
            assert isinstance(tui.screen, HelpScreen)
            text = str(tui.screen.query_one("#help-body").render())
            for line in (
                "▶ Running ",
                "on the CPU",
                f"• {render.RUNNING_READY}",
                "• Yielded",
                "Stopped(Yielded)",
                "Faulted",
                "Terminated",
                "scaled to the process's own peak",
            ):
                assert line in text, line

    run_async(body)


def test_the_run_queue_lists_no_ended_process(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    assert set(daemon.request("sched")["run_queue"]) == {0, 1, 2}  # Tock keeps them all
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui), "attached")
            queue = scheduler(tui).split("run queue: ", 1)[1]
            assert queue.strip() == "buttons"

    run_async(body)


def test_fault_and_terminate_ask_first_and_restarts_count(
    start_daemon: Callable[[str], Daemon],
) -> None:
    daemon = start_daemon(FOREVERS)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui), "attached")
            for key, answer in (("f", "n"), ("t", "escape")):
                await pilot.press(key)
                assert isinstance(tui.screen, Confirm) and "alpha" in tui.screen.question
                await pilot.press(answer)
                assert not isinstance(tui.screen, Confirm)
                assert status(tui).endswith("alpha: cancelled")
            assert daemon.state(0) not in ("Faulted", "Terminated")
            await pilot.press("t", "y")
            await until(pilot, lambda: live(tui).procs[0].state == "Terminated", "terminated")
            assert daemon.state(0) == "Terminated"
            await pilot.press("t")  # nothing to ask, and no success to report
            assert not isinstance(tui.screen, Confirm)
            assert status(tui) == "terminate alpha: alpha is already terminated"
            await pilot.press("r")
            await until(pilot, lambda: live(tui).procs[0].restarts == 1, "the restart")
            assert daemon.request("ps")[0]["restarts"] == 1
            await until(pilot, lambda: tui.query_one(ProcessRows).cells[0][RST].plain == "1", "1")
            await pilot.press("down", "f", "y")
            await until(pilot, lambda: live(tui).procs[1].state == "Faulted", "beta faulted")
            await pilot.press("f")
            assert not isinstance(tui.screen, Confirm)
            assert status(tui) == "fault beta: beta has faulted already"

    run_async(body)


def test_each_sparkline_has_its_own_scale(start_daemon: Callable[[str], Daemon]) -> None:
    board = board_toml(
        [app("apps_py.spin"), app("apps_py.spin", name="quiet", args={"every_ms": 50})],
        name="two",
        mpu="cortex-m",
    )
    daemon = start_daemon(board)
    tui = TockdApp(daemon.sock)

    def busy_and_quiet() -> list[list[float]] | None:
        board = live(tui)
        series = [tui.history.rate_series(i, board.seq)[-render.SPARK_WIDTH :] for i in (0, 1)]
        moving = all(sum(v > 0 for v in s) >= 2 for s in series)
        return series if moving and max(series[0]) > 10 * max(series[1]) else None

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui) and busy_and_quiet(), "two rates")
            daemon.request("pause")  # no more rates: the table stays as it is
            await until(pilot, lambda: live(tui).sched.paused, "paused")
            await until(pilot, lambda: nothing_to_ask(tui) and drawn(tui), "the last keyframe")
            series = busy_and_quiet()
            assert series is not None, "the quiet app's rates no longer in view"
            for index, values in enumerate(series):
                cell = tui.query_one(ProcessRows).cells[index][RATE].plain
                # its own peak is the full glyph, and the cell says what it is
                assert "█" in cell and cell.endswith(render.human_rate(max(values)).rjust(4))

    run_async(body)


def test_a_gone_daemon_leaves_nothing_running(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(FOREVERS)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui) and tui.history.received > 10, "events")
            daemon.stop()
            await until(pilot, lambda: "DAEMON GONE" in scheduler(tui), "the panes to say so")
            assert " running " not in scheduler(tui)
            assert "current: none (the daemon is gone" in scheduler(tui)
            for index, p in enumerate(live(tui).procs):
                text = row(tui, index)
                assert str(p.os_pid) not in text and "gone (was " in text, text
                assert "▶" not in text and "•" not in text
                rate = tui.query_one(ProcessRows).cells[index][RATE].plain
                assert rate.startswith("   - "), rate  # no rate for a dead process
            assert "the daemon is gone" in tui.sub_title

    run_async(body)


def test_the_grants_columns_stay_as_time_moves(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon(FOREVERS, "--paused")  # the first keyframe: no grant yet
    tui = TockdApp(daemon.sock)
    table = tui.query_one

    def columns() -> list[str]:
        return [c.label.plain for c in table("#grants", DataTable).columns.values()]

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui), "attached")
            assert columns() == ["Process", "Total"]
            daemon.request("resume")
            full = ["Process", "Alarm", "Console", "Total"]
            await until(pilot, lambda: columns() == full, "the grants")
            daemon.request("pause")
            await until(pilot, caught_up(tui, daemon), "every event")
            await pilot.press("home")  # before any grant
            assert tui.viewing == tui.history.start_seq and columns() == full
            first = next(
                e["seq"]
                for e in reversed(list(tui.history.events_before(tui.history.last_seq or 0, 10**6)))
                if e["kind"] == "grant_alloc"
            )
            tui.viewing = first
            await until(pilot, lambda: subtitle(tui, "#grants").endswith(" in 1 grant"), "1")
            assert columns() == full

    run_async(body)
