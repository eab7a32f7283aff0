"""`tockd trace`: the live trace of a running daemon, over its control socket."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

from tests.test_cli import ROOT, TOCKD, sock_dir, start_daemon, tockd

__all__ = ["sock_dir"]  # the fixture, used by name

# a 2.2 trace line starts with the process id in brackets, or is a fault policy's line
# (docs/trace.md; tests/test_trace.py holds each shape exactly)
TRACE_LINE = re.compile(r"^(\[\d+\] [a-zA-Z]|Process \S+ faulted)")


def test_tockd_trace_prints_the_live_trace_and_ends_with_the_daemon(sock_dir: Path) -> None:
    sock = sock_dir / "c.sock"
    daemon = start_daemon("configs/buttons.toml", sock, "--forever")
    trace = subprocess.Popen(
        [*TOCKD, "trace", "--control", str(sock)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(trace.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 20
        # press a button until the trace shows its upcall being scheduled (the trace is
        # subscribed by then; a press before that is simply not in this trace)
        while not any("schedule[0x3:0]" in line for line in lines):
            assert trace.poll() is None, trace.communicate()
            assert time.monotonic() < deadline, lines[-5:]
            tockd("button", "0", "--control", str(sock))
            time.sleep(0.05)
        daemon.terminate()
        daemon.communicate(timeout=15)
        assert trace.wait(timeout=15) == 0  # the daemon went away: the trace ends, status 0
        reader.join(timeout=5)
    finally:
        for p in (daemon, trace):
            if p.poll() is None:
                p.kill()
            p.wait()
        reader.join(timeout=5)
        for pipe in (trace.stdout, trace.stderr):
            if pipe is not None:
                pipe.close()
    assert lines and all(TRACE_LINE.match(line) for line in lines), lines[:5]
    assert any(line.startswith("[0] function_call @") for line in lines)  # the upcall ran
