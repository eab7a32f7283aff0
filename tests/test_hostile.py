"""Hostile apps against their sandbox, and a daemon killed while it writes its JSONL.

Each crash kind (tests/apps/hostile.py) runs next to tests/apps/steady.py, a
well-behaved app that checks every answer it gets. The hostile app has the restart
fault policy with threshold 0: its first fault restarts it, the second stops it, which
shows the policy applied twice with the same reason. Crash kinds covered elsewhere:
raising, SIGKILL, exit outside the interface, hostile frames (test_e2e_syscalls.py,
test_fuzz.py), a busy loop preempted by the scheduler (test_e2e_syscalls.py).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio

import tockd.lab.controlled  # noqa: F401 - registers the controlled scheduler
from tests.harness import app, board_toml, run_board
from tests.wait import wait_for, wait_until
from tockd.control import ControlServer
from tockd.daemon import Daemon
from tockd.kernel.process import State
from tockd.trace import format_event

ROOT = Path(__file__).resolve().parent.parent
TOCKD_RUN = [sys.executable, "-m", "tockd.cli", "run"]
SECCOMP_KILL = "killed by SIGSYS (seccomp: a system call the app's sandbox forbids)"
RAM_SIZE = 65536


#: each crash kind of tests/apps/hostile.py: (how, its sandbox settings, the fault
#: reason it must get); the lab's runs are held to the same (tests/lab/test_hostile_runs.py)
CRASH_KINDS = [
    pytest.param(
        "memory_hog",
        {"address_space_mb": 64},
        "app raised MemoryError [sandbox: address space limit 64 MiB beyond RAM (RLIMIT_AS)]",
        id="memory_hog",
    ),
    pytest.param(
        "fd_flood",
        {"open_files": 16},
        "app raised OSError: [Errno 24] Too many open files: '/dev/null' "
        "[sandbox: open files limit 16 (RLIMIT_NOFILE)]",
        id="fd_flood",
    ),
    pytest.param("fork", {}, SECCOMP_KILL, id="fork"),
    pytest.param(
        "threads",
        {},
        "app raised RuntimeError: can't start new thread "
        "[sandbox: threads = false: a Tock process has one thread]",
        id="thread",
    ),
    pytest.param("spawn", {}, SECCOMP_KILL, id="subprocess"),
    pytest.param("exec", {}, SECCOMP_KILL, id="exec"),
    pytest.param(
        "cpu_hog",
        {"cpu_seconds": 1},
        "killed by SIGXCPU (CPU time limit of its sandbox, RLIMIT_CPU)",
        id="busy_loop_past_RLIMIT_CPU",
    ),
    pytest.param(
        "half_frame_exit",
        {},
        "exited with status 0 outside the syscall interface",
        id="exit_in_the_middle_of_a_syscall",
    ),
    pytest.param(
        "half_frame_kill", {}, "killed by SIGKILL", id="sigkill_in_the_middle_of_a_syscall"
    ),
    pytest.param(
        # the daemon may find it gone when it sends the reply: still its exit's reason
        "call_then_exit",
        {},
        "exited with status 7 outside the syscall interface",
        id="exit_before_the_reply",
    ),
    pytest.param(
        "half_frame_stall",
        {},
        "sent part of a syscall frame and not the rest in 1000 ms of its time on the CPU",
        id="stalls_in_the_middle_of_a_syscall",
    ),
    pytest.param("segv", {}, "killed by SIGSEGV (MPU fault, hardware backstop)", id="sigsegv"),
    pytest.param("socket", {"seccomp": True}, SECCOMP_KILL, id="seccomp_socket"),
    pytest.param("kill_parent", {"seccomp": True}, SECCOMP_KILL, id="seccomp_signal_other"),
    pytest.param(
        "open_file",
        {"seccomp": True},
        "app raised PermissionError: [Errno 13] Permission denied: '/etc/hostname' "
        "[sandbox: the seccomp filter denies access to files]",
        id="seccomp_open_file",
    ),
]


@pytest.mark.parametrize(("how", "sandbox", "reason"), CRASH_KINDS)
async def test_each_crash_kind_is_faulted_and_the_board_goes_on(
    how: str, sandbox: dict[str, Any], reason: str
) -> None:
    hostile = app(
        "tests.apps.hostile",
        args={"how": how},
        sandbox=sandbox,
        fault_policy="restart",
        restart_threshold=0,
    )
    run = await run_board(board_toml([hostile, app("tests.apps.steady", args={"rounds": 30})]))
    faults = run.of("fault", "hostile")
    assert [(f["reason"], f["policy"]) for f in faults] == [
        (reason, "restart"),
        (reason, "stop"),
    ]
    assert run.console["hostile"] == f"hostile {how}\n" * 2
    assert run.proc("hostile").state is State.FAULTED
    assert run.faults("steady") == []
    assert run.console["steady"] == "steady done 30\n"
    assert run.status == 0


@pytest.mark.parametrize("scheduler", ["cooperative", "controlled"])
async def test_a_stall_half_way_through_a_frame_is_faulted_with_no_timeslice(
    scheduler: str,
) -> None:
    """With no timeslice to end the wait for the rest of a frame (the cooperative
    scheduler, the lab's virtual time), the wait itself is bounded: the app is faulted
    as on round robin. It used to hold the CPU for good (even SIGTERM could not stop
    the board), and the lab's runs until their 20 s budget."""
    stall = app("tests.apps.hostile", args={"how": "half_frame_stall"})
    steady = app("tests.apps.steady", args={"rounds": 5})
    run = await run_board(board_toml([stall, steady], scheduler=scheduler), timeout=20)
    reason = "sent part of a syscall frame and not the rest in 1000 ms of its time on the CPU"
    assert run.faults("hostile") == [reason]
    assert run.console["steady"] == "steady done 5\n"
    assert run.status == 0


async def test_several_hostile_apps_at_once_with_cold_spawned_apps() -> None:
    """The same verdicts when apps are fresh interpreters (`spawn = "cold"`), not forks
    of the zygote, and when several misbehave on one board at the same time."""

    def hostile(how: str, **sandbox: Any) -> dict[str, Any]:
        return app("tests.apps.hostile", name=how, args={"how": how}, sandbox=sandbox)

    text = board_toml(
        [
            hostile("fork"),
            hostile("segv"),
            hostile("memory_hog", address_space_mb=64),
            hostile("socket", seccomp=True),
            app("tests.apps.steady", args={"rounds": 30}),
        ],
        spawn="cold",
    )
    run = await run_board(text)
    assert run.faults("fork") == run.faults("socket") == [SECCOMP_KILL]
    assert run.faults("segv") == ["killed by SIGSEGV (MPU fault, hardware backstop)"]
    assert run.faults("memory_hog")[0].startswith("app raised MemoryError [sandbox:")
    assert run.faults("steady") == []
    assert run.console["steady"] == "steady done 30\n"


async def test_a_fault_report_cannot_forge_the_reason() -> None:
    run = await run_board(board_toml([app("tests.apps.hostile", args={"how": "forge_report"})]))
    [reason] = run.faults("hostile")
    assert reason.strip() and "\n" not in reason, reason
    assert reason == "app sent a malformed MPU fault report"


async def test_sandbox_settings_reach_each_app() -> None:
    text = board_toml(
        [
            app("tests.apps.hostile", name="default", args={"how": "status"}),
            app(
                "tests.apps.hostile",
                name="custom",
                args={"how": "status"},
                sandbox={"address_space_mb": 100, "cpu_seconds": 7, "open_files": 32},
            ),
            app(
                "tests.apps.hostile",
                name="unlimited",
                args={"how": "status"},
                sandbox={"address_space_mb": 0, "cpu_seconds": 0, "open_files": 0},
            ),
        ],
        ram_size=RAM_SIZE,
    )
    run = await run_board(text)
    assert run.faults() == []
    limits = {
        "default": ((256 << 20) + RAM_SIZE, 600, 64),
        "custom": ((100 << 20) + RAM_SIZE, 7, 32),
        "unlimited": (-1, -1, None),
    }
    for name, (space, cpu, files) in limits.items():
        lines = run.console[name].splitlines()
        assert f"RLIMIT_AS {space} {space}" in lines
        assert f"RLIMIT_CPU {cpu} {cpu + 1 if cpu > 0 else cpu}" in lines
        if files is not None:
            assert f"RLIMIT_NOFILE {files} {files}" in lines
        assert "RLIMIT_CORE 0 0" in lines
        assert "NoNewPrivs:\t1" in lines
        assert "Seccomp:\t2" in lines  # the base filter (one: tests/test_sandbox.py)
        assert "Dumpable:\t0" in lines
        assert "capget:\tcapget failed: Operation not permitted" in lines


async def test_limits_cannot_be_raised_even_by_root() -> None:
    run = await run_board(board_toml([app("tests.apps.hostile", args={"how": "raise_limit"})]))
    assert run.faults() == []
    lines = run.console["hostile"].splitlines()[1:]
    assert len(lines) == 3
    assert all(" refused (" in line and line.endswith("still True") for line in lines), lines


async def test_threads_only_where_the_board_allows_them() -> None:
    allowed = app("tests.apps.hostile", args={"how": "threads"}, sandbox={"threads": True})
    run = await run_board(board_toml([allowed]))
    assert run.faults() == []
    assert run.console["hostile"] == "hostile threads\nthread ok 499500\n"


async def test_a_thread_bomb_gets_no_thread() -> None:
    """Raw clone(2) on a tiny stack (what RLIMIT_AS cannot bound, nor RLIMIT_NPROC for
    root) and Python threads on the smallest stack: not one is made, and the app goes on
    to its end."""
    run = await run_board(board_toml([app("tests.apps.hostile", args={"how": "raw_threads"})]))
    assert run.faults() == []
    assert run.console["hostile"] == (
        "hostile raw_threads\n"
        "raw clone: -1 EAGAIN\n"
        "python threads: 0 started, then can't start new thread\n"
    )


async def test_no_system_v_object_can_be_made_to_reach_around_the_kernel() -> None:
    """Shared memory, semaphores and message queues of System V are the host's, found by
    key by any process, and outlive their maker: a channel between two apps that
    Tock's kernel never sees, and memory that stays taken after the app is gone."""
    run = await run_board(board_toml([app("tests.apps.hostile", args={"how": "sysv_ipc"})]))
    assert run.faults() == []
    assert run.console["hostile"] == (
        "hostile sysv_ipc\nshmget: EPERM\nsemget: EPERM\nmsgget: EPERM\n"
    )


async def test_no_lock_or_watch_on_a_shared_file() -> None:
    """Every app may read the interpreter's files; a lock on one, or a watch that sees it
    opened, would be a channel between apps that Tock's kernel never sees."""
    run = await run_board(board_toml([app("tests.apps.hostile", args={"how": "file_channels"})]))
    assert run.faults() == []
    assert run.console["hostile"] == (
        "hostile file_channels\nflock: EPERM\nrecord lock: EPERM\ninotify: EPERM\n"
    )


async def test_strict_filter_is_installed_before_main() -> None:
    seen: dict[str, str] = {}

    async def during(daemon: Daemon) -> None:
        proc = daemon.kernel.find("forever")
        assert proc is not None
        await wait_until(lambda: proc.syscall_count >= 5, "forever's first syscalls")
        status = await trio.Path(f"/proc/{proc.pid}/status").read_text()
        seen.update(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        server = ControlServer(daemon, Path("/nonexistent"))
        assert (await server.handle({"op": "terminate", "name": "forever"}))["ok"]

    run = await run_board(
        board_toml([app("tests.apps.forever", sandbox={"seccomp": True})]), during=during
    )
    assert run.faults() == []
    # the zygote's host layer, the app's own layer of the base filter, the strict filter
    assert (seen["NoNewPrivs"], seen["Seccomp"], seen["Seccomp_filters"]) == ("1", "2", "3")
    # no capability, whatever the uid (the app itself may not ask: capget); the bounding
    # set is emptied where the zygote may (CAP_SETPCAP, root): without it nothing can be
    # gained back anyway (no exec, no_new_privs)
    sets = ("CapInh", "CapPrm", "CapEff", "CapAmb", *(("CapBnd",) if os.geteuid() == 0 else ()))
    assert {seen[c] for c in sets} == {"0" * 16}


async def test_well_behaved_apps_work_under_the_strict_filter() -> None:
    text = board_toml(
        [
            app("tests.apps.abi"),
            app("tests.apps.overflow"),
            app("apps_py.hello", name="hello"),
            app("tests.apps.steady", args={"rounds": 20}),
            app("tests.apps.crasher", name="raiser", args={"how": "raise"}),
            app("tests.apps.crasher", name="mpu", args={"how": "mpu"}),
        ],
        abi_echo=True,
        sandbox={"seccomp": True},
        ram_size=4 * RAM_SIZE,
        uart_baud=0,  # the overflow app needs every write done before it yields
    )
    run = await run_board(text)
    assert run.faults("abi") == run.faults("overflow") == run.faults("steady") == []
    assert run.console["abi"].endswith("ABI OK\n")
    assert run.console["overflow"].endswith("received 9\n")  # the queue holds 9
    assert run.console["hello"] == "Hello World!\n"
    assert run.console["steady"] == "steady done 20\n"
    # faults are still reported with their reasons from inside the filter
    assert run.faults("raiser") == ["app raised ValueError: deliberate crash"]
    assert run.faults("mpu")[0].startswith("MPU fault: write of 4 byte(s) at")


def grown(daemon: subprocess.Popen[Any], out: Path, size: int) -> Callable[[], bool]:
    """A condition: the running daemon's JSONL trace `out` holds `size` bytes."""

    def done() -> bool:
        assert daemon.poll() is None, f"the daemon exited with status {daemon.returncode}"
        return out.exists() and out.stat().st_size >= size

    return done


@pytest.mark.parametrize("kill_after_bytes", [100 * 1024, 400 * 1024])
def test_sigkill_of_the_daemon_never_tears_its_jsonl(tmp_path: Path, kill_after_bytes: int) -> None:
    board = tmp_path / "chatty.toml"
    board.write_text(
        board_toml([app("tests.apps.chatty", name="a"), app("tests.apps.chatty", name="b")])
    )
    out = tmp_path / "events.jsonl"
    sock = Path(tempfile.mkdtemp(prefix="t")) / "c.sock"  # AF_UNIX paths are short
    argv = [*TOCKD_RUN, str(board), "--quiet", "--forever", "--trace-jsonl", str(out)]
    daemon = subprocess.Popen(
        [*argv, "--control", str(sock)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(grown(daemon, out, kill_after_bytes), "events in the JSONL file")
        children = psutil.Process(daemon.pid).children(recursive=True)
        # then a little further, a random way, so the kill lands anywhere in a write
        more = kill_after_bytes + random.randrange(32 * 1024)
        wait_for(grown(daemon, out, more), "more events in the JSONL file")
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait(10)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        sock.unlink(missing_ok=True)
        sock.parent.rmdir()
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, "apps outlived the SIGKILLed daemon"
    data = out.read_bytes()
    assert data.endswith(b"\n")
    events = [json.loads(line) for line in data.splitlines()]  # every line parses
    assert len(events) > 100
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # only a tail lost


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stop_signal_mid_run_reaps_everything_and_flushes_both_traces(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """Both sinks see the same events: every Tock trace line printed on stdout is the
    formatting of a JSONL event, in order, none missing at the end."""
    board = tmp_path / "chatty.toml"
    board.write_text(
        board_toml([app("tests.apps.chatty", name="a"), app("tests.apps.chatty", name="b")])
    )
    out = tmp_path / "events.jsonl"
    sock = Path(tempfile.mkdtemp(prefix="t")) / "c.sock"
    argv = [*TOCKD_RUN, str(board), "--quiet", "--forever", "--trace", "--trace-jsonl", str(out)]
    daemon = subprocess.Popen(
        [*argv, "--control", str(sock)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        wait_for(grown(daemon, out, 100 * 1024), "events in the JSONL file")
        children = psutil.Process(daemon.pid).children(recursive=True)
        assert len(children) >= 2
        daemon.send_signal(sig)
        stdout, _ = daemon.communicate(timeout=20)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
        sock.unlink(missing_ok=True)
        sock.parent.rmdir()
    assert daemon.returncode == 0
    for child in children:  # reaped: gone, not zombies
        assert not psutil.pid_exists(child.pid) or child.status() != psutil.STATUS_ZOMBIE
    events = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    lines = [line for e in events if (line := format_event(e)) is not None]
    assert stdout.splitlines() == lines
    assert len(lines) > 100
