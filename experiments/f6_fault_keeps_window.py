"""Flaw 6: app A shares a buffer with B, then A faults; B's MPU still maps A's memory
and B goes on reading it."""

from __future__ import annotations

if __name__ == "__main__":
    import _runner  # noqa: F401

from tockd.contract.events import EventKind
from tockd.experiment import Experiment, Observation, Verdict, apps_toml, main_for

READER = "flaw.reader"


def board(mode: str) -> str:
    apps = [
        {"name": "flaw.sharer", "module": "apps_py.flaws.sharer", "args": {"reader": READER}},
        {
            "name": READER,
            "module": "apps_py.flaws.reader_service",
            "ipc_service": True,
            "args": {"recheck_ms": 200},
        },
    ]
    return apps_toml(apps, name="f6", mpu="cortex-m", kernel_mode=mode)


def judge(obs: Observation) -> Verdict:
    out = obs.console.get(READER, "")
    after = [line for line in out.splitlines() if line.startswith("after the owner faulted")]
    evidence = out.splitlines()
    evidence += [f"sharer faulted: {f['reason']}" for f in obs.of(EventKind.FAULT, "flaw.sharer")]
    evidence += [
        f"revoked: {e['name']}'s window into process {e['owner']}"
        for e in obs.of(EventKind.IPC_REVOKE)
    ]
    return Verdict(any("still readable" in line for line in after), evidence)


EXPERIMENT = Experiment(
    name="fault_keeps_window",
    title="after A faults, B's MPU still maps the buffer A shared",
    tock_ref="seed list item 6; #4371; IPC never calls remove_mpu_region",
    switch="revoke_on_fault",
    board=board,
    judge=judge,
)

if __name__ == "__main__":
    main_for(EXPERIMENT)
