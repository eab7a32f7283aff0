"""`tockd run`: a board's daemon with its sinks, control socket and signal handling.

The trace and the JSONL file are flushed on every way out: the apps finishing, a panic,
SIGTERM, SIGINT or SIGHUP (a clean stop), an exception (the `finally`). Between those
they are flushed every `FLUSH_INTERVAL_S`, so a SIGKILL loses at most that much, and
the JSONL file never ends in a torn line (tockd/trace.py says how).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import trio

from tockd import isolation
from tockd.board import BoardConfig, BoardError
from tockd.control import ControlServer, default_socket_path
from tockd.daemon import Daemon
from tockd.trace import JsonlTrace, TextTrace

#: how often the sinks are flushed while the daemon runs
FLUSH_INTERVAL_S = 0.5


async def serve_board(cfg: BoardConfig, args: argparse.Namespace) -> int:
    """Run the daemon until its apps are done, or SIGTERM/SIGINT; always reap and flush."""
    if cfg.scheduler == "controlled":
        # the lab registers its scheduler when loaded: the kernel does not import it
        import tockd.lab.controlled  # noqa: F401
    try:
        daemon = Daemon(cfg, forever=args.forever, quiet=args.quiet)
    except BoardError as e:
        print(f"tockd: {e}", file=sys.stderr)
        return 1
    daemon.paused = args.paused
    schedule = args.schedule
    if schedule:
        from tockd.lab.follow import follow_schedule

        try:
            follow_schedule(daemon, schedule)  # the scheduler keeps what it follows
        except (OSError, ValueError, KeyError) as e:
            print(f"tockd: cannot follow {schedule}: {e}", file=sys.stderr)
            return 1
    jsonl = JsonlTrace(args.trace_jsonl, interval_s=FLUSH_INTERVAL_S) if args.trace_jsonl else None
    removers = []
    if args.trace:
        removers.append(daemon.kernel.events.subscribe(TextTrace(sys.stdout)))
    if jsonl is not None:
        removers.append(daemon.kernel.events.subscribe(jsonl))
    path = Path(args.control) if args.control else default_socket_path(cfg.name)
    status = 0
    try:
        async with trio.open_nursery() as nursery:
            # catch the stop signals first: one that comes while the first apps are
            # spawned (blocking, before any checkpoint) must stop the board, not
            # raise KeyboardInterrupt out of the spawn
            await nursery.start(_stop_on_signals, daemon)
            server = ControlServer(daemon, path)
            await nursery.start(server.serve)
            print(
                f"tockd: board {cfg.name}: {len(cfg.apps)} app(s), control socket {path}",
                file=sys.stderr,
                flush=True,
            )
            for line in isolation.report(cfg):
                print(f"tockd: {line}", file=sys.stderr, flush=True)

            async def flush() -> None:
                while True:
                    await trio.sleep(FLUSH_INTERVAL_S)
                    if jsonl is not None:
                        jsonl.flush()
                    sys.stdout.flush()

            nursery.start_soon(flush)
            if daemon.scheduler.virtual:  # no timeslice: the lab's watch ends turns
                nursery.start_soon(_watch_steps, daemon)
            status = await daemon.run()
            nursery.cancel_scope.cancel()
        cut = getattr(daemon.scheduler, "cut", "")
        if cut:  # the controlled scheduler stopped the board: say why
            print(f"tockd: stopped: {cut}", file=sys.stderr, flush=True)
    finally:
        for remove in removers:
            remove()
        if jsonl is not None:
            jsonl.close()
        sys.stdout.flush()
    return status


async def _watch_steps(daemon: Daemon) -> None:
    """A board under the controlled scheduler (virtual time, no timeslice: one that
    names it, or follows a schedule) gets what the lab's runs have beside them
    (tockd/lab/run.py, `StepWatch`): an app that computes, or waits in the host OS,
    without a syscall loses the CPU, and the others go on; so a followed schedule's
    run goes where the recorded one went. (Imported only then: a board under another
    scheduler loads nothing of the lab.)"""
    from tockd.lab.controlled import ControlledScheduler
    from tockd.lab.run import StepWatch

    sched = daemon.scheduler
    if isinstance(sched, ControlledScheduler):
        await StepWatch(daemon, sched).run()


async def _stop_on_signals(
    daemon: Daemon, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as sigs:
        task_status.started()
        async for signum in sigs:
            print(f"tockd: {signal.Signals(signum).name}, stopping", file=sys.stderr, flush=True)
            daemon.request_stop()


def run_cli(cfg: BoardConfig, args: argparse.Namespace) -> int:
    try:
        return trio.run(serve_board, cfg, args)
    except KeyboardInterrupt:
        # SIGINT before serve_board caught the stop signals: nothing was spawned yet
        print("tockd: SIGINT, stopping", file=sys.stderr, flush=True)
        return 0
