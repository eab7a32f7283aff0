"""tockd's live dashboard: a Textual app that only talks to a daemon's control socket.

    tockd tui [--control PATH]        attach to a running daemon (the newest by default)
    tockd run BOARD.toml --tui        start a board and watch it

It never imports the kernel, so it can watch a kernel in another process; importing
`tockd.contract.wire` (framing) and `tockd.trace` (Tock's trace lines) is all it shares.
"""

from __future__ import annotations

from pathlib import Path


def run(control: str | Path, *, headless: bool = False, resume_on_attach: bool = False) -> int:
    """Run the dashboard on `control` until the user quits. Returns an exit status.
    `resume_on_attach`: resume the (paused) scheduler once attached."""
    from tui.app import TockdApp

    app = TockdApp(control, resume_on_attach=resume_on_attach, avoid_board_cpu=True)
    app.run(headless=headless)
    return 0 if app.return_code in (None, 0) else app.return_code
