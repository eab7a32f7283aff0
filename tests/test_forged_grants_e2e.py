"""The IPC confused deputy with real processes (issue 12, point 3), in both kernel modes.

A hostile client (tests/apps/forge_grant.py) rewrites the pointer of its own IPC share
in its grant bytes to a victim's secret (tests/apps/secret_keeper.py) with a raw store,
then notifies a well-behaved service (apps_py/rot13_service.py) that rot13s whatever it
is shared. The kernel must fault the forger with the reason and drop the notify: the
service never sees the victim's memory, the victim's secret is unchanged, the service
and the victim are unharmed.
"""

from __future__ import annotations

import pytest

from tests.harness import app, board_toml, run_board
from tockd.board import build_kernel, parse_board

ROT13 = "org.tockos.examples.rot13"


def _board(mode: str, target: int, seccomp: bool = False) -> str:
    sandbox = {"seccomp": True} if seccomp else None
    return board_toml(
        [
            app("apps_py.rot13_service", name=ROT13, ipc_service=True),
            app("tests.apps.secret_keeper", name="victim"),
            app("tests.apps.forge_grant", name="forger", args={"service": ROT13, "target": target}),
        ],
        kernel_mode=mode,
        sandbox=sandbox,
    )


def _victim_secret_address(mode: str) -> int:
    """Where the victim's heap starts: the layout is fixed by the board (the victim
    prints the address it got; the test checks it matches)."""
    kernel = build_kernel(parse_board(_board(mode, 0)))
    victim = kernel.find("victim")
    assert victim is not None
    kernel.ram.close()
    stack_top = (victim.mem_start + victim.spec.stack + 7) & ~7  # the runtime's crt0
    return (stack_top + 63) & ~63  # its first heap.alloc(64, align=64)


@pytest.mark.parametrize(
    ("mode", "seccomp"), [("tock", False), ("hardened", False), ("hardened", True)]
)
async def test_forged_ipc_share_faults_the_forger_and_exposes_nothing(
    mode: str, seccomp: bool
) -> None:
    target = _victim_secret_address(mode)
    run = await run_board(_board(mode, target, seccomp))
    assert run.console["victim"].splitlines() == [
        f"secret at {target:#x}",
        "secret: victim's secret",  # unchanged: the service never rot13'd it
    ]
    forged_at = run.console["forger"].split()[-1]
    forger = run.proc("forger")
    assert forger.fault_reason == (
        f"forged grant: IPC allow_rw 0 ({target:#x}, 64) is outside its RAM below the break"
    ), (forged_at, run.faults())
    assert run.faults() == [forger.fault_reason]  # nobody else faulted
    assert run.proc(ROT13).is_alive() and run.proc(ROT13).fault_reason == ""
    # no window was ever opened, for anyone; the notify was dropped with the reason
    assert run.of("ipc_share") == []
    (dropped,) = run.of("ipc_dropped", ROT13)
    assert dropped["reason"] == forger.fault_reason
