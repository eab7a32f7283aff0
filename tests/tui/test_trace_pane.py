"""The trace pane: scrolling (keys, the mouse wheel, Home and End), the search (text or
regex, the match before and after, also while looking back in time) and the zoom, driven
with a Pilot on a board that ran for a while and is then paused, so the trace holds
still and each view is checked line for line against the history itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import events
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Input

from tests.tui.conftest import Daemon, drawn, run_async, until
from tests.tui.test_app import FOREVERS, SIZE, attached, caught_up, live, status, trace_lines
from tockd.tui.app import TockdApp
from tockd.tui.tracefilter import TraceFilter
from tockd.tui.tracepane import TracePane


async def paused_with_lines(pilot: Pilot[Any], tui: TockdApp, daemon: Daemon) -> None:
    """Let the board run until the trace has a few hundred lines, pause it, and wait
    until the dashboard shows everything the kernel did."""
    await until(pilot, lambda: attached(tui) and tui.history.received > 400, "events")
    daemon.request("pause")
    await until(pilot, lambda: live(tui).sched.paused, "paused")
    await until(pilot, caught_up(tui, daemon), "the last events")
    await until(pilot, lambda: drawn(tui), "the panes drawn")


def every_line(tui: TockdApp, upto: int | None = None) -> list[tuple[int, str]]:
    """(seq, line) of every trace line the history holds up to `upto`, oldest first."""
    history = tui.history
    end = upto if upto is not None else history.last_seq
    assert end is not None
    found = history.trace_before(end, 1_000_000, TraceFilter().compile(live(tui)))
    return [(ev["seq"], line) for ev, line in reversed(list(found))]


def trace(tui: TockdApp) -> TracePane:
    return tui.query_one(TracePane)


def title(tui: TockdApp) -> str:
    """The trace pane's title as the screen shows it."""
    return Content.from_markup(trace(tui).border_title or "").plain


async def wheel(pilot: Pilot[Any], event: type[events.MouseEvent]) -> None:
    # Pilot has no wheel of its own: the events it posts for a click, with a wheel's
    await pilot._post_mouse_events([event], "#trace-body", offset=(5, 2))


def test_the_trace_scrolls_with_keys_the_wheel_home_and_end(
    start_daemon: Callable[[str], Daemon],
) -> None:
    daemon = start_daemon(FOREVERS)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await paused_with_lines(pilot, tui, daemon)
            lines = [line for _, line in every_line(tui)]
            rows = len(trace_lines(tui))
            assert rows >= 9 and trace_lines(tui) == lines[-rows:]

            def shows_up_to(end: int) -> None:
                assert trace_lines(tui) == lines[end - rows : end]

            await pilot.press("tab")
            assert tui.focused is trace(tui)
            end = len(lines)
            await pilot.press("pageup")
            end -= rows - 1
            shows_up_to(end)
            assert "scrolled back (End: newest)" in str(trace(tui).border_subtitle)
            await pilot.press("pageup", "up")
            end -= rows
            shows_up_to(end)
            await wheel(pilot, events.MouseScrollUp)
            end -= TracePane.WHEEL
            shows_up_to(end)
            await wheel(pilot, events.MouseScrollDown)
            await pilot.press("down", "pagedown")
            end += TracePane.WHEEL + 1 + rows - 1
            shows_up_to(end)
            # Home: the oldest line first; at the top, the oldest event (time travel)
            await pilot.press("home")
            shows_up_to(rows)
            assert tui.viewing is None
            await pilot.press("home")
            assert tui.viewing == tui.history.start_seq
            # End in the past, with the trace at its newest line: back to live
            await pilot.press("end")
            assert tui.viewing is None
            shows_up_to(len(lines))
            # End while scrolled: the newest line first, still live
            await pilot.press("pageup", "end")
            shows_up_to(len(lines))
            assert trace(tui).window.bottom is None
            assert "scrolled" not in str(trace(tui).border_subtitle)

    run_async(body)


