"""Flaw 3: notifying a process allocates IPC grant memory in the callee, memory the
callee never asked to spend (here: a service still starting up, and an app that never
uses IPC at all)."""

from __future__ import annotations

if __name__ == "__main__":
    import _runner  # noqa: F401

from tockd.contract.events import EventKind
from tockd.experiment import Experiment, Observation, Verdict, apps_toml, main_for


def board(mode: str) -> str:
    apps = [
        {
            "name": "flaw.notifier",
            "module": "apps_py.flaws.notifier",
            "args": {"targets": "flaw.late,flaw.bystander", "ms": 300},
        },
        {
            "name": "flaw.late",
            "module": "apps_py.flaws.late_service",
            "ipc_service": True,
            "args": {"ms": 150, "serve_ms": 150},
        },
        {"name": "flaw.bystander", "module": "apps_py.flaws.idle", "args": {"ms": 300}},
    ]
    return apps_toml(apps, name="f3", mpu="cortex-m", kernel_mode=mode)


def judge(obs: Observation) -> Verdict:
    spent = obs.of(EventKind.IPC_CALLEE_GRANT)
    evidence = [
        f"{e['name']}: {e['size']} bytes of IPC grant allocated by process {e['caller']}'s "
        f"notify (kernel_memory_break moved down)"
        for e in spent
    ]
    evidence += obs.console.get("flaw.notifier", "").splitlines()
    evidence += obs.console.get("flaw.late", "").splitlines()
    return Verdict(bool(spent), evidence)


EXPERIMENT = Experiment(
    name="callee_grant",
    title="a notify allocates IPC grant memory in the callee without its consent",
    tock_ref="seed list item 3 (schedule_upcall enters both grants)",
    switch="no_callee_grant_alloc",
    board=board,
    judge=judge,
)

if __name__ == "__main__":
    main_for(EXPERIMENT)
