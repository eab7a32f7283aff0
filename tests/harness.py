"""Run real boards (real daemon, real app processes) from tests and collect events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio

from tockd.board import BoardConfig, parse_board
from tockd.daemon import Daemon


def board_toml(apps: list[dict[str, Any]], **board: Any) -> str:
    """A board file's text: `apps` are [[apps]] tables, `board` the [board] keys."""
    board.setdefault("name", "test")
    board.setdefault("mpu", "ideal")
    hardened = board.pop("hardened", None)
    sandbox = board.pop("sandbox", None)
    lines = ["[board]"]
    lines += [f"{k} = {_toml(v)}" for k, v in board.items()]
    if hardened:
        lines += ["[kernel.hardened]"] + [f"{k} = {_toml(v)}" for k, v in hardened.items()]
    if sandbox:
        lines += ["[sandbox]"] + [f"{k} = {_toml(v)}" for k, v in sandbox.items()]
    for app in apps:
        lines.append("[[apps]]")
        args = app.pop("args", None)
        lines += [f"{k} = {_toml(v)}" for k, v in app.items()]
        if args:
            lines.append("[apps.args]")
            lines += [f"{k} = {_toml(v)}" for k, v in args.items()]
    return "\n".join(lines) + "\n"


def _toml(v: Any) -> str:
    if isinstance(v, dict):  # an inline table, e.g. an app's `sandbox = {...}`
        return "{" + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(v)


def app(module: str, name: str | None = None, **kw: Any) -> dict[str, Any]:
    short = module.rsplit(".", 1)[-1]
    return {"name": name or short, "module": module, **kw}


@dataclass
class Run:
    status: int
    events: list[dict[str, Any]]
    daemon: Daemon
    console: dict[str, str] = field(default_factory=dict)

    def of(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        return [
            e for e in self.events if e["kind"] == kind and (name is None or e.get("name") == name)
        ]

    def syscalls(self, name: str, cls: int | None = None) -> list[dict[str, Any]]:
        return [e for e in self.of("syscall", name) if cls is None or e["cls"] == cls]

    def faults(self, name: str | None = None) -> list[str]:
        return [e["reason"] for e in self.of("fault", name)]

    def proc(self, name: str) -> Any:
        p = self.daemon.kernel.find(name)
        assert p is not None
        return p


async def run_board(cfg: BoardConfig | str, *, timeout: float = 30, during: Any = None) -> Run:
    """Run a board to completion in this trio run; `during(daemon)` runs alongside."""
    if isinstance(cfg, str):
        cfg = parse_board(cfg)
    daemon = Daemon(cfg, quiet=True)
    events: list[dict[str, Any]] = []
    daemon.kernel.events.subscribe(events.append)
    status = -1
    with trio.fail_after(timeout):
        async with trio.open_nursery() as nursery:
            if during is not None:

                async def side() -> None:
                    await daemon.started.wait()
                    await during(daemon)

                nursery.start_soon(side)
            status = await daemon.run()
            nursery.cancel_scope.cancel()
    console: dict[str, str] = {}
    for e in events:
        if e["kind"] == "console":
            console[e["name"]] = console.get(e["name"], "") + e["text"]
    return Run(status, events, daemon, console)
