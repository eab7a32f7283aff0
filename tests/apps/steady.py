"""A well-behaved app that checks every answer the kernel gives it.

Each round: sleep on the alarm, fill a buffer from the RNG and check the count, write a
pattern into its own RAM and read it back, ask memop where its memory starts. It runs
`rounds` rounds, or, with `until_dir`, until that directory holds `until_count` files
(the fuzz apps' done markers), and at least one round. Then it prints `steady done N`
and exits; any wrong answer raises, which faults it.
"""

from pathlib import Path

from apps_py.libtock import alarm, app_args, console, runtime
from apps_py.libtock.abi import DriverNum, Memop
from apps_py.libtock.syscalls import allow_rw, command, memop, subscribe, yield_for

_filled: list[int] = []


def _on_fill(_status: int, count: int, _c: int, _d: int) -> None:
    _filled.append(count)


def _done(args: dict[str, object], rounds: int) -> bool:
    until = args.get("until_dir")
    if until is None:
        return rounds >= int(str(args.get("rounds", 20)))
    return len(list(Path(str(until)).iterdir())) >= int(str(args["until_count"]))


def main() -> None:
    args = app_args()
    rt = runtime.current()
    mem_start = memop(Memop.MEM_START).unwrap("mem start").r1
    buf = rt.heap.alloc(16)
    scratch = rt.heap.alloc(64)
    subscribe(DriverNum.RNG, 0, _on_fill).unwrap("rng subscribe")
    rounds = 0
    # at least one round: fuzzers that finish before this app's first look must not
    # leave it with nothing checked ("steady done 0")
    while rounds == 0 or not _done(args, rounds):
        alarm.sleep_ms(1)
        _filled.clear()
        allow_rw(DriverNum.RNG, 0, buf, 16).unwrap("rng allow")
        command(DriverNum.RNG, 1, 16).unwrap("rng get")
        yield_for(lambda: bool(_filled))
        assert _filled == [16], _filled
        pattern = bytes((rounds + i) & 0xFF for i in range(64))
        rt.memory.write(scratch, pattern)
        assert rt.memory.read(scratch, 64) == pattern
        assert memop(Memop.MEM_START).unwrap("mem start").r1 == mem_start
        rounds += 1
    console.write(f"steady done {rounds}\n")
