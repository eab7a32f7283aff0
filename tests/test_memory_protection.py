"""Memory protection end to end: the MPU view, the mprotect backstop, grants in RAM,
NOMEM where heap and grants meet, and restart in tock and hardened modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import app, board_toml, run_board
from tests.wait import wait_until
from tockd.board import build_kernel, parse_board
from tockd.control import ControlServer
from tockd.daemon import Daemon
from tockd.kernel.process import State


def layout(text: str) -> dict[str, tuple[int, int]]:
    kernel = build_kernel(parse_board(text))
    try:
        return {p.name: (p.mem_start, p.mem_end) for p in kernel.processes}
    finally:
        kernel.ram.close()


@pytest.mark.parametrize("mpu", ["ideal", "cortex-m", "riscv-pmp"])
async def test_reading_another_apps_ram_faults_with_the_address(mpu: str) -> None:
    apps = [
        app("tests.apps.forever", name="victim"),
        app("tests.apps.peek", args={"how": "read_other", "addr": 0}),
    ]
    victim_start, _ = layout(board_toml([dict(a) for a in apps], mpu=mpu))["victim"]
    target = victim_start + 16
    apps[1]["args"] = {"how": "read_other", "addr": target}

    async def during(daemon: Daemon) -> None:
        peek = daemon.kernel.find("peek")
        assert peek is not None
        await wait_until(lambda: peek.state is State.FAULTED, "peek's fault")
        daemon.kernel.terminate(daemon.kernel.find("victim"), None)  # type: ignore[arg-type]

    run = await run_board(board_toml(apps, mpu=mpu), during=during)
    fault = run.of("fault", "peek")[0]
    assert fault["reason"] == f"MPU fault: read of 4 byte(s) at {target:#x} (memory of victim)"
    assert fault["address"] == target
    assert fault["access"] == "read"
    assert fault["regions"], "the region table is recorded"
    assert "not stopped" not in run.console["peek"]


@pytest.mark.parametrize("mpu", ["ideal", "riscv-pmp"])  # byte / 4-byte granular breaks
async def test_writing_past_the_break_faults(mpu: str) -> None:
    run = await run_board(
        board_toml([app("tests.apps.peek", args={"how": "write_past_break"})], mpu=mpu)
    )
    (reason,) = run.faults("peek")
    assert reason.startswith("MPU fault: write of 1 byte(s) at")


async def test_cortex_m_exposes_the_break_at_subregion_granularity() -> None:
    # Tock's Cortex-M MPU opens whole subregions (P/16): a little past the break is
    # writable, exactly as on hardware, but the grant region never is.
    run = await run_board(
        board_toml([app("tests.apps.peek", args={"how": "write_past_break"})], mpu="cortex-m")
    )
    assert run.faults("peek") == []
    assert "not stopped" in run.console["peek"]
    run = await run_board(
        board_toml([app("tests.apps.peek", args={"how": "read_grant"})], mpu="cortex-m")
    )
    assert run.faults("peek")[0].startswith("MPU fault: read of 4 byte(s)")


async def test_raw_write_outside_the_mpu_dies_on_the_mprotect_backstop() -> None:
    text = board_toml([app("tests.apps.peek", args={"how": "raw_write", "addr": 0})])
    cfg = parse_board(text)
    target = cfg.ram_base + cfg.ram_size - 8  # a page no process may touch
    run = await run_board(
        board_toml(
            [
                app("tests.apps.peek", args={"how": "raw_write", "addr": target}),
                app("apps_py.hello", name="hello"),
            ]
        )
    )
    assert run.faults("peek") == ["killed by SIGSEGV (MPU fault, hardware backstop)"]
    assert run.console["hello"] == "Hello World!\n"


async def test_grant_bytes_are_in_ram_where_mem_says() -> None:
    seen: dict[str, object] = {}

    async def during(daemon: Daemon) -> None:
        server = ControlServer(daemon, Path("/nonexistent"))
        proc = daemon.kernel.find("forever")
        assert proc is not None
        await wait_until(lambda: proc.syscall_count >= 12, "forever's first syscalls")
        mem = (await server.handle({"op": "mem", "name": "forever"}))["result"]
        seen["mem"] = mem
        ram = daemon.kernel.ram
        for grant in mem["grants"]:
            seen[f"header {grant['driver']:#x}"] = ram.read(grant["address"], 4)
        alarm = next(g for g in mem["grants"] if g["driver"] == 0)
        seen["alarm_upcall"] = ram.unpack("<II", alarm["address"] + 4)
        seen["flash"] = (proc.flash_start, proc.flash_end)
        daemon.kernel.terminate(proc, None)

    await run_board(board_toml([app("tests.apps.forever")]), during=during)
    mem = seen["mem"]
    assert isinstance(mem, dict)
    drivers = {g["driver"] for g in mem["grants"]}
    assert drivers == {0x0, 0x1}  # alarm and console, allocated lazily
    assert seen["header 0x1"] == bytes([3, 2, 2, 0])  # console: 3 upcalls, 2 RO, 2 RW
    assert seen["header 0x0"] == bytes([1, 0, 0, 0])  # alarm: 1 upcall
    fnptr, _appdata = seen["alarm_upcall"]  # type: ignore[misc]
    lo, hi = seen["flash"]  # type: ignore[misc]
    assert lo <= fnptr < hi  # the subscribed upcall's pointer, stored in RAM
    lowest = min(g["address"] for g in mem["grants"])
    assert mem["kernel_memory_break"] == lowest
    assert mem["app_break"] <= mem["kernel_memory_break"] <= mem["mem_end"]


@pytest.mark.parametrize("mpu", ["ideal", "riscv-pmp"])
async def test_nomem_when_grants_and_heap_meet(mpu: str) -> None:
    run = await run_board(board_toml([app("tests.apps.hog")], mpu=mpu))
    assert run.faults() == []
    line = run.console["hog"].splitlines()[-1]
    assert line.endswith("rng NOMEM"), line
    gap = int(line.split()[1])
    assert 0 <= gap < 20  # less room than the RNG grant needs


@pytest.mark.parametrize("mode", ["tock", "hardened"])
async def test_restart_resets_marks_and_grants_reuse_the_old_buffer(mode: str) -> None:
    # The old buffer was allowed to a capsule only (no other process maps it), so even
    # hardened keep_high_water_mark sets no floor: the floor applies only while a window
    # into the app is open (tests/test_fidelity.py covers the case where one was).
    run = await run_board(board_toml([app("tests.apps.restart_marks")], kernel_mode=mode))
    assert run.faults() == []
    # the first life's allow of its big buffer (read-write allow, class 3)
    buf, size = next(e["args"][2:] for e in run.syscalls("restart_marks", 3) if e["args"][3])
    (restart,) = run.of("restart", "restart_marks")
    proc = run.proc("restart_marks")
    hwm = restart["old_allow_high_water_mark"]
    assert hwm >= buf + size  # the allowed buffer (and the console's, just above it)
    # Tock resets the break and the high-water mark (the app restarts)
    assert restart["app_break"] == proc.mem_start + run.daemon.kernel.mpu.initial_app_brk_size
    assert restart["allow_high_water_mark"] == proc.mem_start
    after = [g for g in run.of("grant_alloc", "restart_marks") if g["seq"] > restart["seq"]]
    inside = [g for g in after if buf <= g["address"] < buf + size]
    assert restart["grant_floor"] == 0
    assert restart["kernel_memory_break"] == proc.initial_kernel_break
    assert inside, "grants land inside the buffer allowed before the restart"
