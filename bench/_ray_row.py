"""The Ray row of bench/explore.py: exploration on a local two-node Ray cluster.

    python bench/_ray_row.py [--runs 200] [--batches 1,4,16]
    from _ray_row import ray_row; print("\\n".join(ray_row(200).lines()))   # bench/explore.py

Starts a Ray cluster of two nodes on loopback (two `ray start`, one CPU each), explores
configs/rot13_report.toml (random strategy, invariants on, every run to the end) through
it at several batch sizes, and the same sweep with local `--jobs 2`, in one run (each
figure the best of `--repeat` sweeps, as other work on the machine only slows). Then:
the per-run overhead Ray adds (the time a worker spends per run, Ray against local, at
batch 1 that is the cost of one task), a no-op task's round trip for scale, and the
smallest batch that brings Ray within 10% of local `--jobs 2`. Both use the same two
cores, so this measures Ray's cost, not a speed-up: on many hosts each node adds its
cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tockd.lab.executor import RayExecutor, import_ray  # noqa: E402
from tockd.lab.explore import explore  # noqa: E402
from tockd.lab.ray_cluster import LoopbackCluster  # noqa: E402

BOARD = ROOT / "configs/rot13_report.toml"
#: Ray "hides" its overhead at the first batch size within this much of local --jobs 2
WITHIN = 0.10


@dataclass
class RayRow:
    runs: int
    nodes: int
    workers: int  # CPUs of the cluster: runs at once
    local: float  # runs/s, local --jobs 2
    by_batch: dict[int, float] = field(default_factory=dict)  # batch -> runs/s on Ray
    noop_ms: float = 0.0  # one no-op task, submitted and fetched, median

    def overhead_ms(self, batch: int) -> float:
        """Extra worker time per run on Ray at `batch`, against local --jobs 2."""
        return (self.workers / self.by_batch[batch] - 2 / self.local) * 1e3

    def hiding_batch(self) -> int | None:
        for batch, rate in sorted(self.by_batch.items()):
            if rate >= (1 - WITHIN) * self.local:
                return batch
        return None

    def lines(self) -> list[str]:
        name = BOARD.name
        out = [f"explore {name}: {self.runs} runs, local --jobs 2        {self.local:6.1f} runs/s"]
        for batch, rate in sorted(self.by_batch.items()):
            out.append(
                f"explore {name}: {self.runs} runs, Ray {self.nodes} nodes, batch {batch:<3}"
                f"{rate:6.1f} runs/s ({rate / self.local:.2f}x --jobs 2, "
                f"overhead {self.overhead_ms(batch):+5.1f} ms/run)"
            )
        hiding = self.hiding_batch()
        out.append(
            f"Ray no-op task round trip {self.noop_ms:.1f} ms (median); per-run overhead at "
            f"batch 1 {self.overhead_ms(min(self.by_batch)):.1f} ms; "
            + (
                f"batch >= {hiding} hides it (within {WITHIN:.0%} of --jobs 2)"
                if hiding
                else "no batch tried hides it"
            )
        )
        return out


def _rate(runs: int, **kw: object) -> float:
    s = explore(
        BOARD,
        ["notify-delivered"],
        strategy="random",
        runs=runs,
        stop_at_first=False,
        shrink=False,
        **kw,  # type: ignore[arg-type]
    )
    return s.runs_per_second


def _noop_ms(n: int = 30) -> float:
    ray = import_ray()
    # a lambda travels by value: the workers cannot import this file
    task = ray.remote(num_cpus=1)(lambda: None)
    ray.get(task.remote())
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        ray.get(task.remote())
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def ray_row(
    runs: int = 200,
    batches: tuple[int, ...] = (1, 4, 16),
    address: str | None = None,
    repeat: int = 2,
) -> RayRow:
    """Measure, each figure the best of `repeat` sweeps (the machine may be shared);
    `address`: an existing cluster to use instead of starting one."""

    def best(**kw: object) -> float:
        return max(_rate(runs, **kw) for _ in range(repeat))

    local = best(jobs=2)
    cluster = None
    if address is None:
        cluster = LoopbackCluster(nodes=2)
        address = cluster.start()
    try:
        with RayExecutor(address) as ex:
            row = RayRow(runs, len(ex.nodes()), ex.workers, local)
            _rate(4 * ex.workers, executor=ex, batch=1)  # start the workers and zygotes
            row.noop_ms = _noop_ms()
            for batch in batches:
                row.by_batch[batch] = best(executor=ex, batch=batch)
    finally:
        if cluster is not None:
            cluster.stop()
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200, help="runs per row")
    ap.add_argument("--batches", default="1,4,16", help="batch sizes to try on Ray")
    ap.add_argument("--repeat", type=int, default=2, help="sweeps per figure (best)")
    args = ap.parse_args(argv)
    batches = tuple(int(b) for b in args.batches.split(","))
    for line in ray_row(args.runs, batches, repeat=args.repeat).lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
