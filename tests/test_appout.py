"""An app's output as the daemon shows it (tockd/appout.py), over real pipes."""

from __future__ import annotations

import io
import os

import pytest
import trio

from tockd import appout


def test_sanitize_escapes_every_control_character_and_cuts_long_lines() -> None:
    assert appout.sanitize("ok\rtockd: forged\x1b[2J") == "ok\\rtockd: forged\\x1b[2J"
    assert appout.sanitize("tab\tand bell\x07") == "tab\\tand bell\\x07"
    assert appout.sanitize("é ü") == "é ü"
    cut = appout.sanitize("x" * 5000)
    assert cut == "x" * appout.MAX_LINE + " [cut]"


def test_the_budget_refills_at_its_rate_and_counts_what_it_drops() -> None:
    b = appout.OutputBudget("app")
    assert b.take(appout.BURST, 0.0)
    assert not b.take(1, 0.0)
    assert b.dropped == 1
    assert b.take(appout.RATE // 2, 0.5)  # half a second refills half a second's worth
    assert not b.take(appout.RATE, 0.5)


async def test_a_pipe_is_shown_line_by_line_as_the_apps_own(
    capfd: pytest.CaptureFixture[str],
) -> None:
    r, w = os.pipe()
    out = io.StringIO()
    os.write(w, b"hello\n[other] not me\r\ntail without newline")
    os.close(w)
    await appout.pump(r, appout.OutputBudget("app"), out)
    assert out.getvalue().splitlines() == [
        "[app] hello",
        "[app] [other] not me\\r",
        "[app] tail without newline",
    ]


async def test_a_flood_is_bounded_and_its_drop_is_said(
    capfd: pytest.CaptureFixture[str],
) -> None:
    r, w = os.pipe()
    os.set_blocking(w, False)
    out = io.StringIO()
    line = b"y" * 99 + b"\n"
    total = 0

    async def flood() -> None:
        nonlocal total
        with trio.move_on_after(0.5):
            while True:
                await trio.lowlevel.wait_writable(w)
                try:
                    total += os.write(w, line * 600)
                except BlockingIOError:
                    pass
        os.close(w)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(flood)
        nursery.start_soon(appout.pump, r, appout.OutputBudget("app"), out)
    shown = len(out.getvalue())
    assert total > shown
    assert shown <= appout.BURST + appout.RATE + 2 * len(line) * 600
    err = capfd.readouterr().err
    assert "tockd: app app: dropped" in err
