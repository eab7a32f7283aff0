"""IPC end to end: rot13 with Tock's trace shapes, buffer sizes per MPU model, the logger."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import app, board_toml, run_board

ROOT = Path(__file__).resolve().parent.parent
ROT13 = "org.tockos.examples.rot13"


def rot13_board(size: int, mpu: str, rounds: int = 2) -> str:
    return board_toml(
        [
            app("apps_py.rot13_service", name=ROT13, ipc_service=True),
            app(
                "apps_py.rot13_client",
                name="client",
                args={"rounds": rounds, "size": size, "delay_ms": 1},
            ),
        ],
        mpu=mpu,
    )


async def test_rot13_alternates_like_libtock_c() -> None:
    run = await run_board(rot13_board(64, "cortex-m", rounds=4))
    assert run.faults() == []
    assert run.console["client"].splitlines() == [
        "12: Uryyb Jbeyq!",
        "12: Hello World!",
        "12: Uryyb Jbeyq!",
        "12: Hello World!",
    ]
    (share,) = run.of("ipc_share", ROT13)
    assert share["ok"] and share["length"] == 64


@pytest.mark.parametrize(
    ("size", "cortex_m_ok"), [(64, True), (128, True), (100, False), (48, False), (96, False)]
)
async def test_buffer_sizes_fail_on_cortex_m_as_on_arm_and_work_on_ideal(
    size: int, cortex_m_ok: bool
) -> None:
    run = await run_board(rot13_board(size, "cortex-m", rounds=1))
    service_faults = run.faults(ROT13)
    if cortex_m_ok:
        assert service_faults == []
        assert "Uryyb" in run.console["client"]
    else:
        assert len(service_faults) == 1
        assert service_faults[0].startswith("MPU fault: read of 1 byte(s)")
        (share,) = run.of("ipc_share", ROT13)
        assert not share["ok"]
        assert "not representable" in share["reason"]
    ideal = await run_board(rot13_board(size, "ideal", rounds=1))
    assert ideal.faults() == []
    assert "Uryyb" in ideal.console["client"]


async def test_logger_serves_several_clients() -> None:
    text = (ROOT / "configs/logger.toml").read_text()
    run = await run_board(text)
    assert run.faults() == []
    lines = run.console["org.tockos.examples.logger"].splitlines()
    for who in ("alpha", "beta", "gamma"):
        assert [ln.split(": ", 1)[1] for ln in lines if f"{who} line" in ln] == [
            f"{who} line {i}" for i in range(3)
        ]


def test_rot13_trace_has_the_shapes_of_tocks_report() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "tockd.cli", "run", "configs/rot13.toml", "--trace"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    shapes = {
        "function_call": r"^\[\d+\] function_call @0x[0-9a-f]+\((0x[0-9a-f]+, ){3}0x[0-9a-f]+\)$",
        "memop": r"^\[\d+\] memop\(\d+, 0x[0-9a-f]+\) = Success$",
        "ro allow": r"^\[\d+\] read-only allow\(0x10000, 0, @0x[0-9a-f]+, \d+\) = "
        r"AllowReadOnlySuccess\(0x[0-9a-f]+, \d+\)$",
        "discover": r"^\[\d+\] cmd\(0x10000, 1, 0x0, 0x0\) = SuccessU32\(0\)$",
        "remove": r"^\[\d+\] remove_pending_upcalls\[0x10000:0\] = 0 upcall\(s\) removed$",
        "subscribe": r"^\[\d+\] subscribe\(0x10000, 0, @0x[0-9a-f]+, 0x0\) = "
        r"SubscribeSuccess\(0x0, 0\)$",
        "rw allow": r"^\[\d+\] read-write allow\(0x10000, 0, @0x[0-9a-f]+, 64\) = "
        r"AllowReadWriteSuccess\(0x0, 0\)$",
        "notify": r"^\[\d+\] cmd\(0x10000, 2, 0x0, 0x0\) = Success$",
        "yield": r"^\[\d+\] yield\. which: 1$",
        "schedule": r"^\[\d+\] schedule\[0x10000:0\] @0x[0-9a-f]+\(0x1, 0x40, 0x[0-9a-f]+, "
        r"0x0\) = Ok\(\(\)\)$",
    }
    lines = r.stdout.splitlines()
    for what, shape in shapes.items():
        assert any(re.match(shape, line) for line in lines), what


async def test_ipc_query_lists_services_clients_and_windows() -> None:
    from tockd.control import ControlServer
    from tockd.daemon import Daemon

    seen: dict[str, object] = {}

    async def during(daemon: Daemon) -> None:
        import trio

        server = ControlServer(daemon, Path("/nonexistent"))
        while not daemon.kernel.capsules[0x10000].windows:  # type: ignore[attr-defined]
            await trio.sleep(0.005)
        seen.update((await server.handle({"op": "ipc"}))["result"])

    await run_board(rot13_board(64, "cortex-m", rounds=2), during=during)
    assert seen["services"] == [0]
    assert seen["clients"] == [{"client": 1, "service": 0}]
    (window,) = seen["windows"]  # type: ignore[misc]
    assert window["holder"] == 0 and window["owner"] == 1 and window["length"] == 64
