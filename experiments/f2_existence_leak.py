"""Flaw 2: notify's error codes reveal which process slots hold an app, even apps that
offer no service; discover by package name finds them too."""

from __future__ import annotations

if __name__ == "__main__":
    import _runner  # noqa: F401

import re

from tockd.experiment import Experiment, Observation, Verdict, apps_toml, main_for

SLOTS = 6


def board(mode: str) -> str:
    apps = [
        {
            "name": "flaw.prober",
            "module": "apps_py.flaws.prober",
            "args": {"slots": SLOTS + 2, "names": "flaw.bystander"},
        },
        {
            "name": "flaw.service",
            "module": "apps_py.flaws.late_service",
            "ipc_service": True,
            "args": {"ms": 0, "serve_ms": 100},
        },
        {"name": "flaw.bystander", "module": "apps_py.flaws.idle", "args": {"ms": 300}},
    ]
    return apps_toml(apps, name="f2", mpu="cortex-m", process_slots=SLOTS, kernel_mode=mode)


def judge(obs: Observation) -> Verdict:
    out = obs.console.get("flaw.prober", "")
    codes = dict(re.findall(r"notify (\d+): (\w+)", out))
    empty = codes.get(str(SLOTS - 1))  # slot 5 is always empty
    bystander = obs.proc("flaw.bystander").index
    leaks = [i for i, code in codes.items() if code != empty and int(i) == bystander]
    found = re.search(r"discover flaw.bystander: index (\d+)", out)
    evidence = [f"notify {i}: {c}" for i, c in sorted(codes.items())]
    if leaks:
        evidence.append(
            f"slot {bystander} (an app with no service) answers {codes[str(bystander)]}"
            f", an empty slot answers {empty}: the app is revealed"
        )
    if found:
        evidence.append(f"discover by package name finds the bystander at {found.group(1)}")
    return Verdict(bool(leaks) or bool(found), evidence)


EXPERIMENT = Experiment(
    name="existence_leak",
    title="notify and discover reveal which apps exist, even apps offering no service",
    tock_ref="seed list item 2; IPC TRD security discussion",
    switch="uniform_errors",
    board=board,
    judge=judge,
)

if __name__ == "__main__":
    main_for(EXPERIMENT)
