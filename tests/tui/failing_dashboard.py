"""`python -m tests.tui.failing_dashboard BOARD [RUN ARGS]`: `tockd run BOARD --tui`
with a dashboard that fails when `?` is pressed, a stand-in for any bug in it
(tests/tui/test_crash.py)."""

from __future__ import annotations

import sys

from tockd.cli import main
from tockd.tui.keys import CommandKeys


def _fail(self: CommandKeys) -> None:
    raise RuntimeError("a deliberate failure in the dashboard")


if __name__ == "__main__":
    CommandKeys.action_help = _fail  # type: ignore[method-assign]
    sys.exit(main(["run", *sys.argv[1:], "--tui"]))
