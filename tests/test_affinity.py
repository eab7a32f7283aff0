"""CPU placement: the daemon and every app of a board on one core (board `cpu`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.harness import app, board_toml, run_board
from tests.wait import wait_until
from tockd.board import BoardError, parse_board
from tockd.daemon import Daemon, resolve_cpu

ROOT = Path(__file__).resolve().parent.parent


def test_the_cpu_setting_is_validated() -> None:
    for good in ("0", '"auto"', '"off"'):
        parse_board(f"[board]\ncpu = {good}\n")
    assert parse_board("[board]\n").cpu == "auto"  # pinned by default
    for bad in ("-1", '"sometimes"', "1.5", "true"):
        with pytest.raises(BoardError, match=r"board\.cpu must be"):
            parse_board(f"[board]\ncpu = {bad}\n")
    with pytest.raises(BoardError, match=r"board\.cpu: CPU 4096 is not available here"):
        Daemon(parse_board(board_toml([app("apps_py.hello")], cpu=4096)))
    with pytest.raises(BoardError, match=r"board\.spawn must be"):
        parse_board('[board]\nspawn = "warm"\n')


def test_auto_picks_a_core_this_process_may_use() -> None:
    assert resolve_cpu("auto") in os.sched_getaffinity(0)
    assert resolve_cpu("off") is None


@pytest.mark.parametrize("spawn", ["zygote", "cold"])
async def test_the_daemon_the_zygote_and_every_app_share_the_chosen_core(spawn: str) -> None:
    cpu = max(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    seen: dict[str, set[int]] = {}

    async def during(daemon: Daemon) -> None:
        # once every app has made syscalls, each has surely placed itself
        await wait_until(
            lambda: all(p.syscall_count > 3 for p in daemon.kernel.processes),
            "every app's first syscalls",
        )
        seen["daemon"] = os.sched_getaffinity(0)
        if daemon.zygote is not None:
            assert daemon.zygote.popen is not None
            seen["zygote"] = os.sched_getaffinity(daemon.zygote.popen.pid)
        for proc in daemon.kernel.processes:
            assert proc.pid is not None
            seen[proc.name] = os.sched_getaffinity(proc.pid)
        daemon.request_stop()

    apps = [app("tests.apps.forever", name="a"), app("tests.apps.forever", name="b")]
    run = await run_board(board_toml(apps, cpu=cpu, spawn=spawn), during=during)
    assert run.status == 0
    assert set(seen) == {"daemon", "a", "b"} | ({"zygote"} if spawn == "zygote" else set())
    assert all(mask == {cpu} for mask in seen.values()), seen
    assert os.sched_getaffinity(0) == before  # the board gives the core back


async def test_off_leaves_placement_to_the_os() -> None:
    before = os.sched_getaffinity(0)
    seen: list[set[int]] = []

    async def during(daemon: Daemon) -> None:
        seen.append(os.sched_getaffinity(0))
        proc = daemon.kernel.processes[0]
        assert proc.pid is not None
        seen.append(os.sched_getaffinity(proc.pid))
        daemon.request_stop()

    await run_board(board_toml([app("tests.apps.forever")], cpu="off"), during=during)
    assert seen == [before, before]


async def test_a_board_keeps_its_core_while_an_app_computes() -> None:
    # a busy app shares the daemon's core; the kernel still stops it at its timeslice
    with trio.fail_after(20):
        run = await run_board(
            board_toml(
                [app("tests.apps.busy", args={"ms": 200}), app("apps_py.hello", name="hello")],
                cpu=max(os.sched_getaffinity(0)),
            )
        )
    assert run.proc("busy").timeslice_expirations >= 3
    assert run.console["hello"] == "Hello World!\n"


def test_the_cli_cpu_flag_overrides_the_board() -> None:
    def tockd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tockd.cli", "run", "configs/hello.toml", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )

    r = tockd("--cpu", "4096")
    assert r.returncode == 1 and "board.cpu: CPU 4096 is not available" in r.stderr
    r = tockd("--cpu", "off")
    assert r.returncode == 0 and "Hello World!" in r.stdout
