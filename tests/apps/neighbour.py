"""A well-behaved neighbour that keeps making syscalls until anything is typed into its
console: each round sleeps 2 ms on the alarm, fills a buffer from the RNG and checks the
count, writes a pattern into its own RAM and reads it back. Then `neighbour done N`.
Any wrong answer raises, which faults it.
"""

from apps_py.libtock import alarm, console, runtime
from apps_py.libtock.abi import DriverNum
from apps_py.libtock.syscalls import allow_rw, command, subscribe, yield_for

_filled: list[int] = []
_typed: list[int] = []


def main() -> None:
    rt = runtime.current()
    buf = rt.heap.alloc(16)
    typed = rt.heap.alloc(8)
    scratch = rt.heap.alloc(64)
    subscribe(DriverNum.RNG, 0, lambda _s, n, _c, _d: _filled.append(n)).unwrap("rng")
    allow_rw(DriverNum.CONSOLE, 1, typed, 8).unwrap("console allow")
    subscribe(DriverNum.CONSOLE, 2, lambda _s, n, _c, _d: _typed.append(n)).unwrap("sub")
    command(DriverNum.CONSOLE, 2, 8, 0).unwrap("console read")
    rounds = 0
    while not _typed:
        alarm.sleep_ms(2)
        _filled.clear()
        allow_rw(DriverNum.RNG, 0, buf, 16).unwrap("rng allow")
        command(DriverNum.RNG, 1, 16).unwrap("rng get")
        yield_for(lambda: bool(_filled))
        assert _filled == [16], _filled
        pattern = bytes((rounds + i) & 0xFF for i in range(64))
        rt.memory.write(scratch, pattern)
        assert rt.memory.read(scratch, 64) == pattern
        rounds += 1
    console.write(f"neighbour done {rounds}\n")
