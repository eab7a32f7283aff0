"""Running a board, and watching one that runs.

- `tockd run BOARD`: the daemon in this process (tockd/runner.py), or with `--tui` in a
  child process with the dashboard attached to it; BOARD is a file or the name of a
  board shipped with tockd;
- `tockd boards`: the shipped boards, one line each (name and description);
- `tockd trace`: the live syscall trace of a running daemon, as release-2.2 text
  (tockd/trace.py), until the daemon goes away or Ctrl-C;
- `tockd tui`: the dashboard (tui/) on a running daemon.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

from tockd.cli.common import Client, add_control_parser, board_file

if TYPE_CHECKING:
    from tockd.cli.common import Subparsers
    from tockd.contract.events import Event


def cmd_run(args: argparse.Namespace) -> int:
    from tockd.board import BoardError, load_board
    from tockd.runner import run_cli

    path = board_file(args.config)
    try:
        cfg = load_board(path)
    except BoardError as e:
        print(f"tockd: {e}", file=sys.stderr)
        return 1
    if args.cpu is not None:  # overrides the board's [board] cpu
        cfg.cpu = int(args.cpu) if args.cpu.isdigit() else args.cpu
    if args.tui:
        return _run_with_tui(args, path, cfg.name)
    return run_cli(cfg, args)


def _run_with_tui(args: argparse.Namespace, path: Path, board: str) -> int:
    """`run --tui`: the daemon in a child process, the dashboard attached to it."""
    from tockd.control import default_socket_path
    from tockd.tui.launch import run_board_with_tui

    control = Path(args.control) if args.control else default_socket_path(board)
    # the board starts paused, so the dashboard sees it from its first decision
    child = [str(path), "--quiet", "--forever", "--paused"]
    if args.trace_jsonl:
        child += ["--trace-jsonl", args.trace_jsonl]
    if args.cpu is not None:
        child += ["--cpu", args.cpu]
    if args.schedule:
        child += ["--schedule", args.schedule]
    # a replay stays paused: the user walks it decision by decision with `n`
    return run_board_with_tui(child, control, control.with_suffix(".log"), resume=not args.schedule)


def cmd_boards(args: argparse.Namespace) -> int:
    """`tockd boards`: each shipped board's name and the description its file gives."""
    from tockd.board import BoardError, load_board, shipped_boards

    boards = shipped_boards()
    width = max(map(len, boards), default=0)
    for name, path in boards.items():
        try:
            about = load_board(path).description
        except BoardError as e:
            about = f"(cannot be used: {e})"
        print(f"{name:<{width}}  {about}")
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    from tockd.control import ControlError, find_socket

    try:
        path = Path(args.control) if args.control else find_socket()
    except ControlError as e:
        raise SystemExit(f"tockd: {e}") from None
    from tockd.tui import run

    return run(path)


def cmd_trace(args: argparse.Namespace) -> int:
    """`tockd trace`: a read-only subscription, printed line by line; exit status 0
    when the daemon goes away, Ctrl-C kills it (SIGINT's default action)."""
    from tockd.trace import format_event

    client = Client(args.control)
    client.request("readonly")
    client.send("subscribe")
    client.recv()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        while True:
            event = _streamed_event(client.recv())
            line = None if event is None else format_event(event)
            if line is not None:
                print(line, flush=True)
    except SystemExit:
        return 0


def _streamed_event(frame: object) -> Event | None:
    """The event of a frame of a plain `subscribe` stream: the daemon sends each as
    `{"event": {...}}` (tockd/control_stream.py); None for any other frame."""
    event = frame.get("event") if isinstance(frame, dict) else None
    return cast("Event", event) if isinstance(event, dict) and "kind" in event else None


# ---- the parsers ----------------------------------------------------------------------


def add_run(sub: Subparsers) -> None:
    run = sub.add_parser("run", help="run a board file")
    run.set_defaults(handler=cmd_run)
    run.add_argument(
        "config",
        metavar="BOARD",
        help="a board file (TOML), or the name of a shipped board (tockd boards), e.g. demo",
    )
    run.add_argument("--trace", action="store_true", help="print Tock's syscall trace")
    run.add_argument("--trace-jsonl", metavar="FILE", help="write every event as JSON lines")
    run.add_argument("--forever", action="store_true", help="keep running after apps exit")
    run.add_argument("--control", metavar="PATH", help="control socket path")
    run.add_argument("--quiet", action="store_true", help="do not print console output")
    run.add_argument(
        "--paused",
        action="store_true",
        help="start with the scheduler paused (apps wait at their first syscall until "
        "`tockd resume` or `tockd step`)",
    )
    run.add_argument(
        "--schedule",
        metavar="FILE",
        help="run under the controlled scheduler, following this schedule "
        "file (from tockd explore); with --tui, step through it with n",
    )
    run.add_argument(
        "--tui",
        action="store_true",
        help="watch the board in the live dashboard (it runs until you quit with q)",
    )
    run.add_argument(
        "--cpu",
        metavar="N|auto|off",
        help="the core of the daemon and every app (default: the board's cpu, auto)",
    )


def add_boards(sub: Subparsers) -> None:
    boards = sub.add_parser(
        "boards", help="list the boards shipped with tockd (tockd run NAME runs one)"
    )
    boards.set_defaults(handler=cmd_boards)


def add_watch(sub: Subparsers) -> None:
    """trace and tui: they talk to a running daemon like the control commands."""
    add_control_parser(sub, "trace", "stream the live syscall trace", cmd_trace)
    add_control_parser(
        sub, "tui", "live dashboard of the running daemon (? in it for help)", cmd_tui
    )
