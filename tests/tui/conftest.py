"""Fixtures for the dashboard tests: real daemons (subprocesses with a control socket in a
short private directory), a blocking client to check the kernel independently of the
dashboard, and `until`, which waits for a condition while the dashboard runs (never a
fixed time: tests/wait.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from textual.pilot import Pilot

from tests.harness import app, board_toml
from tests.wait import WAIT_S, NotYet, look, wait_for
from tockd.cli import Client
from tockd.tui.app import TockdApp

__all__ = ["WAIT_S", "NotYet", "wait_for"]  # the dashboard tests take them from here

ROOT = Path(__file__).resolve().parents[2]

#: a board that settles: buttons idles in yield, hello exits, the crasher faults
SETTLING_BOARD = board_toml(
    [
        app("apps_py.buttons", name="org.tockos.examples.buttons"),
        app("apps_py.hello", name="org.tockos.examples.hello"),
        app("tests.apps.crasher", name="crasher"),
    ],
    name="settle",
    mpu="cortex-m",
    buttons=2,
    leds=2,
)


@dataclass
class Daemon:
    """A `tockd run` subprocess and a blocking control client to check it with."""

    proc: subprocess.Popen[bytes]
    sock: Path
    client: Client

    def request(self, op: str, **args: Any) -> Any:
        return self.client.request(op, **args)

    def state(self, index: int) -> str:
        """Process `index`'s state as the kernel reports it."""
        return str(self.request("ps")[index]["state"])

    def syscalls(self) -> dict[str, int]:
        return {r["name"]: r["syscalls"] for r in self.request("ps")}

    def parked(self) -> bool:
        """Is the scheduler paused, with no process on the CPU and no step left to
        spend? Then the kernel decides nothing until it is told to."""
        sched = self.request("sched")
        return bool(sched["paused"] and sched["current"] is None and not sched["steps_pending"])

    def app_pids(self) -> set[int]:
        """OS pids of the daemon's live app processes, as the OS sees them (a stopped
        app is killed at once and may linger a moment as a zombie: not counted)."""
        pids = set()
        for p in psutil.Process(self.proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if p.status() == psutil.STATUS_ZOMBIE:
                    continue
                cmd = " ".join(p.cmdline())
                if "apps_py.libtock.runtime" in cmd or (
                    "apps_py.libtock.zygote" in cmd and p.ppid() != self.proc.pid
                ):
                    pids.add(p.pid)
        return pids

    def stop(self) -> None:
        self.client.close()
        _stop(self.proc)


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="tt"))  # short: AF_UNIX paths are limited to 107 bytes
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


@pytest.fixture
def start_daemon(sock_dir: Path) -> Iterator[Callable[[str], Daemon]]:
    """`start_daemon(board_toml_text, *more_run_args)`: a running daemon (--forever
    --quiet), stopped and reaped after the test."""
    started: list[subprocess.Popen[bytes]] = []
    daemons: list[Daemon] = []
    counter = itertools.count()

    def start(toml: str, *extra: str) -> Daemon:
        n = next(counter)
        board = sock_dir / f"b{n}.toml"
        board.write_text(toml)
        sock = sock_dir / f"c{n}.sock"
        run = ["run", str(board), "--control", str(sock), "--forever", "--quiet", *extra]
        proc = subprocess.Popen(
            [sys.executable, "-m", "tockd.cli", *run],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(proc)
        # the socket file appears at bind(), a moment before listen(): retry connecting
        client = wait_for(lambda: _try_client(sock, proc), "the daemon's control socket")
        daemon = Daemon(proc, sock, client)
        daemons.append(daemon)
        return daemon

    try:
        yield start
    finally:
        for daemon in daemons:
            daemon.client.close()
        for proc in started:
            _stop(proc)


def _try_client(sock: Path, proc: subprocess.Popen[bytes]) -> Client | None:
    if proc.poll() is not None:
        raise AssertionError(f"the daemon exited with status {proc.returncode}")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(sock))
        except OSError:
            return None
    return Client(str(sock))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def until(pilot: Pilot[Any], condition: Callable[[], Any], what: str) -> Any:
    """Let the app run until `condition` is truthy; returns its value. A condition that
    raises NotYet counts as false."""
    deadline = time.monotonic() + WAIT_S
    while True:
        value = look(condition)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_S:g} s waiting for {what}")
        await pilot.pause(0.05)


def drawn(tui: TockdApp) -> bool:
    """Do the panes show what the dashboard holds now (a refresh drew the newest
    events and keyframe, the viewed event and the selection, and nothing changed
    since)?"""
    h = tui.history
    return not tui._dirty and tui._drawn == (
        h.received,
        tui.viewing,
        tui.selected,
        len(h.keyframes),
    )


def settle(daemon: Daemon) -> None:
    """Wait until SETTLING_BOARD has settled, then pause it: from then on its state
    depends on nothing but what the test does."""

    def settled() -> bool:
        rows = {r["name"]: r for r in daemon.request("ps")}
        buttons = rows["org.tockos.examples.buttons"]
        return (
            buttons["state"] == "Yielded"
            and buttons["queue"] == 0
            and rows["org.tockos.examples.hello"]["state"] == "Terminated"
            and rows["crasher"]["state"] == "Faulted"
        )

    wait_for(settled, "the board to settle")
    daemon.request("pause")
    before = daemon.syscalls()
    wait_for(daemon.parked, "the paused kernel to hold every process")
    assert daemon.syscalls() == before


def run_async(body: Callable[[], Any]) -> None:
    """Run an async test body (pytest-trio owns `async def` tests; Textual is asyncio)."""
    asyncio.run(body())
