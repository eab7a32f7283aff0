"""The dashboard is a client of the control socket only: importing it loads no kernel,
daemon, capsule or control-server code (nor trio), so it can watch a kernel running in
another process."""

from __future__ import annotations

import subprocess
import sys

from tests.tui.conftest import ROOT

# the wire and stream formats, the trace text, and the ABI's number tables (what the
# syscall records' variants and error codes mean): data and formats, no kernel code
# (`lint-imports` checks the same rule statically, pyproject.toml)
ALLOWED = {
    "tockd",
    "tockd.contract",
    "tockd.contract.abi",
    "tockd.contract.control",
    "tockd.contract.events",
    "tockd.contract.returns",
    "tockd.contract.wire",
    "tockd.trace",
    "tockd.records",
}


def test_the_dashboard_imports_no_kernel_internals() -> None:
    code = (
        "import sys, tockd.tui, tockd.tui.app, tockd.tui.launch, tockd.tui.__main__\n"
        "print(' '.join(m for m in sys.modules\n"
        "               if m.split('.')[0] in ('tockd', 'trio') and not m.startswith('tockd.tui')))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr
    loaded = set(r.stdout.split())
    assert loaded <= ALLOWED, loaded - ALLOWED
