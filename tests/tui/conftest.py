"""Fixtures for the dashboard tests: real daemons (subprocesses with a control socket in a
short private directory), a blocking client to check the kernel independently of the
dashboard, and a poller that waits for a condition instead of sleeping a fixed time."""

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
from tockd.cli import Client

ROOT = Path(__file__).resolve().parents[2]
#: generous: the machine may be a loaded 2-core VM
WAIT_S = 20.0

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

    def syscalls(self) -> dict[str, int]:
        return {r["name"]: r["syscalls"] for r in self.request("ps")}

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


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll `condition` (blocking) until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class NotYet(Exception):
    """Raised by a condition's helper when what it looks at does not exist yet (say, the
    dashboard has no keyframe while its first snapshot waits for the stream)."""


async def until(pilot: Pilot[Any], condition: Callable[[], Any], what: str) -> Any:
    """Let the app run until `condition` is truthy; returns its value. A condition that
    raises NotYet counts as false."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            value = condition()
        except NotYet:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


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
    time.sleep(0.2)
    assert daemon.syscalls() == before


def run_async(body: Callable[[], Any]) -> None:
    """Run an async test body (pytest-trio owns `async def` tests; Textual is asyncio)."""
    asyncio.run(body())
