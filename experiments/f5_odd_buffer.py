"""Flaw 5: a shared buffer that is not a power of two (and, on Tock's Cortex-M, not a
multiple of 64) is accepted, then the service faults when it touches it."""

from __future__ import annotations

if __name__ == "__main__":
    import _runner  # noqa: F401

from tockd.contract.events import EventKind
from tockd.experiment import Experiment, Observation, Verdict, apps_toml, main_for

SERVICE = "org.tockos.examples.rot13"


def board(mode: str, size: int = 100, mpu: str = "cortex-m") -> str:
    apps = [
        {"name": SERVICE, "module": "apps_py.rot13_service", "ipc_service": True},
        {
            "name": "rot13_client",
            "module": "apps_py.rot13_client",
            "args": {"rounds": 1, "size": size, "delay_ms": 0},
        },
    ]
    return apps_toml(apps, name="f5", mpu=mpu, kernel_mode=mode)


def judge(obs: Observation) -> Verdict:
    allow = obs.trace("rot13_client", contains="read-write allow(0x10000")
    faults = obs.of(EventKind.FAULT, SERVICE)
    evidence = allow[:1]
    evidence += [
        f"window: {e['reason']}" for e in obs.of(EventKind.IPC_SHARE, SERVICE) if not e["ok"]
    ]
    evidence += [f"service faulted: {f['reason']}" for f in faults]
    evidence += obs.console.get("rot13_client", "").splitlines()
    accepted = bool(allow) and "AllowReadWriteSuccess" in allow[0]
    return Verdict(accepted and bool(faults), evidence)


EXPERIMENT = Experiment(
    name="odd_buffer",
    title="a 100-byte shared buffer is accepted on Cortex-M, then the service faults",
    tock_ref="#1993 comment (buffers not a multiple of 64 fault); PR #2741 (not merged)",
    switch="refuse_unprotectable_share",
    board=board,
    judge=judge,
)

if __name__ == "__main__":
    main_for(EXPERIMENT)
