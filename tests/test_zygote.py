"""The warm zygote: apps forked from it behave as cold ones do, and nothing leaks."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio

from tests.harness import app, board_toml, run_board
from tests.wait import wait_until
from tockd.board import parse_board
from tockd.daemon import Daemon
from tockd.kernel.process import State
from tockd.zygote import Zygote, ZygoteError


async def test_apps_are_forked_by_the_zygote_each_in_its_own_session() -> None:
    seen: dict[str, tuple[int, int, int, int]] = {}
    zygote_pid = 0

    async def during(daemon: Daemon) -> None:
        nonlocal zygote_pid
        assert daemon.zygote is not None and daemon.zygote.popen is not None
        zygote_pid = daemon.zygote.popen.pid
        # four memops, then console.write's allow, subscribe, command and yield: a
        # ninth syscall comes after the write-done upcall, so the text is out (and each
        # child has long since run its setsid())
        await wait_until(
            lambda: all(p.syscall_count > 9 for p in daemon.kernel.processes),
            "both apps' tenth syscall",
        )
        for proc in daemon.kernel.processes:
            assert proc.pid is not None
            seen[proc.name] = (
                psutil.Process(proc.pid).ppid(),
                os.getpgid(proc.pid),
                os.getsid(proc.pid),
                proc.pid,
            )
        daemon.request_stop()

    run = await run_board(
        board_toml([app("tests.apps.forever", name="a"), app("tests.apps.forever", name="b")]),
        during=during,
    )
    assert run.status == 0
    assert {e["start"] for e in run.of("spawn")} == {"zygote"}
    assert len({pid for *_, pid in seen.values()}) == 2
    for ppid, pgid, sid, pid in seen.values():
        assert ppid == zygote_pid and pgid == pid and sid == pid
    assert run.console == {"a": "forever\n", "b": "forever\n"}
    assert not psutil.pid_exists(zygote_pid)  # reaped with the board


@pytest.mark.parametrize("spawn", ["zygote", "cold"])
@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("sigkill", "killed by SIGKILL"),
        ("exit", "exited with status 3 outside the syscall interface"),
        ("raise", "app raised ValueError: deliberate crash"),
    ],
)
async def test_exit_statuses_reach_the_kernel_the_same_way(
    spawn: str, how: str, reason: str
) -> None:
    run = await run_board(board_toml([app("tests.apps.crasher", args={"how": how})], spawn=spawn))
    assert [e["start"] for e in run.of("spawn")] == [spawn]
    faults = run.faults("crasher")
    assert len(faults) == 1 and faults[0].startswith(reason), faults
    assert run.proc("crasher").state is State.FAULTED


async def test_a_restarted_app_is_forked_again() -> None:
    run = await run_board(board_toml([app("tests.apps.restarter", args={"times": 3})]))
    assert run.console["restarter"] == "run 1\nrun 2\nrun 3\n"
    spawns = run.of("spawn", "restarter")
    assert [e["start"] for e in spawns] == ["zygote"] * 3
    assert len({e["os_pid"] for e in spawns}) == 3


async def test_when_the_zygote_dies_its_apps_die_and_later_ones_start_cold(
    capfd: pytest.CaptureFixture[str],
) -> None:
    async def during(daemon: Daemon) -> None:
        proc = daemon.kernel.processes[0]
        await wait_until(lambda: proc.syscall_count > 3, "forever's first syscalls")
        assert daemon.zygote is not None and daemon.zygote.popen is not None
        os.kill(daemon.zygote.popen.pid, signal.SIGKILL)
        await wait_until(
            lambda: proc.restart_count == 1 and proc.syscall_count > 3,
            "forever restarted, cold, and making syscalls",
        )
        daemon.request_stop()

    run = await run_board(
        board_toml([app("tests.apps.forever", fault_policy="restart")]), during=during
    )
    assert run.faults("forever") == ["killed by SIGKILL"]
    assert [e["start"] for e in run.of("spawn")] == ["zygote", "cold"]
    assert "the zygote is gone; starting apps cold" in capfd.readouterr().err


async def test_one_zygote_serves_boards_in_turn() -> None:
    with Zygote() as zygote:
        assert zygote.popen is not None
        pids = set()
        for i in range(2):
            daemon = Daemon(
                parse_board(board_toml([app("apps_py.hello", name=f"hello{i}")])),
                quiet=True,
                zygote=zygote,
            )
            events: list[dict[str, Any]] = []
            daemon.kernel.events.subscribe(events.append)
            with trio.fail_after(20):
                assert await daemon.run() == 0
            text = "".join(e["text"] for e in events if e["kind"] == "console")
            assert text == "Hello World!\n"
            pids |= {e["os_pid"] for e in events if e["kind"] == "spawn"}
            assert zygote.running  # a board does not close a zygote it was given
        assert len(pids) == 2
        popen = zygote.popen
    assert popen.returncode == 0  # closed: it reaped its apps and exited
    a, b = socket.socketpair()
    with a, b, pytest.raises(ZygoteError, match="not running"):
        zygote.spawn(b, 0, (1, 2))


async def _console_of(zygote: Zygote, module: str) -> tuple[str, list[str]]:
    daemon = Daemon(parse_board(board_toml([app(module, name="probe")])), quiet=True, zygote=zygote)
    events: list[dict[str, Any]] = []
    daemon.kernel.events.subscribe(events.append)
    with trio.fail_after(20):
        await daemon.run()
    text = "".join(e["text"] for e in events if e["kind"] == "console")
    return text, [e["reason"] for e in events if e["kind"] == "fault"]


async def test_app_modules_are_compiled_in_the_zygote_and_run_only_in_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zygote compiles an app's module ahead (the app then skips the path search, the
    read and the compile) but never runs it: a module whose first line would end the
    process ends only the app; an edited module is compiled again."""
    monkeypatch.syspath_prepend(str(tmp_path))  # the apps' (and zygote's) PYTHONPATH too
    probe = tmp_path / "zprobe.py"
    source = (
        "from apps_py.libtock import console\n"
        "MARK = {!r}\n"
        "def main() -> None:\n"
        "    console.write(f'{{MARK}} {{type(__loader__).__name__}}\\n')\n"
    )
    probe.write_text(source.format("first"))
    (tmp_path / "zexit.py").write_text("import os\nos._exit(7)\n")
    with Zygote() as zygote:
        assert await _console_of(zygote, "zprobe") == ("first _CodeLoader\n", [])
        text, faults = await _console_of(zygote, "zexit")
        assert (text, faults) == ("", ["exited with status 7 outside the syscall interface"])
        assert zygote.running  # its first line ran in the app, never in the zygote
        probe.write_text(source.format("second, edited"))
        assert await _console_of(zygote, "zprobe") == ("second, edited _CodeLoader\n", [])
