"""`tockd`: run a board, and talk to a running one through its control socket.

tockd run hello [--trace] [--trace-jsonl FILE] [--forever]   a shipped board, or a file
tockd boards                  the boards shipped with tockd, one line each
tockd ps                      process table (like Tock's process console `list`)
tockd stop|start|boot|fault|terminate|restart NAME
tockd mem NAME                memory map and MPU regions of a process
tockd button N [--release]    press (or release) button N
tockd console NAME TEXT       type TEXT into NAME's console
tockd pause|resume            pause or resume the scheduler
tockd step [N]                let N more syscalls or upcalls happen while paused
tockd trace                   stream the live syscall trace of a running daemon
tockd tui                     live dashboard of a running daemon (run ... --tui: both)
tockd explore|replay|experiment   the race lab

Here: `main` and the table of commands. Each family of commands is a module of
handlers and the parser builders that register them (each parser's default `handler`):

- `run`: run a board, list the shipped ones; `trace` and `tui`, which watch a running one;
- `control`: the commands that send one request to a running daemon (ps, mem, stop, ...);
- `lab`: explore, replay, experiment;
- `common`: what they share, among it `Client`, the blocking control client that
  ends the command with tockd's exit message (tests and benchmarks use it too).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from tockd.cli import control, lab, run
from tockd.cli.common import Client, Handler

if TYPE_CHECKING:
    from tockd.cli.common import Subparsers

__all__ = ["COMMANDS", "Client", "build_parser", "main"]

EPILOG = (
    "A BOARD is a board file, or the name of one shipped with tockd (`tockd boards` lists "
    "them).\nBoard files are described in tockd/board.py; see README.md for a tour."
)

#: every command's parser builder, in the order `tockd --help` lists them
COMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    run.add_run,
    run.add_boards,
    control.add_control_commands,
    run.add_watch,
    lab.add_explore,
    lab.add_replay,
    lab.add_experiment,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tockd",
        description="Run Tock's process model on Linux.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


#: the exit status of a command whose reader went away (`tockd boards | head -3`), as a
#: shell reports a process SIGPIPE ended
EXIT_READER_GONE = 128 + signal.SIGPIPE


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except BrokenPipeError:
        # the rest of the output has nowhere to go; say nothing more, and let the
        # interpreter's last flush of stdout go nowhere too instead of failing again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_READER_GONE
