"""tockd's live dashboard: a Textual app that only talks to a daemon's control socket.

    tockd tui [--control PATH]        attach to a running daemon (the newest by default)
    tockd run BOARD.toml --tui        start a board and watch it

It never imports the kernel, so it can watch a kernel in another process; importing
`tockd.contract.wire` (framing) and `tockd.trace` (Tock's trace lines) is all it shares.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def run(control: str | Path, *, headless: bool = False, resume_on_attach: bool = False) -> int:
    """Run the dashboard on `control` until the user quits. Returns an exit status.
    `resume_on_attach`: resume the (paused) scheduler once attached."""
    from tockd.tui.app import TockdApp

    if not headless and sys.stdout.isatty():
        # Textual sizes itself with shutil.get_terminal_size, which believes COLUMNS and
        # LINES before the terminal: an exported pair is stale after a resize, and
        # tmux's default shell sets them to 80x24 whatever the window. The terminal knows.
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)
    app = TockdApp(control, resume_on_attach=resume_on_attach, avoid_board_cpu=True)
    app.run(headless=headless)
    return 0 if app.return_code in (None, 0) else app.return_code
