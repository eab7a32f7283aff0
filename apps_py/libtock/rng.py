"""RNG driver (0x40001) for apps: `random_bytes(n)` fills a buffer in the app's RAM."""

from __future__ import annotations

from apps_py.libtock import runtime
from apps_py.libtock.abi import DriverNum
from apps_py.libtock.syscalls import allow_rw, command, subscribe, yield_for
from tockd.contract.drivers import RNG_ALLOW, RNG_UPCALL, RngCommand

DRIVER = DriverNum.RNG
_filled: list[int] = []


def _on_fill(_status: int, count: int, _c: int, _d: int) -> None:
    _filled.append(count)


def random_bytes(n: int) -> bytes:
    rt = runtime.current()
    buf = rt.heap.alloc(n)
    _filled.clear()
    allow_rw(DRIVER, RNG_ALLOW, buf, n).unwrap("rng allow")
    subscribe(DRIVER, RNG_UPCALL, _on_fill).unwrap("rng subscribe")
    command(DRIVER, RngCommand.GET, n).unwrap("rng get")
    yield_for(lambda: bool(_filled))
    return rt.memory.read(buf, _filled[0])


def random_u32() -> int:
    return int.from_bytes(random_bytes(4), "little")
