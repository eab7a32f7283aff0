"""A hostile peer against the hardened fixes of flaws 6 and 8.

The flaw experiments' reader is well behaved: it drops a window when the kernel takes it
away and reads through the checked libtock view. Here the reader is hostile
(`raw = true`, apps_py/flaws/reader_service.py): it never unmaps a page the kernel
takes back, turns its own mprotect backstop off and reads the raw mapping. In `tock`
mode it sees the owner's next life and the kernel's grant bytes, as on Tock; in
`hardened` mode revocation copied the owner's pages, so what it kept is a private copy
of the past: nothing the owner or the kernel writes afterwards reaches it.
"""

from __future__ import annotations

import pytest

from tests.harness import run_board
from tockd.experiment import apps_toml

READER = "flaw.reader"


def _next_life_board(mode: str) -> str:
    apps = [
        {
            "name": "flaw.sharer",
            "module": "apps_py.flaws.sharer",
            "fault_policy": "restart",
            "args": {"reader": READER, "linger_ms": 600},
        },
        {
            "name": READER,
            "module": "apps_py.flaws.reader_service",
            "ipc_service": True,
            "args": {"recheck_ms": 300, "raw": True},
        },
    ]
    return apps_toml(apps, name="peer6", mpu="cortex-m", kernel_mode=mode)


@pytest.mark.parametrize("mode", ["tock", "hardened"])
async def test_a_kept_window_shows_the_owners_next_life_only_in_tock_mode(mode: str) -> None:
    run = await run_board(_next_life_board(mode))
    out = run.console[READER]
    assert "B read: b'first secret of A'" in out
    (after,) = [line for line in out.splitlines() if line.startswith("after the owner faulted")]
    restarts = run.of("restart", "flaw.sharer")
    assert len(restarts) == 1
    if mode == "tock":
        assert "A's next-life secret" in after
    else:
        assert run.of("ipc_revoke")
        # the reader kept its mapping, but of a copy taken at revocation
        assert "A's next-life secret" not in after
        assert "A's later secret" in after
    assert run.status == 0


def _breaks_board(mode: str) -> str:
    apps = [
        {
            "name": "flaw.grower",
            "module": "apps_py.flaws.grower",
            "ram": 4096,
            "args": {"observer": "flaw.observer"},
        },
        {
            "name": "flaw.observer",
            "module": "apps_py.flaws.reader_service",
            "ipc_service": True,
            "args": {"raw": True, "recheck_ms": 400},
        },
    ]
    return apps_toml(apps, name="peer8", mpu="ideal", kernel_mode=mode)


@pytest.mark.parametrize("mode", ["tock", "hardened"])
async def test_a_kept_window_shows_kernel_grant_bytes_only_in_tock_mode(mode: str) -> None:
    run = await run_board(_breaks_board(mode))
    out = run.console["flaw.observer"]
    # the observer looks again 400 ms on, after the grower's second life made syscalls
    (later,) = [line for line in out.splitlines() if line.startswith("after the owner")]
    assert len(run.of("restart", "flaw.grower")) == 1
    if mode == "tock":
        assert "kernel" in later and "bytes visible" in later, out
    else:
        assert run.of("ipc_revoke")
        assert "bytes visible" not in later, out
        assert 'still readable: b"A\'s old heap"' in later
    assert run.status == 0