def test_search_text_and_regex_before_and_after(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(FOREVERS)
    tui = TockdApp(daemon.sock)

    async def search(pilot: Pilot[Any], text: str) -> None:
        await pilot.press("ctrl+f")
        box = tui.query_one("#trace-search", Input)
        assert box.display and box.has_focus
        box.value = text
        await pilot.press("enter")

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await paused_with_lines(pilot, tui, daemon)
            beta = live(tui).procs[1].process_id
            # a literal text with regex and markup characters in it
            literal = f"[{beta}] cmd(0x0, 1"
            matches = [seq for seq, line in every_line(tui) if literal in line]
            assert len(matches) > 3
            await search(pilot, literal)
            assert trace(tui).match == matches[-1]
            assert title(tui) == f"Trace (search: {literal})"
            assert f"search {literal}: event #{matches[-1]}" in status(tui)
            # F3: the one before (older), shift+F3: the one after, each scrolled into view
            for n in (2, 3, 4):
                await pilot.press("f3")
                assert trace(tui).match == matches[-n]
                assert any(literal in line for line in trace_lines(tui))
            await pilot.press("shift+f3")
            assert trace(tui).match == matches[-3]
            # a regex, smart case: lower case matches either
            regex = r"re:\] YIELD\. which: [0-9]$"
            await search(pilot, regex.replace("YIELD", "yield"))
            wanted = [seq for seq, line in every_line(tui) if line.endswith("] yield. which: 1")]
            assert trace(tui).match == wanted[-1]
            await pilot.press("f3")
            assert trace(tui).match == wanted[-2]
            # nothing after the newest: said, and the match stays
            await pilot.press("shift+f3", "shift+f3")
            assert trace(tui).match == wanted[-1]
            assert "no newer match" in status(tui)

    run_async(body)


def test_search_refuses_a_bad_regex_and_shows_markup_as_typed(
    start_daemon: Callable[[str], Daemon],
) -> None:
    daemon = start_daemon(FOREVERS)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await paused_with_lines(pilot, tui, daemon)
            await pilot.press("ctrl+f", *"re:a[b", "enter")
            assert "search: not a regular expression: unterminated character set" in status(tui)
            box = tui.query_one("#trace-search", Input)
            assert box.display and box.has_focus  # still there, to correct it
            assert trace(tui).search is None
            await pilot.press("escape")
            assert not box.display and tui.focused is trace(tui)
            # markup is text: shown as typed, in the title and the status line
            await pilot.press("ctrl+f", "ctrl+a", "ctrl+k", *"a[/b] [bold]x", "enter")
            assert title(tui) == "Trace (search: a[/b] [bold]x)"
            assert status(tui) == "search a[/b] [bold]x: no older match"
            assert tui.is_running
            # empty: no search
            await pilot.press("ctrl+f", "ctrl+a", "ctrl+k", "enter")
            assert trace(tui).search is None and title(tui) == "Trace"

    run_async(body)


def test_search_while_looking_back(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(FOREVERS)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await paused_with_lines(pilot, tui, daemon)
            await pilot.press(*["left_square_bracket"] * 40)
            viewed = tui.viewing
            assert viewed is not None and viewed < (tui.history.last_seq or 0)
            lines = every_line(tui, viewed)
            assert trace_lines(tui)[-1] == lines[-1][1]
            gamma = live(tui).procs[2].process_id
            text = f"[{gamma}] "
            matches = [seq for seq, line in lines if line.startswith(text)]
            await pilot.press("ctrl+f", *text, "enter")
            assert trace(tui).match == matches[-1] <= viewed
            await pilot.press("f3", "f3")
            assert trace(tui).match == matches[-3]
            await pilot.press("shift+f3", "shift+f3", "shift+f3")
            # nothing after the viewed event is searched
            assert trace(tui).match == matches[-1]
            assert "no newer match" in status(tui)
            assert tui.viewing == viewed

    run_async(body)


def test_zoom_enlarges_the_focused_pane_and_back(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon(FOREVERS)
    tui = TockdApp(daemon.sock)

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await paused_with_lines(pilot, tui, daemon)
            rows = len(trace_lines(tui))
            await pilot.press("tab", "z")
            assert tui.screen.maximized is trace(tui)
            assert not tui.query_one("#processes").region  # not drawn while zoomed
            await until(pilot, lambda: len(trace_lines(tui)) >= 30, "the whole screen's lines")
            assert (
                trace_lines(tui) == [line for _, line in every_line(tui)][-len(trace_lines(tui)) :]
            )
            assert len(trace_lines(tui)) > 2 * rows
            # Tab while zoomed: the next pane, zoomed
            await pilot.press("tab")
            assert tui.screen.maximized is tui.query_one("#memory")
            await pilot.press("z")
            assert tui.screen.maximized is None
            await pilot.press("tab", "tab", "z")
            assert tui.screen.maximized is tui.query_one("#ipc")
            await pilot.press("escape")
            assert tui.screen.maximized is None
            await until(pilot, lambda: len(trace_lines(tui)) == rows, "the trace's own size")
            # the process table zooms too; the search takes the zoom to the trace
            await pilot.press("tab", "z")
            assert tui.screen.maximized is tui.query_one("#processes")
            await pilot.press("ctrl+f")
            assert tui.screen.maximized is trace(tui)
            # Escape closes the search box first, then the zoom
            await pilot.press("escape")
            assert tui.screen.maximized is trace(tui) and tui.focused is trace(tui)
            await pilot.press("escape")
            assert tui.screen.maximized is None

    run_async(body)
