"""Flaw 4: a notify that is accepted but never delivered (the callee restarts before it
serves its queue) vanishes: the caller was told Success and no one records a drop."""

from __future__ import annotations

if __name__ == "__main__":
    import _runner  # noqa: F401

from tockd.contract.events import EventKind
from tockd.experiment import Experiment, Observation, Verdict, apps_toml, main_for

SERVICE = "flaw.crashy"


def board(mode: str) -> str:
    apps = [
        {
            "name": SERVICE,
            "module": "apps_py.flaws.crashy_service",
            "ipc_service": True,
            "fault_policy": "restart",
            "restart_threshold": 0,
            "args": {"busy_ms": 150},
        },
        {
            "name": "flaw.client",
            "module": "apps_py.flaws.waiting_client",
            "args": {"service": SERVICE, "wait_ms": 500},
        },
    ]
    return apps_toml(apps, name="f4", mpu="cortex-m", kernel_mode=mode)


def judge(obs: Observation) -> Verdict:
    out = obs.console.get("flaw.client", "")
    accepted = "notify: Ret(SUCCESS" in out
    unanswered = "no answer" in out
    recorded = [e for e in obs.of(EventKind.IPC_DROPPED, SERVICE) if e["counted"]]
    told = "kernel says lost notifies: 1" in out
    evidence = out.splitlines()
    evidence += [f"kernel recorded the drop: {e['reason']}" for e in recorded]
    return Verdict(accepted and unanswered and not (recorded or told), evidence)


EXPERIMENT = Experiment(
    name="silent_drop",
    title="an accepted notify that cannot be delivered is lost and no one learns of it",
    tock_ref="seed list item 4; TODO in kernel.rs (formerly sched.rs) citing #1993",
    switch="report_undeliverable",
    board=board,
    judge=judge,
)

if __name__ == "__main__":
    main_for(EXPERIMENT)
