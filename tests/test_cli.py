"""The `tockd` command as a user runs it: real subprocesses, real signals."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from apps_py.libtock import sandbox
from tests.wait import poll, wait_for
from tockd.cli import Client, build_parser

ROOT = Path(__file__).resolve().parent.parent
TOCKD = [sys.executable, "-m", "tockd.cli"]


def tockd(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TOCKD, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="t"))  # short: AF_UNIX paths are limited to 107 bytes
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


def start_daemon(config: str, sock: Path, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*TOCKD, "run", config, "--control", str(sock), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if not poll(lambda: sock.exists() or proc.poll() is not None) or not sock.exists():
        proc.kill()
        raise AssertionError(f"daemon did not start: {proc.communicate()}")
    return proc


def app_children(daemon_pid: int) -> list[psutil.Process]:
    """The daemon's apps: started cold, or forked by its zygote (they keep its cmdline)."""
    apps = []
    for p in psutil.Process(daemon_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(p.cmdline())
            if "apps_py.libtock.runtime" in cmd or (
                "apps_py.libtock.zygote" in cmd and p.ppid() != daemon_pid
            ):
                apps.append(p)
    return apps


def test_run_hello_prints_tock_shaped_trace() -> None:
    r = tockd("run", "configs/hello.toml", "--trace")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "[org.tockos.examples.hello] Hello World!" in lines
    shapes = [
        r"^\[0\] function_call @0x[0-9a-f]+\(0x[0-9a-f]+, 0x[0-9a-f]+, 0x[0-9a-f]+, 0x[0-9a-f]+\)$",
        r"^\[0\] memop\(0, 0x[0-9a-f]+\) = Success$",
        r"^\[0\] memop\(10, 0x[0-9a-f]+\) = Success$",
        r"^\[0\] read-only allow\(0x1, 1, @0x[0-9a-f]+, 13\) = AllowReadOnlySuccess\(0x0, 0\)$",
        r"^\[0\] remove_pending_upcalls\[0x1:1\] = 0 upcall\(s\) removed$",
        r"^\[0\] subscribe\(0x1, 1, @0x[0-9a-f]+, 0x0\) = SubscribeSuccess\(0x0, 0\)$",
        r"^\[0\] cmd\(0x1, 1, 0xd, 0x0\) = Success$",
        r"^\[0\] yield\. which: 1$",
        r"^\[0\] schedule\[0x1:1\] @0x[0-9a-f]+\(0xd, 0x0, 0x0, 0x0\) = Ok\(\(\)\)$",
        r"^\[0\] exit\(which: 0, completion_code: 0\) = None$",
    ]
    for shape in shapes:
        assert any(re.match(shape, line) for line in lines), shape
    # the remove_pending_upcalls line comes right before its subscribe line
    i = next(i for i, line in enumerate(lines) if "remove_pending_upcalls" in line)
    assert lines[i + 1].startswith("[0] subscribe(0x1, 1,")


def test_trace_jsonl_holds_every_event(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    r = tockd("run", "configs/demo.toml", "--quiet", "--trace-jsonl", str(out))
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    kinds = {e["kind"] for e in events}
    assert {
        "syscall",
        "schedule",
        "function_call",
        "console",
        "spawn",
        "terminated",
        "context_switch",
        "grant_alloc",
    } <= kinds
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_bad_board_file_gets_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[board]\nmpu = "pdp-11"\n[[apps]]\nname = "x"\nmodule = "apps_py.hello"\n')
    r = tockd("run", str(bad))
    assert r.returncode == 1
    assert "board.mpu: unknown MPU model 'pdp-11'" in r.stderr
    r = tockd("run", str(tmp_path / "missing.toml"))
    assert r.returncode == 1 and "cannot read board file" in r.stderr


def test_ps_lists_real_pids_and_sigterm_reaps_everything(sock_dir: Path) -> None:
    sock = sock_dir / "c.sock"
    daemon = start_daemon("configs/buttons.toml", sock, "--forever")
    try:
        children = wait_for(lambda: app_children(daemon.pid), "the app's process")
        assert len(children) == 1
        r = tockd("ps", "--control", str(sock))
        assert r.returncode == 0, r.stderr
        assert "org.tockos.examples.buttons" in r.stdout
        assert str(children[0].pid) in r.stdout
        r = tockd("button", "0", "--control", str(sock))
        assert "1 process(es) notified" in r.stdout
        r = tockd("mem", "org.tockos.examples.buttons", "--control", str(sock))
        assert "app_break" in r.stdout and "grant 0x00003" in r.stdout
        r = tockd("stop", "nosuch", "--control", str(sock))
        assert r.returncode != 0 and "no process named 'nosuch'" in r.stderr
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=15)
        assert daemon.returncode == 0, err
        assert "button 0 pressed" in out
        assert not sock.exists()
        for child in children:
            assert not psutil.pid_exists(child.pid) or child.status() == psutil.STATUS_ZOMBIE
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()


#: moments of a daemon's start to send SIGINT at, each a condition on its pid: as soon
#: as its control socket is there (the first apps are being spawned), once it has a
#: child (the zygote, or a cold app), once an app runs
SIGINT_MOMENTS: dict[str, Callable[[int], object]] = {
    "socket": lambda pid: True,
    "child": lambda pid: psutil.Process(pid).children(),
    "app": app_children,
}


@pytest.mark.parametrize("moment", list(SIGINT_MOMENTS))
def test_sigint_stops_cleanly(sock_dir: Path, moment: str) -> None:
    daemon = start_daemon("configs/buttons.toml", sock_dir / "c.sock", "--forever")
    wait_for(lambda: SIGINT_MOMENTS[moment](daemon.pid), f"the moment to interrupt: {moment}")
    daemon.send_signal(signal.SIGINT)
    _, err = daemon.communicate(timeout=15)
    assert daemon.returncode == 0, err
    assert "SIGINT, stopping" in err


def test_apps_die_when_the_daemon_is_killed(sock_dir: Path) -> None:
    daemon = start_daemon("configs/buttons.toml", sock_dir / "c.sock", "--forever")
    children = wait_for(lambda: app_children(daemon.pid), "the app's process")
    os.kill(daemon.pid, signal.SIGKILL)
    daemon.communicate()
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, "apps outlived a SIGKILLed daemon"
    (sock_dir / "c.sock").unlink(missing_ok=True)


def test_control_socket_rejects_bad_requests_and_survives(sock_dir: Path) -> None:
    import socket

    from tockd.contract import wire

    sock = sock_dir / "c.sock"
    daemon = start_daemon("configs/buttons.toml", sock, "--forever")
    try:
        assert oct(sock.stat().st_mode & 0o777) == "0o600"
        for payload in (
            wire.encode([1, 2]),
            wire.encode({"op": "nope"}),
            wire.encode({"op": "mem", "name": 99}),
            b"\xc1",
        ):
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock))
                s.sendall(payload)
                reply = s.recv(4096)
                decoder = wire.FrameDecoder()
                decoder.feed(reply)
                msg = next(decoder.frames())
                assert msg["ok"] is False and msg["error"]
        with socket.socket(socket.AF_UNIX) as s:  # read-only connections may not command
            s.connect(str(sock))
            s.sendall(wire.encode({"op": "readonly"}) + wire.encode({"op": "stop", "name": 0}))
            s.settimeout(10)
            decoder = wire.FrameDecoder()
            frames: list[Any] = []
            while len(frames) < 2:  # both replies, however they are split
                chunk = s.recv(4096)
                assert chunk, f"the daemon closed the connection after {frames}"
                decoder.feed(chunk)
                frames.extend(decoder.frames())
            assert frames[1]["ok"] is False and "read-only" in frames[1]["error"]
        assert "org.tockos.examples.buttons" in tockd("ps", "--control", str(sock)).stdout
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=15)


