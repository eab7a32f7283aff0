"""What `tockd run` says at start about how its apps are contained (docs/isolation.md).

`isolation: full` when every guarantee of the threat model holds on this kernel for
every app of the board; otherwise `isolation: weaker`, then one line per guarantee that
is weaker (a kernel without Landlock, an older Landlock ABI, a machine tockd has no
seccomp table for, or a board that relaxed its sandbox). Every part of the sandbox a
board relaxes is also named in a warning of its own, app by app.
"""

from __future__ import annotations

from apps_py.libtock import sandbox
from tockd.board import BoardConfig


def report(cfg: BoardConfig, found: sandbox.Probe | None = None) -> list[str]:
    """The lines to print (without the `tockd: ` prefix), tier first."""
    found = found if found is not None else sandbox.probe()
    weaker: list[str] = []
    warnings: list[str] = []
    for index, app in enumerate(cfg.apps):
        settings = cfg.sandbox_for(index)
        for line in sandbox.weaknesses(found, settings):
            if line not in weaker:
                weaker.append(line)
        warnings += [
            f"WARNING: app {app.name} runs with a relaxed sandbox: {what}"
            for what in sandbox.relaxations(settings)
        ]
    tier = ["isolation: full"] if not weaker else ["isolation: weaker"]
    return tier + [f"  - {line}" for line in weaker] + warnings
