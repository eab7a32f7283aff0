"""Text that comes from users and apps is shown as it reads, never parsed as markup.

Once, `/` then `a[/b]` Enter killed the dashboard (a MarkupError from the trace pane's
title), an app named `spin[/x]` killed it at start (the memory map's title), and
`foo[bar]` showed as `foo`. Here a board's name, its process names, an app's console
output and fault reason, and the IPC pane's names all hold brackets, and so does the
trace filter: every pane shows them literally.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.content import Content
from textual.widget import Widget
from textual.widgets import DataTable, Input

from tests.harness import app, board_toml
from tests.tui.conftest import Daemon, NotYet, run_async, until
from tests.tui.test_app import SIZE, attached, live, status, trace_lines
from tockd.tui.app import TockdApp
from tockd.tui.board import Board
from tockd.tui.panes import PastBanner
from tockd.tui.proctable import ProcessRows

#: `[/x]` does not parse as markup; `[bar]` and `[bold]` would vanish as styles
MARKUP = "[/x] [bar] [bold]"
NAMES = ("spin[/x]", "foo[bar]", "says[/b]", "org.tockos.examples.rot13", "rot13[/client]")
BOARD = board_toml(
    [
        app("tests.apps.forever", name=NAMES[0]),
        app("tests.apps.forever", name=NAMES[1]),
        app("tests.apps.says", name=NAMES[2], args={"text": f"console {MARKUP}"}),
        app("apps_py.rot13_service", name=NAMES[3], ipc_service=True),
        app("apps_py.rot13_client", name=NAMES[4], args={"rounds": 10_000, "delay_ms": 50}),
    ],
    name="m[/b]",
    mpu="cortex-m",
    ram_size=65536,
)


def title(widget: Widget) -> str:
    """A pane's border title as it reads on screen (Textual gives it back as markup)."""
    return Content.from_markup(widget.border_title or "").plain


def banner(tui: TockdApp) -> str:
    return str(tui.query_one(PastBanner).render())


def settled(tui: TockdApp) -> Board:
    """The newest keyframe once `says` has faulted and the IPC client is connected."""
    board = live(tui)
    ipc = str(tui.query_one("#ipc").render())
    if board.procs[2].state != "Faulted" or "rot13[/client] → rot13" not in ipc:
        raise NotYet("the board is still starting")
    return board


def test_names_console_and_fault_reasons_are_shown_as_they_read(
    start_daemon: Callable[..., Daemon],
) -> None:
    daemon = start_daemon(BOARD, "--paused")  # the dashboard sees every event
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui), "attached")
            daemon.request("resume")
            board = await until(pilot, lambda: settled(tui), "the board")
            assert "board m[/b]" in tui.sub_title
            rows = tui.query_one(ProcessRows)
            grants = tui.query_one("#grants", DataTable)
            for index, name in enumerate(NAMES):
                assert f" {name} " in rows.row_text(index)  # whole: there is room
                memory = f"Memory map: {name}"
                await until(pilot, lambda m=memory: title(tui.query_one("#memory")) == m, memory)
                cell = grants.get_row(str(index))[0].plain  # whole, or its end
                assert cell == name or (cell[0] == "…" and name.endswith(cell[1:])), cell
                await pilot.press("down")
            assert "foo[bar]" in str(tui.query_one("#scheduler").render())  # the run queue
            # the console line and the fault (its reason and its trace line), in the past
            events = list(tui.history.events_before(tui.history.last_seq or 0, 100_000))
            said = [e for e in events if e["kind"] in ("console", "fault") and e["index"] == 2]
            assert {e["kind"] for e in said} == {"console", "fault"}, said
            for ev in sorted(said, key=lambda e: e["seq"]):  # the fault last
                tui.viewing = ev["seq"]
                shown = f"event #{ev['seq']} "
                await until(pilot, lambda s=shown: s in banner(tui), f"the {ev['kind']} event")
                assert MARKUP in banner(tui)
            assert trace_lines(tui)[-1] == "Process says[/b] faulted and was stopped."
            await pilot.press("end")
            assert board.procs[2].fault_reason and MARKUP in board.procs[2].fault_reason

    run_async(body)


def test_a_trace_filter_with_brackets(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(BOARD)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: attached(tui), "attached")
            trace = tui.query_one("#trace")
            await pilot.press("slash", *"a[/b]")
            assert tui.query_one("#trace-filter", Input).value == "a[/b]"
            await pilot.press("enter")
            await until(pilot, lambda: "trace filter: p:a[/b]" in status(tui), "the filter")
            await until(pilot, lambda: title(trace) == "Trace (filter: p:a[/b])", "its title")
            await pilot.press("slash")
            tui.query_one("#trace-filter", Input).value = "p:foo[bar]"
            await pilot.press("enter")
            await until(pilot, lambda: title(trace) == "Trace (filter: p:foo[bar])", "title")
            foo = live(tui).procs[1].process_id
            lines = await until(pilot, lambda: trace_lines(tui)[0].startswith("["), "lines")
            lines = trace_lines(tui)
            assert all(line.startswith(f"[{foo}] ") for line in lines), lines
            assert tui.is_running

    run_async(body)