def test_process_console_commands_from_the_cli(sock_dir: Path) -> None:
    sock = sock_dir / "c.sock"
    daemon = start_daemon("configs/buttons.toml", sock, "--forever")
    name = "org.tockos.examples.buttons"

    def ps_state() -> str:
        out = tockd("ps", "--control", str(sock)).stdout
        row = next(line for line in out.splitlines() if name in line)
        return row.split()[-1]

    def reach(state: str) -> None:
        wait_for(lambda: ps_state() == state, f"{name} to be {state}")

    try:
        reach("Yielded")
        assert (
            "Process org.tockos.examples.buttons stopped"
            in tockd("stop", name, "--control", str(sock)).stdout
        )
        reach("Stopped(Yielded)")
        assert "resumed" in tockd("start", name, "--control", str(sock)).stdout
        reach("Yielded")
        assert "restarted" in tockd("restart", "0", "--control", str(sock)).stdout
        reach("Yielded")
        out = tockd("ps", "--control", str(sock)).stdout
        assert re.search(rf"{name}\s+\d+\s+\d+\s+\d+\s+1\s", out), out  # Restarts = 1
        assert "now faulted" in tockd("fault", name, "--control", str(sock)).stdout
        reach("Faulted")
        r = tockd("boot", name, "--control", str(sock))
        assert r.returncode != 0 and "boot needs Terminated" in r.stderr
        assert "terminated" in tockd("terminate", name, "--control", str(sock)).stdout
        r = tockd("terminate", name, "--control", str(sock))  # again: nothing to do
        assert r.returncode != 0 and "already Terminated" in r.stderr, r
        assert "booted" in tockd("boot", name, "--control", str(sock)).stdout
        reach("Yielded")
        out = tockd("ps", "--control", str(sock)).stdout
        # 2.2's start() is reset(), which counts: one restart and one boot
        assert re.search(rf"{name}\s+\d+\s+\d+\s+\d+\s+2\s", out), out  # Restarts = 2
        mem = tockd("mem", name, "--control", str(sock)).stdout
        assert "kernel_memory_break" in mem and "MPU regions" in mem
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=15)


