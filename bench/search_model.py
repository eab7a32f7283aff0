"""How often the reduced search loses an ordering, on random programs of the model of
tests/lab/test_search_model.py (a few processes with shared resources, signals, yields,
one timer), against every schedule within the same preemption bound.

    python bench/search_model.py [--programs 300] [--seed 1] [--bound 0,1,2,none]

Prints, for each bound: programs searched, programs where the reduced search missed
an ordering of the full sweep, orderings missed, and the runs of each search. The real
boards' comparisons are in tests/lab/test_reduction.py; this looks at shapes they lack.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "lab"))

from test_search_model import Op, every_schedule, reduced_search  # noqa: E402

from tockd.kernel.footprint import READ, WRITE  # noqa: E402
from tockd.lab.strategy import UNBOUNDED  # noqa: E402


def program(rng: random.Random) -> list[list[Op]]:
    """Two or three processes of one to three operations each."""

    def op() -> Op:
        kind = rng.choice(["do", "do", "signal", "wait", "arm"])
        if kind == "do":
            touched = rng.sample(["a", "b"], rng.randint(1, 2))
            return ("do", {r: rng.choice((READ, WRITE)) for r in touched})
        if kind == "wait":
            return ("wait", None)
        return (kind, rng.randint(0, 3))

    return [[op() for _ in range(rng.randint(1, 3))] for _ in range(rng.randint(2, 3))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--programs", type=int, default=300, help="programs per bound")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--bound", default="0,1,2,none", help="preemption bounds, comma-separated (none: no bound)"
    )
    args = ap.parse_args()
    for name in args.bound.split(","):
        bound = UNBOUNDED if name == "none" else int(name)
        rng = random.Random(f"{args.seed}/{bound}")
        lost = missed = reduced_runs = full_runs = 0
        started = time.monotonic()
        for _ in range(args.programs):
            programs = program(rng)
            full, every = every_schedule(programs, bound)
            reduced, runs = reduced_search(programs, bound)
            reduced_runs += runs
            full_runs += every
            if full - reduced:
                lost += 1
                missed += len(full - reduced)
        print(
            f"bound {name}: {args.programs} programs, {lost} lost orderings ({missed} in"
            f" all); runs {reduced_runs} reduced against {full_runs} full"
            f" ({time.monotonic() - started:.1f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
