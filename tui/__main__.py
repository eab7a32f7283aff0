"""`python -m tockd.tui --control PATH`: the dashboard without the `tockd` command (the
overhead benchmark runs it this way, `--headless` when no terminal is at hand)."""

from __future__ import annotations

import argparse
import sys

from tockd.tui import run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tockd.tui", description=__doc__.splitlines()[0])
    ap.add_argument("--control", required=True, metavar="PATH", help="control socket")
    ap.add_argument("--headless", action="store_true", help="run without a terminal")
    args = ap.parse_args(argv)
    return run(args.control, headless=args.headless)


if __name__ == "__main__":
    sys.exit(main())
