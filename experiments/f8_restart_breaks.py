"""Flaw 8 (Tock #4371): A grows its heap over all free memory, shares it with B,
restarts itself; restart resets the breaks, A's second life allocates grants inside the
buffer B still holds, and B reads kernel grant bytes through it."""

from __future__ import annotations

if __name__ == "__main__":
    import _runner  # noqa: F401

from tockd.contract.events import EventKind
from tockd.experiment import Experiment, Observation, Verdict, apps_toml, main_for

OBSERVER = "flaw.observer"


def board(mode: str) -> str:
    apps = [
        {
            "name": "flaw.grower",
            "module": "apps_py.flaws.grower",
            "ram": 4096,
            "args": {"observer": OBSERVER},
        },
        {"name": OBSERVER, "module": "apps_py.flaws.reader_service", "ipc_service": True},
    ]
    # the `ideal` MPU: the flaw is about breaks, not about MPU geometry
    return apps_toml(apps, name="f8", mpu="ideal", kernel_mode=mode)


def judge(obs: Observation) -> Verdict:
    out = obs.console.get(OBSERVER, "")
    seen = [line for line in out.splitlines() if "kernel" in line and "bytes visible" in line]
    evidence = out.splitlines()
    evidence += [
        f"restart: app_break {e['app_break']:#x}, allow high-water mark "
        f"{e['allow_high_water_mark']:#x} (was {e['old_allow_high_water_mark']:#x})"
        for e in obs.of(EventKind.RESTART, "flaw.grower")
    ]
    evidence += [
        f"revoked: {e['name']}'s window ({e['reason']})" for e in obs.of(EventKind.IPC_REVOKE)
    ]
    evidence += [
        f"grower's second life: {f['reason']}" for f in obs.of(EventKind.FAULT, "flaw.grower")
    ]
    return Verdict(bool(seen), evidence)


EXPERIMENT = Experiment(
    name="restart_breaks",
    title="restart resets the breaks: grants land in a buffer another app still maps",
    tock_ref="#4371 (App crashing allows potential sharing of kernel memory)",
    switch="keep_high_water_mark",
    board=board,
    judge=judge,
)

if __name__ == "__main__":
    main_for(EXPERIMENT)
