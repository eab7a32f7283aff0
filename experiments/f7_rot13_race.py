"""Flaw 7: the rot13 race. The client (loaded first) notifies before the service has
subscribed its callback; the notify becomes a null upcall and is dropped, and the
service's later subscribe removes anything pending: the service never hears it. As in
the Tock report, the service prints a line before it registers."""

from __future__ import annotations

if __name__ == "__main__":
    import _runner  # noqa: F401

from tockd.contract.events import EventKind
from tockd.experiment import Experiment, Observation, Verdict, apps_toml, main_for

SERVICE = "org.tockos.examples.rot13"


def board(mode: str) -> str:
    apps = [
        {
            "name": "org.tockos.examples.rot13_client",
            "module": "apps_py.rot13_client",
            "args": {"rounds": 1, "delay_ms": 0},
        },
        {
            "name": SERVICE,
            "module": "apps_py.rot13_service",
            "ipc_service": True,
            "args": {"delay_print": True},
        },
    ]
    # a long timeslice: the client finishes its start-up before the service runs, so the
    # outcome is decided by load order alone, as in the Tock report, not by host load
    return apps_toml(apps, name="f7", mpu="cortex-m", kernel_mode=mode, timeslice_us=2_000_000)


def judge(obs: Observation) -> Verdict:
    answered = "Uryyb" in obs.console.get("org.tockos.examples.rot13_client", "")
    evidence = obs.trace(SERVICE, contains="0x10000")[:6]
    evidence += obs.trace("org.tockos.examples.rot13_client", contains="cmd(0x10000, 2")
    evidence += [
        f"{e['kind']}: {e.get('reason', '')}"
        for e in obs.events
        if e["kind"] in (EventKind.IPC_HELD, EventKind.IPC_RELEASED, EventKind.IPC_DROPPED)
    ]
    evidence.append("client got its answer" if answered else "the client never got an answer")
    return Verdict(not answered, evidence)


EXPERIMENT = Experiment(
    name="rot13_race",
    title="notify before the service subscribed is dropped; the service never hears it",
    tock_ref="#1993 comment (lschuermann, 2021-12-13) while debugging #2906; #4410",
    switch="queue_until_subscribed",
    board=board,
    judge=judge,
)

if __name__ == "__main__":
    main_for(EXPERIMENT)
