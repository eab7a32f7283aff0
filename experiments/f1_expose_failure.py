"""Flaw 1: a share succeeds and the peer is notified although exposing the buffer to the
peer failed (no free MPU region); the peer faults when it touches the buffer."""

from __future__ import annotations

if __name__ == "__main__":
    import _runner  # noqa: F401

from tockd.contract.events import EventKind
from tockd.experiment import Experiment, Observation, Verdict, apps_toml, main_for

SERVICE = "flaw.toucher"
CLIENTS = 6  # a Cortex-M service has 5 free regions after app RAM (2) and flash (1)


def board(mode: str) -> str:
    apps = [{"name": SERVICE, "module": "apps_py.flaws.toucher_service", "ipc_service": True}]
    apps += [
        {
            "name": f"client{i}",
            "module": "apps_py.flaws.share_client",
            "args": {"service": SERVICE, "size": 64},
        }
        for i in range(1, CLIENTS + 1)
    ]
    return apps_toml(apps, name="f1", mpu="cortex-m", ram_size=262144, kernel_mode=mode)


def judge(obs: Observation) -> Verdict:
    failed = [e for e in obs.of(EventKind.IPC_SHARE, SERVICE) if not e["ok"]]
    faults = obs.of(EventKind.FAULT, SERVICE)
    evidence = [f"client{e['owner']}'s window: {e['reason']}" for e in failed]
    evidence += obs.trace(contains="read-write allow(0x10000")[-1:]
    evidence += [f"service faulted: {f['reason']}" for f in faults]
    served = obs.console.get(SERVICE, "").count("read ")
    evidence.append(f"service read {served} of {CLIENTS} shared buffers")
    return Verdict(bool(failed) and bool(faults), evidence)


EXPERIMENT = Experiment(
    name="expose_failure",
    title="a share whose MPU window cannot be opened still succeeds; the peer faults",
    tock_ref="#1993 (IPC allow and notify succeed although expose_to failed)",
    switch="refuse_unprotectable_share",
    board=board,
    judge=judge,
)

if __name__ == "__main__":
    main_for(EXPERIMENT)
