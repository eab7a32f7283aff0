"""`w` and the command palette's Screenshot write an SVG where the user finds it:
$TOCKD_SCREENSHOT_DIR (made if missing) or the current directory, never ~/Downloads
(once, the palette's screenshot failed where that did not exist); the status line
says the file's full path."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandList

from tests.tui.conftest import run_async, until
from tests.tui.test_app import SIZE, status
from tockd.tui.app import TockdApp
from tockd.tui.screenshot import SCREENSHOT_DIR_ENV


def offered(tui: TockdApp) -> str | None:
    """The command palette's first match, if it shows one."""
    matches = tui.screen.query(CommandList)
    if not matches or matches.first().option_count == 0:
        return None
    return str(matches.first().get_option_at_index(0).prompt).split("\n", 1)[0]


def svgs(where: Path) -> list[Path]:
    return sorted(where.glob("tockd-*.svg"))


@pytest.fixture
def no_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home without a Downloads folder, and a current directory of the test's own."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    monkeypatch.delenv(SCREENSHOT_DIR_ENV, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_w_writes_into_the_current_directory(no_downloads: Path) -> None:
    tui = TockdApp("/nonexistent/tockd.sock")

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: tui.disconnected, "the dashboard up")
            await pilot.press("w")
            (svg,) = svgs(no_downloads)
            assert status(tui) == f"screenshot written to {svg}"
            assert svg.read_text().startswith("<svg") and "tockd" in svg.read_text()

    run_async(body)
    assert not (no_downloads.parent / "home" / "Downloads").exists()


def test_the_palette_and_w_write_into_the_screenshot_dir(
    no_downloads: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = tmp_path / "shots [/x]" / "new"  # made on demand; brackets are no markup
    monkeypatch.setenv(SCREENSHOT_DIR_ENV, str(where))
    tui = TockdApp("/nonexistent/tockd.sock")

    async def body() -> None:
        async with tui.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: tui.disconnected, "the dashboard up")
            await pilot.press("ctrl+p")
            await pilot.press(*"screenshot")
            await until(pilot, lambda: offered(tui) == "Screenshot", "the command offered")
            await pilot.press("enter")
            (svg,) = await until(pilot, lambda: svgs(where), "the palette's screenshot")
            assert status(tui) == f"screenshot written to {svg}"
            assert "Search for commands" not in svg.read_text()  # the palette had closed
            await pilot.press("w")
            assert len(svgs(where)) == 2
            assert status(tui) == f"screenshot written to {svgs(where)[1]}"

    run_async(body)
    assert svgs(no_downloads) == []
