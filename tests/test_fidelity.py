"""Release-2.2 fidelity, end to end: each difference issue 13 found, asserted as 2.2
behaves (docs/conformance.md lists the Tock source of each rule)."""

from __future__ import annotations

from typing import Any

from tests.harness import Run, app, board_toml, run_board

SERVICE = "org.tockos.test.service"
IPC = 0x10000


def _service(**args: Any) -> dict[str, Any]:
    return app(
        "tests.apps.ipc_probe", name=SERVICE, ipc_service=True, args={"role": "service", **args}
    )


def _after(run: Run, first: dict[str, Any], kind: str, name: str) -> list[dict[str, Any]]:
    """Events of `kind` for `name` that come after `first` in the stream."""
    i = run.events.index(first)
    return [e for e in run.events[i + 1 :] if e["kind"] == kind and e.get("name") == name]


async def test_a_notify_from_a_caller_that_restarted_is_dropped() -> None:
    # ipc.rs: the queued task holds the caller's ProcessId; after a restart, entering
    # the caller's grant fails and nothing is scheduled on the service
    run = await run_board(
        board_toml(
            [
                _service(busy_ms=400),
                app(
                    "tests.apps.ipc_probe",
                    name="client",
                    args={"role": "restarting_client", "service": SERVICE},
                ),
            ]
        )
    )
    assert run.faults() == []
    assert "first life notify: Ret(SUCCESS" in run.console["client"]
    assert "second life" in run.console["client"]
    assert "service heard []" in run.console[SERVICE]
    (drop,) = run.of("ipc_dropped", SERVICE)
    assert drop["reason"] == "caller restarted since it notified"
    (restart,) = run.of("restart", "client")
    ipc_grants = [e for e in _after(run, restart, "grant_alloc", "client") if e["driver"] == IPC]
    assert ipc_grants == [], "the new incarnation got an IPC grant it never asked for"


async def test_notify_does_not_allocate_the_callers_grant_delivery_does() -> None:
    # ipc.rs commands 2 and 3 never enter the caller's grant, so a caller with no room
    # for one is told Success; the notify then fails at delivery, silently
    run = await run_board(
        board_toml(
            [
                _service(busy_ms=300),
                app(
                    "tests.apps.ipc_probe",
                    name="client",
                    ram=4096,
                    args={"role": "grantless_client", "index": 0, "fill": True, "wait_ms": 800},
                ),
            ],
            mpu="ideal",
        )
    )
    assert run.faults() == []
    assert "notify: Ret(SUCCESS" in run.console["client"]
    assert [e for e in run.of("grant_alloc", "client") if e["driver"] == IPC] == []
    (drop,) = run.of("ipc_dropped", SERVICE)
    assert drop["reason"].startswith("grant allocation failed")
    assert "service heard []" in run.console[SERVICE]


async def test_the_callers_grant_is_allocated_when_the_notify_is_delivered() -> None:
    run = await run_board(
        board_toml(
            [
                _service(busy_ms=300),
                app(
                    "tests.apps.ipc_probe",
                    name="client",
                    args={"role": "grantless_client", "index": 0, "wait_ms": 800},
                ),
            ]
        )
    )
    assert run.faults() == []
    assert "service heard [1]" in run.console[SERVICE]
    (notify,) = run.of("ipc_notify", "client")
    assert notify["result"] == "Success"
    (grant,) = [e for e in run.of("grant_alloc", "client") if e["driver"] == IPC]
    assert run.events.index(grant) > run.events.index(notify)
    (served,) = [e for e in run.of("schedule", SERVICE) if e["driver"] == IPC]
    assert run.events.index(grant) < run.events.index(served)


def test_hardened_restart_does_not_starve_the_second_life_of_grants() -> None:
    # keep_high_water_mark revokes every window into the restarted app, so no floor is
    # left to keep its new grants high: its second life allocates them normally
    from tockd.experiment import catalogue

    obs = catalogue()["restart_breaks"].observe("hardened")
    grower = "flaw.grower"
    assert obs.of("fault", grower) == []
    assert "second life" in obs.console[grower]
    (restart,) = obs.of("restart", grower)
    assert restart["grant_floor"] == 0
    assert [e["reason"] for e in obs.of("ipc_revoke")] == ["owner restarted"]
    assert {e["driver"] for e in obs.of("grant_alloc", grower)} >= {0x0, 0x1}  # alarm, console
