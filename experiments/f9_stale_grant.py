"""Stale grant memory: Tock zeroes nothing when a process restarts or grows its break, so
a process's next life can move its break over the grant memory of its previous life and
read what the kernel kept there (capsule state, upcall and buffer pointers)."""

from __future__ import annotations

if __name__ == "__main__":
    import _runner  # noqa: F401

from tockd.contract.events import EventKind
from tockd.experiment import Experiment, Observation, Verdict, apps_toml, main_for

APP = "flaw.remnant"


def board(mode: str) -> str:
    apps = [{"name": APP, "module": "apps_py.flaws.remnant", "ram": 4096}]
    # the `ideal` MPU: the break can move to any word, so the whole old grant area shows
    return apps_toml(apps, name="f9", mpu="ideal", kernel_mode=mode)


def judge(obs: Observation) -> Verdict:
    out = obs.console.get(APP, "")
    seen = [line for line in out.splitlines() if "previous life's kernel" in line]
    evidence = out.splitlines()
    evidence += [
        f"restart: kernel break back to {e['kernel_memory_break']:#x}"
        for e in obs.of(EventKind.RESTART, APP)
    ]
    evidence += [f"{APP} faulted: {f['reason']}" for f in obs.of(EventKind.FAULT, APP)]
    return Verdict(bool(seen), evidence)


EXPERIMENT = Experiment(
    name="stale_grant",
    title="a restart leaves the old grant memory for the next life to read",
    tock_ref="process_standard.rs reset() and brk() (release-2.2) zero no memory",
    switch="zero_on_restart",
    board=board,
    judge=judge,
)

if __name__ == "__main__":
    main_for(EXPERIMENT)
