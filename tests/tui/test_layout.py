"""The dashboard's layout at the sizes people use (80x24, 120x40): the process table's
columns and rows, names cut at the front, the help and the Grants header whole, the
footer's Quit; the compact layout's one pane at a time; and the process table's sort.
Driven with a Pilot against real daemons."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.content import Content
from textual.pilot import Pilot
from textual.widgets._footer import FooterKey

from tests.harness import app, board_toml
from tests.tui.conftest import ROOT, SETTLING_BOARD, Daemon, drawn, run_async, settle, until
from tests.tui.test_app import attached, live, status
from tockd.tui import proccols
from tockd.tui.app import TockdApp
from tockd.tui.panes import _KEYS as KEYS_HELP
from tockd.tui.panes import HelpScreen
from tockd.tui.proctable import ProcessRows

SMALL = (80, 24)
LARGE = (120, 40)
LONG = "org.tockos.examples.with.a.long.vendor.prefix.alpha"


def rows_of(tui: TockdApp) -> ProcessRows:
    return tui.query_one(ProcessRows)


def shown_names(tui: TockdApp) -> list[str]:
    """The processes' names in the order the table shows them."""
    board = live(tui)
    return [board.procs[index].name for index in rows_of(tui).order]


async def ready(pilot: Pilot[Any], tui: TockdApp) -> None:
    await until(pilot, lambda: attached(tui), "attached")
    await until(pilot, lambda: drawn(tui), "the panes drawn")


def footer_shows(tui: TockdApp, key: str, width: int) -> bool:
    keys = [k for k in tui.query(FooterKey) if k.key == key]
    return len(keys) == 1 and 0 < keys[0].region.right <= width and keys[0].region.width > 0


def test_80x24_shows_every_column_every_row_and_the_ends_of_names(
    start_daemon: Callable[..., Daemon],
) -> None:
    daemon = start_daemon((ROOT / "configs/tui_demo.toml").read_text(), "--paused")
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SMALL) as pilot:
            await ready(pilot, tui)
            rows = rows_of(tui)
            await until(pilot, lambda: rows.size.height == 1 + 6, "the header and six rows")
            header = rows.header_text()
            for label in ("PID", "OS pid", "Name", "State", "Rate", "Q", "Drop", "Rst", "CPU%"):
                assert f" {label}" in header, header
            assert header.rstrip().endswith("RSS")
            # all of it in view: no sideways scrolling needed
            assert len(header) <= rows.size.width
            room = rows.table_layout.widths[proccols.NAME]
            for row, p in enumerate(live(tui).procs):
                text = rows.row_text(row)
                cut = p.name if len(p.name) <= room else "…" + p.name[-(room - 1) :]
                assert f" {cut} " in text, (p.name, text)
            await until(pilot, lambda: footer_shows(tui, "q", SMALL[0]), "Quit in the footer")
            assert not tui.query_one("Header").display  # compact: no room for a title bar

    run_async(body)


def test_80x24_help_and_grants_are_whole(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SMALL) as pilot:
            await ready(pilot, tui)
            await pilot.press("question_mark")
            assert isinstance(tui.screen, HelpScreen)
            scroll = tui.screen.query_one("#help-scroll")
            assert scroll.region.x >= 0 and scroll.region.right <= SMALL[0]
            body_text = str(tui.screen.query_one("#help-body").render())
            width = scroll.scrollable_content_region.width - 2  # its padding
            rows = [f"  {key:<9}{what}" for key, what in KEYS_HELP]
            assert all(row in body_text.splitlines() for row in rows)
            assert all(len(row) <= width for row in rows)  # no key's line wraps
            # taller than the screen: it scrolls to its last line
            assert scroll.max_scroll_y > 0
            await pilot.press("end")
            assert scroll.scroll_y == scroll.max_scroll_y
            await pilot.press("escape")
            assert not isinstance(tui.screen, HelpScreen)
            # the compact layout: one pane under the table, the trace first; Tab moves on
            assert tui.query_one("#trace").display and not tui.query_one("#lower").display
            await pilot.press("tab", "tab", "tab")
            grants = tui.query_one("#grants")
            assert tui.focused is grants
            assert grants.display and not tui.query_one("#memory").display
            assert not tui.query_one("#bottom").display
            assert grants.region.width == SMALL[0]
            # every column of the Grants table fits
            assert grants.virtual_size.width <= grants.scrollable_content_region.width
            await pilot.press("shift+tab")
            assert tui.query_one("#memory").display and not grants.display
            # a key that opens a box in the trace brings the trace back
            await pilot.press("slash")
            assert tui.query_one("#trace").display and not tui.query_one("#memory").display
            assert tui.focused is tui.query_one("#trace-filter")

    run_async(body)


