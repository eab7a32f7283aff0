"""IPC end to end: rot13 with Tock's trace shapes, buffer sizes per MPU model, the logger."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import app, board_toml, run_board
from tests.wait import wait_until

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


async def test_ipc_query_lists_services_clients_and_windows() -> None:
    from tockd.control import ControlServer
    from tockd.daemon import Daemon

    seen: dict[str, object] = {}

    async def during(daemon: Daemon) -> None:
        server = ControlServer(daemon, Path("/nonexistent"))
        ipc = daemon.kernel.capsules[0x10000]
        await wait_until(lambda: ipc.windows, "an IPC window")  # type: ignore[attr-defined]
        seen.update((await server.handle({"op": "ipc"}))["result"])

    await run_board(rot13_board(64, "cortex-m", rounds=2), during=during)
    assert seen["services"] == [0]
    assert seen["clients"] == [{"client": 1, "service": 0}]
    (window,) = seen["windows"]  # type: ignore[misc]
    assert window["holder"] == 0 and window["owner"] == 1 and window["length"] == 64
