"""Screenshots of the dashboard: an SVG of the screen, written where the user finds it.

`w` and the command palette's "Screenshot" both write one (Textual's own palette entry
wrote into ~/Downloads and failed where that does not exist). The folder is
$TOCKD_SCREENSHOT_DIR if set (created if missing), else the current directory; the
dashboard then says the file's full path.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from textual.app import App

#: the environment variable naming the folder screenshots go to
SCREENSHOT_DIR_ENV = "TOCKD_SCREENSHOT_DIR"


def screenshot_dir() -> Path:
    """$TOCKD_SCREENSHOT_DIR if it is set, else the current directory."""
    where = os.environ.get(SCREENSHOT_DIR_ENV)
    return Path(where).expanduser() if where else Path.cwd()


def screenshot_name(now: datetime | None = None) -> str:
    """`tockd-YYYYmmdd-HHMMSS-micro.svg`: sorts by time, two never share a name."""
    now = now or datetime.now()
    return f"tockd-{now:%Y%m%d-%H%M%S}-{now.microsecond:06d}.svg"


def write_screenshot(app: App[None], folder: Path | None = None, name: str | None = None) -> Path:
    """Write the screen as it is now as an SVG into `folder` (`screenshot_dir()` by
    default, made if missing); returns the file's absolute path. OSError if it cannot
    be written."""
    folder = folder or screenshot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / (name or screenshot_name())).resolve()
    path.write_text(app.export_screenshot(), encoding="utf-8")
    return path
