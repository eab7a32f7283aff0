"""Run real boards (real daemon, real app processes) from tests and collect events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio

from tockd.board import BoardConfig, board_text, parse_board
from tockd.daemon import Daemon
from tockd.kernel.events import console_text


def board_toml(apps: list[dict[str, Any]], **board: Any) -> str:
    """A test board's text (an `ideal` MPU unless said otherwise)."""
    board.setdefault("name", "test")
    board.setdefault("mpu", "ideal")
    return board_text(apps, **board)


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
    console = console_text(events)
    return Run(status, events, daemon, console)