def test_120x40_help_fits_and_the_footer_shows_quit(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=LARGE) as pilot:
            await ready(pilot, tui)
            await until(pilot, lambda: footer_shows(tui, "q", LARGE[0]), "Quit in the footer")
            assert footer_shows(tui, "question_mark", LARGE[0])
            # every pane at once
            for pane in ("#processes", "#memory", "#grants", "#trace", "#ipc"):
                assert tui.query_one(pane).region, pane
            await pilot.press("question_mark")
            assert tui.screen.query_one("#help-scroll").max_scroll_y == 0

    run_async(body)


def test_long_names_lose_their_front(start_daemon: Callable[[str], Daemon]) -> None:
    board = board_toml(
        [app("tests.apps.forever", name=LONG), app("tests.apps.forever", name="beta")],
        name="long",
        mpu="cortex-m",
    )
    daemon = start_daemon(board)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=LARGE) as pilot:
            await ready(pilot, tui)
            memory = tui.query_one("#memory")
            await until(pilot, lambda: memory.border_title != "Memory map", "the title")
            title = Content.from_markup(memory.border_title or "").plain
            assert title.startswith("Memory map: …") and title.endswith(".vendor.prefix.alpha")
            assert len(title) < memory.size.width
            cell = rows_of(tui).row_text(0)
            assert "…" in cell and ".prefix.alpha " in cell and "org.tockos" not in cell

    run_async(body)


def test_sort_by_any_column_keeps_the_selection(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    tui = TockdApp(daemon.sock)
    buttons, hello = "org.tockos.examples.buttons", "org.tockos.examples.hello"

    async def body() -> None:
        async with tui.run_test(size=LARGE) as pilot:
            await ready(pilot, tui)
            rows = rows_of(tui)
            assert "▲#" in rows.header_text()
            assert shown_names(tui) == [buttons, hello, "crasher"]
            await pilot.press(*["greater_than_sign"] * 3)  # #, PID, OS pid, Name
            assert status(tui) == "processes sorted by Name, smallest first"
            assert "Name▲" in rows.header_text()
            assert shown_names(tui) == ["crasher", buttons, hello]
            # the cursor stayed on its process
            assert tui.selected == 0 and rows.order[rows.cursor] == 0
            await pilot.press("I")
            assert "Name▼" in rows.header_text()
            assert shown_names(tui) == [hello, buttons, "crasher"]
            await pilot.press("greater_than_sign")  # State, A to Z
            assert shown_names(tui) == ["crasher", hello, buttons]  # Faulted, Terminated, ...
            await pilot.press("greater_than_sign")  # Syscalls, most first
            assert status(tui) == "processes sorted by Syscalls, largest first"
            counts = [live(tui).procs[i].syscalls for i in rows.order]
            assert counts == sorted(counts, reverse=True)
            await pilot.press("less_than_sign", "less_than_sign")
            assert "Name" in status(tui)
            # a click on a header sorts by that column; again, the other way round
            layout = rows.table_layout
            state = next(i for i, c in enumerate(proccols.COLUMNS) if c.label == "State")
            x = proccols.LEAD + sum(w + 1 for w in layout.widths[:state]) + 1
            await pilot.click(ProcessRows, offset=(x, 0))
            assert status(tui) == "processes sorted by State, smallest first"
            await pilot.click(ProcessRows, offset=(x, 0))
            assert status(tui) == "processes sorted by State, largest first"
            assert shown_names(tui) == [buttons, hello, "crasher"]
            # the cursor moves down the rows as shown
            await pilot.press("down")
            assert tui.selected == rows.order[rows.cursor] == 1

    run_async(body)


def test_a_narrow_table_scrolls_sideways(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(SETTLING_BOARD)
    settle(daemon)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=(60, 24)) as pilot:
            await ready(pilot, tui)
            rows = rows_of(tui)
            width = rows.size.width
            header = rows.header_text()
            assert len(header) > width and header.rstrip().endswith("RSS")
            assert rows.render_line(0).text == header[:width]
            await pilot.press("right", "right")
            shift = 2 * 8
            assert rows.scroll_offset.x == shift
            assert rows.render_line(0).text == header[shift : shift + width]
            assert rows.render_line(1).text == rows.row_text(0)[shift : shift + width]
            await pilot.press("left", "left")
            assert rows.scroll_offset.x == 0

    run_async(body)