def test_run_paused_waits_for_resume_before_the_first_syscall(sock_dir: Path) -> None:
    sock = sock_dir / "c.sock"
    daemon = start_daemon("configs/hello.toml", sock, "--paused", "--trace")
    try:

        def hello_row() -> list[str]:
            ps = tockd("ps", "--control", str(sock)).stdout.splitlines()
            return next(line for line in ps if "examples.hello" in line).split()

        def quanta_and_syscalls() -> tuple[str, str]:
            quanta, syscalls = hello_row()[3:5]
            return quanta, syscalls

        def steps_pending() -> int:
            with contextlib.closing(Client(str(sock))) as client:
                return int(client.request("sched")["steps_pending"])

        # hello's process is up, its first upcall (function_call) queued: were the board
        # running, hello would run now
        wait_for(lambda: app_children(daemon.pid) and hello_row()[7] == "1", "hello, queued")
        assert quanta_and_syscalls() == ("0", "0")
        assert "0 decision(s)" in tockd("step", "3", "--control", str(sock)).stdout
        r = tockd("step", "0", "--control", str(sock))
        assert r.returncode != 0 and "positive integer" in r.stderr
        # three decisions: the function_call upcall, then two syscalls (memops)
        wait_for(lambda: quanta_and_syscalls()[1] == "2", "two syscalls")
        wait_for(lambda: steps_pending() == 0, "the three steps to be spent")
        assert quanta_and_syscalls()[1] == "2"  # and no further
        assert "3 decision(s)" in tockd("step", "--control", str(sock)).stdout
        assert "scheduler running" in tockd("resume", "--control", str(sock)).stdout
        out, err = daemon.communicate(timeout=15)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert daemon.returncode == 0, err
    assert "Hello World!" in out
    assert out.splitlines()[0].startswith("[0] function_call")  # the trace is whole


def test_run_says_the_isolation_tier_and_warns_for_each_relaxation(tmp_path: Path) -> None:
    r = tockd("run", "configs/hello.toml")
    assert r.returncode == 0, r.stderr
    weaker = sandbox.weaknesses(sandbox.probe(), {})
    tier = "tockd: isolation: full" if not weaker else "tockd: isolation: weaker"
    assert tier in r.stderr.splitlines()  # full here: Landlock ABI 7, x86_64
    assert [f"tockd:   - {w}" for w in weaker] == [
        line for line in r.stderr.splitlines() if line.startswith("tockd:   - ")
    ]
    board = tmp_path / "relaxed.toml"
    board.write_text(
        '[board]\nname = "relaxed"\nmpu = "ideal"\n'
        '[[apps]]\nname = "hello"\nmodule = "apps_py.hello"\n'
        "[apps.sandbox]\nfork = true\nlandlock = false\n"
        '[[apps]]\nname = "strict"\nmodule = "apps_py.hello"\n'
    )
    r = tockd("run", str(board))
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert "tockd: isolation: weaker" in lines
    assert any(line.startswith("tockd:   - landlock = false: the app may read") for line in lines)
    warnings = [line for line in lines if "WARNING" in line]
    assert [w.split(": ")[2] for w in warnings] == [
        "app hello runs with a relaxed sandbox",
        "app hello runs with a relaxed sandbox",
    ]
    assert "fork = true" in warnings[0] and "landlock = false" in warnings[1]


def test_every_argument_of_every_command_says_what_it_is() -> None:
    """`tockd CMD --help` explains each option and argument: none is left bare."""
    bare: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])
            elif not action.help and not isinstance(action, argparse._HelpAction):
                bare.append(" ".join([*path, *(action.option_strings or [action.dest])]))

    walk(build_parser(), ["tockd"])
    assert bare == []


#: a schedule file as tockd explore saves it (version 2: it names its board by path)
SAVED = Path(__file__).parent / "lab" / "v2_schedules" / "rot13_report.json"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"board": {"x": 1}}, "the board is a file's path, not {'x': 1}"),
        ({"board": "/nonexistent/b.toml"}, "cannot read board file /nonexistent/b.toml"),
        ({"max_steps": -4}, "max_steps is a count of 1 or more, not -4"),
        ({"max_steps": "lots"}, "max_steps is a count of 1 or more, not 'lots'"),
        ({"decisions": [None]}, "a decision is [kind, options, choice], not None"),
        (None, "not a schedule file (a JSON object)"),
    ],
)
def test_a_broken_schedule_file_is_refused_with_its_reason(
    tmp_path: Path, change: dict[str, object] | None, why: str
) -> None:
    """A schedule file is the user's, hand-edited or cut short: each fault in it is
    named, with no traceback and no run (a board that is no path was a traceback; a
    step budget below one ran and reported a DIFFERENT digest)."""
    data = json.loads(SAVED.read_text())
    data["board"] = str(Path(__file__).parent.parent / "configs" / "rot13_report.toml")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([1, 2] if change is None else {**data, **change}))
    r = subprocess.run(
        [sys.executable, "-m", "tockd.cli", "replay", str(bad)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 1, r.stdout
    assert r.stderr.startswith(f"tockd: cannot replay {bad}: {why}"), r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
