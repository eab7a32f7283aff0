"""`python -m tockd.cli`: the `tockd` command without its console script (the tests and
the dashboard's launcher, tui/launch.py, start it this way)."""

import sys

from tockd.cli import main

if __name__ == "__main__":
    sys.exit(main())
