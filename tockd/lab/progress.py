"""How a sweep shows its progress: a live status line on a terminal, plain lines elsewhere.

    explore("configs/rot13.toml", ["no-faults"], runs=500, progress=progress_for(500, sys.stderr))

Each is a callback that `explore` calls with its `Summary` after every run it counts.
On a terminal, `progress_bar` redraws one line in place (a carriage return) each time.
Into a file or a pipe (`tockd explore ... 2> log`, a CI log) a carriage return per run
would pile every update onto one line, so `progress_lines` writes a plain line for the
first run, then every `PLAIN_EVERY_S` seconds, and one when the last run is counted.
`progress_for` picks by what the stream is; the sweep's summary follows either way
(tockd/cli/lab.py).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from tockd.lab.explore import Summary

#: a sweep's progress callback: told the summary after every run counted
Progress = Callable[["Summary"], None]
#: how often a plain line is written where the output is not a terminal (s)
PLAIN_EVERY_S = 5.0
#: nodes named on a status line; the others are counted
NODES_SHOWN = 4


#: a run limit that is no limit (exhaustive search goes until its tree is searched):
#: the status line shows no total for it
UNLIMITED = 1_000_000


def status(s: Summary, total: int) -> str:
    """Runs done, runs/s, distinct app observations so far, violations and timeouts;
    with several nodes, each node's runs and runs/s too."""
    line = (
        f"runs {s.runs}{f'/{total}' if total < UNLIMITED else ''}  "
        f"{s.runs_per_second:6.1f} runs/s  "
        f"orderings {len(s.orderings)}  observations {len(s.observations)}  "
        f"violations {s.violations}  timeouts {s.timeouts}"
    )
    if len(s.nodes) > 1:
        shown = sorted(s.nodes)[:NODES_SHOWN]
        line += "  | " + "  ".join(
            f"{n[:8]} {s.nodes[n].runs} ({s.node_rate(n):.1f}/s)" for n in shown
        )
        if len(s.nodes) > len(shown):
            line += f"  +{len(s.nodes) - len(shown)} nodes"
    return line


def progress_bar(total: int, stream: IO[str] = sys.stderr) -> Progress:
    """For a terminal: the status line redrawn in place after every run, ended with a
    newline once the last run is counted."""

    def show(s: Summary) -> None:
        stream.write(f"\r  {status(s, total)}   ")
        if s.runs >= total:
            stream.write("\n")
        stream.flush()

    return show


def progress_lines(
    total: int,
    stream: IO[str],
    every: float = PLAIN_EVERY_S,
    clock: Callable[[], float] = time.monotonic,
) -> Progress:
    """For a file or a pipe: the status as a plain line for the first run counted, then
    once `every` seconds have passed since the last line, and for the last run."""
    last = -math.inf

    def show(s: Summary) -> None:
        nonlocal last
        now = clock()
        if s.runs < total and now - last < every:
            return
        last = now
        stream.write(f"  {status(s, total)}\n")
        stream.flush()

    return show


def progress_for(total: int, stream: IO[str]) -> Progress:
    """The live bar if `stream` is a terminal, plain lines every few seconds if not."""
    return progress_bar(total, stream) if stream.isatty() else progress_lines(total, stream)


__all__ = ["PLAIN_EVERY_S", "Progress", "progress_bar", "progress_for", "progress_lines", "status"]
