"""An app's stdout and stderr: its own pipes, read by the daemon, shown as its own.

Every line an app writes is printed by the daemon as `[NAME] text` (stdout to the
daemon's stdout, stderr to its stderr), the same shape as the app's console output, so
no app can print a line that reads as the daemon's own (those start with `tockd:`).
The text is made harmless first: invalid UTF-8 and every non-printable character
(carriage returns, escape sequences, other control characters) are shown escaped, and
a line is cut at `MAX_LINE` characters.

Output is bounded per app incarnation by a token bucket shared by both pipes:
`RATE` bytes a second on average, bursts up to `BURST`. What is over is dropped and
counted, and the daemon says so at most once a second. The daemon never blocks on an
app's output; once an app is over its budget the daemon reads its pipes only every
10 ms, so a flood costs the daemon little and slows only the app, whose writes wait.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TextIO

import trio

MAX_LINE = 1000
RATE = 64 * 1024
BURST = 256 * 1024
_READ = 65536
_NOTE_EVERY_S = 1.0
#: how long the daemon leaves a pipe alone after output over the budget
_BACKOFF_S = 0.01


def sanitize(text: str, limit: int = MAX_LINE) -> str:
    """One line of app text, safe to print: non-printables escaped, at most `limit`."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    if len(text) > limit:
        text = text[:limit] + " [cut]"
    return text


@dataclass
class OutputBudget:
    """The token bucket of one app incarnation (both pipes)."""

    name: str
    tokens: float = BURST
    last: float = -1.0
    dropped: int = 0
    noted_at: float = -1e9

    def take(self, n: int, now: float) -> bool:
        """May `n` bytes be shown now? (False: they are dropped and counted.)"""
        if self.last >= 0:
            self.tokens = min(BURST, self.tokens + (now - self.last) * RATE)
        self.last = now
        if n <= self.tokens:
            self.tokens -= n
            return True
        self.dropped += n
        return False

    def note(self, now: float, *, final: bool = False) -> None:
        """Say how much was dropped, at most once a second (and once at the end)."""
        if self.dropped and (final or now - self.noted_at >= _NOTE_EVERY_S):
            print(
                f"tockd: app {self.name}: dropped {self.dropped} bytes of output "
                f"(over {RATE // 1024} KiB/s)",
                file=sys.stderr,
                flush=True,
            )
            self.dropped = 0
            self.noted_at = now


async def pump(fd: int, budget: OutputBudget, out: TextIO) -> None:
    """Read one pipe of an app until EOF, printing its lines as the app's own. Closes
    `fd`."""
    name = budget.name
    partial = b""
    stream = trio.lowlevel.FdStream(fd)
    try:
        async with stream:
            while True:
                try:
                    data = await stream.receive_some(_READ)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    data = b""
                now = trio.current_time()
                if not data:
                    break
                if not budget.take(len(data), now):
                    budget.note(now)
                    # over its budget: read less often, so a flood costs the daemon
                    # (whose core the board shares) little; the app waits on its pipe
                    await trio.sleep(_BACKOFF_S)
                    continue
                lines = (partial + data).split(b"\n")
                partial = lines.pop()
                if len(partial) > MAX_LINE * 4:
                    lines.append(partial)
                    partial = b""
                for line in lines:
                    text = sanitize(line.decode("utf-8", "backslashreplace"))
                    print(f"[{name}] {text}", file=out)
                out.flush()
                budget.note(now)
    finally:
        if partial:
            print(f"[{name}] {sanitize(partial.decode('utf-8', 'backslashreplace'))}", file=out)
            out.flush()
        budget.note(0.0, final=True)


def devnull() -> int:
    """A write fd that discards (a quiet board's apps write there)."""
    return os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
