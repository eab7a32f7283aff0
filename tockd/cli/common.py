"""What the command families of `tockd` share.

- `Client`: the blocking control client (tockd/contract/control.py) as the command line
  uses it: it finds the daemon's socket itself, and a protocol error ends the command
  with tockd's exit message (SystemExit) instead of a traceback;
- `add_control_parser`: the parser of a command that talks to a running daemon, with
  its `--control PATH` option;
- `process_name`: a process as the command line names it, by name or by index;
- `board_file`: a board as the command line names it, by path or by a shipped board's
  name (tockd/board.py);
- `Handler` and `Subparsers`: the types of the command table in `tockd.cli`.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from tockd.contract.control import (
    ControlClient,
    ControlFailed,
    Disconnected,
    OkReply,
    open_socket,
)

if TYPE_CHECKING:
    #: what `add_subparsers` returns: each command's builder adds its parser to it
    #: (generic only to the type checker, hence no runtime alias)
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

#: a command: its parsed arguments in, its exit status out
Handler = Callable[[argparse.Namespace], int]


def _connect(path: str | None) -> socket.socket:
    """A connection to the daemon at `path`, or to the newest live one; a failure is
    the command line's exit message."""
    from tockd.control import ControlError, find_socket

    try:
        target = Path(path) if path else find_socket()
    except ControlError as e:
        raise SystemExit(f"tockd: {e}") from None
    try:
        return open_socket(target)
    except OSError as e:
        raise SystemExit(f"tockd: cannot connect to {target}: {e.strerror}") from None


class Client(ControlClient):
    """The blocking control client for the CLI and tests: it finds the daemon's socket
    itself, and turns the protocol's errors into the command line's exit message
    (SystemExit), as `tockd` prints them. `request` is the base class's: it goes
    through `exchange` and `recv`, which do the turning."""

    def __init__(self, path: str | None = None) -> None:
        super().__init__(_connect(path))

    def recv(self) -> object:
        """The next frame from the daemon; the daemon closing the connection (or
        sending what is not a frame) ends the command."""
        try:
            return super().recv()
        except Disconnected:
            raise SystemExit("tockd: the daemon closed the connection") from None

    def exchange(self, op: str, **fields: object) -> OkReply:
        """A request's whole reply; an error reply ends the command with its reason."""
        try:
            return super().exchange(op, **fields)
        except (ControlFailed, Disconnected) as e:
            raise SystemExit(f"tockd: {e}") from None


def add_control_parser(
    sub: Subparsers, name: str, help_: str, handler: Handler
) -> argparse.ArgumentParser:
    """The parser of command `name`, which talks to a running daemon: `--control PATH`
    picks the daemon's socket (default: the newest live one)."""
    p = sub.add_parser(name, help=help_)
    p.add_argument("--control", metavar="PATH", help="control socket (default: newest)")
    p.set_defaults(handler=handler)
    return p


def board_file(named: str) -> Path:
    """The board file a command names (`tockd.board.board_path`); a name that is no file
    and no shipped board ends the command with tockd's exit message, which lists them."""
    from tockd.board import BoardError, board_path

    try:
        return board_path(named)
    except BoardError as e:
        raise SystemExit(f"tockd: {e}") from None


def process_name(text: str) -> str | int:
    """A process named on the command line: its index if `text` is all digits, else
    its (package) name."""
    return int(text) if text.isdigit() else text
