"""`tockd run`: a board's daemon with its sinks, control socket and signal handling."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import trio

from tockd.board import BoardConfig, BoardError
from tockd.control import ControlServer, default_socket_path
from tockd.daemon import Daemon
from tockd.trace import JsonlTrace, TextTrace


async def serve_board(cfg: BoardConfig, args: argparse.Namespace) -> int:
    """Run the daemon until its apps are done, or SIGTERM/SIGINT; always reap and flush."""
    try:
        daemon = Daemon(cfg, forever=args.forever, quiet=args.quiet)
    except BoardError as e:
        print(f"tockd: {e}", file=sys.stderr)
        return 1
    jsonl = JsonlTrace(args.trace_jsonl) if args.trace_jsonl else None
    removers = []
    if args.trace:
        removers.append(daemon.kernel.events.subscribe(TextTrace(sys.stdout)))
    if jsonl is not None:
        removers.append(daemon.kernel.events.subscribe(jsonl))
    path = Path(args.control) if args.control else default_socket_path(cfg.name)
    status = 0
    try:
        async with trio.open_nursery() as nursery:
            server = ControlServer(daemon, path)
            await nursery.start(server.serve)
            print(
                f"tockd: board {cfg.name}: {len(cfg.apps)} app(s), control socket {path}",
                file=sys.stderr,
                flush=True,
            )

            async def signals() -> None:
                with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as sigs:
                    async for signum in sigs:
                        print(
                            f"tockd: {signal.Signals(signum).name}, stopping",
                            file=sys.stderr,
                            flush=True,
                        )
                        daemon.request_stop()

            nursery.start_soon(signals)
            status = await daemon.run()
            nursery.cancel_scope.cancel()
    finally:
        for remove in removers:
            remove()
        if jsonl is not None:
            jsonl.close()
        sys.stdout.flush()
    return status


def run_cli(cfg: BoardConfig, args: argparse.Namespace) -> int:
    return trio.run(serve_board, cfg, args)
