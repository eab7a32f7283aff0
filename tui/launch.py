"""`tockd run BOARD --tui`: the daemon as a child process, the dashboard attached to it.

The daemon runs as `tockd run BOARD --control SOCKET --quiet --forever --paused` in its
own process (the dashboard never shares the kernel's thread); its output goes to a log
file so it cannot garble the screen. The board starts with its scheduler paused and is
resumed once the dashboard has attached (a replay stays paused), so the dashboard sees
the board from its first scheduling decision. When the dashboard quits, the daemon gets
SIGTERM (it stops and reaps every app) and is waited for; if the dashboard's process
dies first, the kernel delivers the same SIGTERM (PR_SET_PDEATHSIG), so no board is left
behind. If the dashboard fails (an exception in it), the board is stopped all the same
and the command exits with the dashboard's non-zero status.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

#: how long the daemon may take to create its control socket
START_TIMEOUT_S = 30.0
#: how long it may take to stop after SIGTERM before it is killed
STOP_TIMEOUT_S = 15.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # runs in the child between fork and exec; the parent is single-threaded here
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def run_board_with_tui(
    run_args: Sequence[str], control: Path, log: Path, *, resume: bool = True
) -> int:
    """Start `tockd run *run_args --control CONTROL`, run the dashboard on it, stop it.

    Returns the dashboard's exit status if it failed, else the daemon's (0 after a
    clean stop)."""
    argv = [sys.executable, "-m", "tockd.cli", "run", *run_args, "--control", str(control)]
    with open(log, "wb") as out:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not control.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                print(_tail(log), file=sys.stderr)
                print(f"tockd: the board did not start (log: {log})", file=sys.stderr)
                return child.returncode if child.returncode is not None else 1
            time.sleep(0.02)
        from tockd.tui import run

        dashboard = run(control, resume_on_attach=resume)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    status = child.returncode
    if dashboard != 0:
        print(
            f"tockd: the dashboard failed (status {dashboard}); the board is stopped "
            f"(its log: {log})",
            file=sys.stderr,
        )
        return dashboard
    if status not in (0, -signal.SIGTERM):
        print(_tail(log), file=sys.stderr)
        print(f"tockd: the board exited with status {status} (log: {log})", file=sys.stderr)
        return status
    log.unlink(missing_ok=True)
    return 0


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
