"""Zero copy: 1 MiB through an allowed buffer against the same bytes over a socket.

    python bench/zero_copy.py [--size 1048576] [--n 20]

(1) tockd: an app (apps_py/zero_copy_bench.py) keeps a 1 MiB buffer in its RAM allowed
to the bulk test driver (tockd/capsules/bulk.py) and hands it over with one command:
the real daemon takes the bytes straight out of the shared RAM, in place (command 1),
or copying them out once as the console does with a write (command 2).
(2) the socket: the same bytes sent by one Python process to another over a Unix
socketpair the way tockd's wire would have to carry them: msgpack frames of at most
`tockd.contract.wire.MAX_FRAME` bytes, decoded by a `FrameDecoder` and joined into one `bytes`
on the far side, which then answers with a one-frame ack. This is a floor (plain
blocking loops on both ends, no trio), so the ratio is conservative.

Both run on the same core (the board's default placement). Each side times its own
transfers; the medians and their ratios are printed.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tockd.contract import wire  # noqa: E402

SENDER = r"""
import socket, sys, time
from tockd.contract import wire
s = socket.socket(fileno=int(sys.argv[1]))
size, n, warm = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
data = bytes(range(32, 127)) * (size // 95) + b"\n" * (size % 95)
chunk = wire.MAX_FRAME - 16  # room for the frame header
decoder = wire.FrameDecoder()
out = []
clock = time.perf_counter_ns
for i in range(warm + n):
    t0 = clock()
    for off in range(0, size, chunk):
        s.sendall(wire.encode([1, data[off:off + chunk]]))
    while not decoder.decode(s.recv(64)):
        pass
    if i >= warm:
        out.append(clock() - t0)
sys.stdout.write("\n".join(map(str, out)))
"""


def over_socket(size: int, n: int, warmup: int) -> list[int]:
    """The bytes as msgpack frames over a socketpair, decoded and joined on the far side."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", SENDER, str(child.fileno()), str(size), str(n), str(warmup)],
        pass_fds=(child.fileno(),),
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    child.close()
    # room for one whole frame besides the one being read
    decoder = wire.FrameDecoder(max_frame=2 * wire.MAX_FRAME)
    ack = wire.encode([0, size])
    for _ in range(n + warmup):
        parts: list[bytes] = []
        got = 0
        while got < size:
            data = parent.recv(wire.MAX_FRAME)
            if not data:
                raise SystemExit("the sender died")
            for frame in decoder.decode(data):
                parts.append(frame[1])
                got += len(frame[1])
        received = b"".join(parts)
        assert len(received) == size
        parent.sendall(ack)
    out, _ = proc.communicate()
    parent.close()
    return [int(x) for x in out.split()]


def through_allow(size: int, n: int, warmup: int, cpu: int | str) -> tuple[list[int], list[int]]:
    """The bytes in an allowed buffer, taken by the real kernel from the shared RAM: in
    place, and with one copy out."""
    from tockd.board import parse_board
    from tockd.daemon import Daemon
    from tockd.kernel.events import collect_console

    ram = 1 << (size + 16384).bit_length()  # the app's block (power-of-two MPU regions)
    cfg = parse_board(
        f'[board]\nname = "zero-copy"\nmpu = "cortex-m"\nram_size = {ram * 2}\n'
        f"bulk = true\ncpu = {_toml(cpu)}\nuart_baud = 0\n"
        f'[[apps]]\nname = "bulk"\nmodule = "apps_py.zero_copy_bench"\n'
        f"ram = {size + 8192}\n"
        f"[apps.args]\nsize = {size}\nn = {n}\nwarmup = {warmup}\n"
    )
    daemon = Daemon(cfg, quiet=True)
    text = collect_console(daemon.kernel.events)  # the samples come back on the console
    status = trio.run(daemon.run)
    lines = "".join(text).splitlines()
    if status != 0 or len(lines) != 2:
        raise SystemExit("tockd zero-copy run failed")
    in_place, copied = lines
    return [int(x) for x in in_place.split()], [int(x) for x in copied.split()]


def _toml(v: int | str) -> str:
    return str(v) if isinstance(v, int) else f'"{v}"'


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1 << 20, help="bytes per transfer")
    ap.add_argument("--n", type=int, default=20, help="timed transfers per side")
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    from tockd.daemon import resolve_cpu

    cpu = resolve_cpu("auto")
    assert cpu is not None
    print(f"{args.size} bytes per transfer, {args.n} transfers each, on CPU {cpu}")
    t0 = time.monotonic()
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})  # the socket pair shares one core, like the board
    try:
        sock = over_socket(args.size, args.n, args.warmup)
    finally:
        os.sched_setaffinity(0, saved)
    allow, copied = through_allow(args.size, args.n, args.warmup, cpu)
    s_med, a_med, c_med = (statistics.median(x) for x in (sock, allow, copied))
    mib = args.size / (1 << 20)

    def line(label: str, median: float) -> None:
        print(f"{label:<44} median {median / 1e3:8.1f} µs  ({mib / (median / 1e9):7.0f} MiB/s)")

    line("over the socket (msgpack frames, joined)", s_med)
    line("allowed buffer, kernel takes it in place", a_med)
    line("allowed buffer, kernel copies it out once", c_med)
    print(f"allowed buffer (in place) is {s_med / a_med:.1f}x faster (medians; target >= 10x)")
    print(f"allowed buffer (one copy) is {s_med / c_med:.1f}x faster")
    print(f"({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
