"""Executors: where the runs of an exploration happen.

    with RayExecutor("auto") as ray_cluster:
        explore("configs/rot13_report.toml", ["notify-delivered"], executor=ray_cluster)

`explore` cuts a sweep into `Work` (tockd.lab.work: the items, how a worker runs one,
the records it hands back). An executor runs each item whole on one worker (the board,
its kernel and its app processes all on that worker's machine) and hands back its
`Done`.

- `LocalExecutor(jobs)`: this machine; one job runs in this process, more in a
  forkserver pool of worker processes.
- `RayExecutor(address)`: a Ray cluster (the optional extra `tockd[ray]`). "auto" joins
  the cluster that `RAY_ADDRESS` or `ray start` set up; "local" starts a throwaway one on
  this machine and shuts it down. A batch lost with its worker or node is retried by Ray
  (`max_retries`); a batch returns all its records or none, so no run is counted twice.

The work types and `run_work`, `search_subtree`, `split_off` are re-exported from
tockd.lab.work, where they now live, for the code that imported them from here.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import platform
import queue
import secrets
import shutil
import subprocess
import tempfile
from multiprocessing.pool import Pool
from types import ModuleType, TracebackType
from typing import Any, Self

from tockd.lab import run as _run_module
from tockd.lab.run import worker_zygote
from tockd.lab.work import (
    SPLIT_DEPTH,
    Done,
    Exploration,
    Subtree,
    Work,
    run_work,
    search_subtree,
    split_off,
)

RAY_MISSING = "Ray is not installed here: pip install 'tockd[ray]'"


class ExecutorError(RuntimeError):
    """An executor could not start or lost work it cannot recover; the message says why."""


class Executor:
    """Runs work items, at most `slots` at once, and hands back each `Done` as it
    completes. `workers` is how many run in parallel (it sizes batches)."""

    workers = 1
    slots = 1
    max_batch = 1

    def open(self) -> None:
        """Start (or join) the workers; idempotent."""

    def submit(self, work: Work) -> None:
        raise NotImplementedError

    def next_done(self) -> Done:
        """Block until one submitted item is done; its result."""
        raise NotImplementedError

    def cancel(self) -> None:
        """Drop the work still in flight (a sweep that stops early)."""

    def close(self) -> None:
        """Stop what `open` started; idempotent."""

    def describe(self) -> str:
        return type(self).__name__

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class LocalExecutor(Executor):
    """This machine: `jobs` worker processes, or this process for one job (then one run
    per item, so a sweep that stops at its first violation runs nothing more)."""

    def __init__(self, jobs: int = 1) -> None:
        self.workers = max(1, jobs)
        self.slots = 1 if self.workers == 1 else 2 * self.workers
        self.max_batch = 1 if self.workers == 1 else 4
        self.node = platform.node() or "local"
        self._pool: Pool | None = None
        self._inline: list[Work] = []
        self._results: queue.SimpleQueue[Done | BaseException] = queue.SimpleQueue()

    def open(self) -> None:
        if self.workers > 1 and self._pool is None:
            # each worker keeps one warm zygote for its life (closed by its finalizer)
            ctx = multiprocessing.get_context("fork")
            self._pool = ctx.Pool(self.workers, initializer=worker_zygote)

    def submit(self, work: Work) -> None:
        if self._pool is None:
            self._inline.append(work)  # run when asked for, so progress stays per item
            return
        self._pool.apply_async(
            run_work,
            (work, self.node),
            callback=self._results.put,
            error_callback=self._results.put,
        )

    def next_done(self) -> Done:
        if self._inline:
            return run_work(self._inline.pop(0), self.node)
        result = self._results.get()
        if isinstance(result, BaseException):
            raise result
        return result

    def cancel(self) -> None:
        self._inline.clear()
        self.close()  # a pool cannot drop queued items: end it (workers hold only runs)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()
            pool.join()

    def describe(self) -> str:
        return f"{self.workers} job(s)"


def import_ray() -> ModuleType:
    """The `ray` module, imported on first use (an optional dependency)."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise ExecutorError(RAY_MISSING) from None


def _throwaway_cluster_environment() -> None:
    """For `--ray local`: report nothing home, and guard the cluster (its servers listen
    on every interface) with a token of this process's own, unless the user chose an
    authentication mode; Ray's default would write a token to ~/.ray, which later
    `ray start` clusters of this user would then demand."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if "RAY_AUTH_MODE" not in os.environ:  # then ray.init turns tokens on by itself
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))


def _ray_task(work: Work) -> Done:
    """The Ray task: runs on whichever node Ray picked, in a Ray worker process that
    keeps one warm zygote for its life (it dies with the worker: PDEATHSIG)."""
    ray = import_ray()
    zygote = _run_module._zygote  # the worker's, if an earlier task started it
    if zygote is None or not zygote.running:
        worker_zygote()
    node_id = ray.get_runtime_context().get_node_id()
    return run_work(work, f"{node_id[:8]}@{ray.util.get_node_ip_address()}")


class RayExecutor(Executor):
    """A Ray cluster: "auto" joins the one `RAY_ADDRESS` or `ray start` set up, an address
    joins that one, "local" starts a throwaway cluster of `num_cpus` CPUs here. If this
    process is already connected to Ray, that connection is used and left open."""

    max_batch = 16

    def __init__(
        self,
        address: str = "auto",
        *,
        num_cpus: int | None = None,
        slots: int | None = None,
        max_retries: int = 3,
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self._want_slots = slots
        self._ray: Any = None
        self._owned = False
        self._temp_dir: str | None = None
        self._task: Any = None
        self._in_flight: list[Any] = []

    def open(self) -> None:
        if self._ray is not None:
            return
        ray = import_ray()
        if not ray.is_initialized():
            try:
                if self.address == "local":
                    _throwaway_cluster_environment()
                    # its own directory, short for AF_UNIX paths, removed on close
                    self._temp_dir = tempfile.mkdtemp(prefix="tray", dir="/tmp")
                    ray.init(
                        address="local",  # never a cluster `ray start` left running
                        _temp_dir=self._temp_dir,
                        num_cpus=self.num_cpus,
                        include_dashboard=False,
                        object_store_memory=100_000_000,
                        logging_level=logging.WARNING,
                    )
                else:
                    ray.init(address=self.address, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as e:
                if self._temp_dir is not None:
                    shutil.rmtree(self._temp_dir, ignore_errors=True)
                    self._temp_dir = None
                hint = " (start one with `ray start --head`, or use --ray local)"
                raise ExecutorError(
                    f"cannot join the Ray cluster {self.address!r}: {e}{hint}"
                ) from e
            self._owned = True
        self._ray = ray
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.slots = self._want_slots or 2 * self.workers
        self._task = ray.remote(num_cpus=1, max_retries=self.max_retries)(_ray_task)

    def submit(self, work: Work) -> None:
        self.open()
        self._in_flight.append(self._task.remote(work))

    def next_done(self) -> Done:
        ray = self._ray
        ready, self._in_flight = ray.wait(self._in_flight, num_returns=1)
        try:
            done: Done = ray.get(ready[0])
        except ray.exceptions.RayError as e:
            raise ExecutorError(f"a batch failed on the cluster: {e}") from e
        return done

    def cancel(self) -> None:
        for ref in self._in_flight:
            self._ray.cancel(ref)
        self._in_flight = []

    def close(self) -> None:
        if self._ray is None:
            return
        self.cancel()
        if self._owned:
            started = _local_ray_processes(self._ray)
            self._ray.shutdown()
            for popen in started:  # Ray waits a second for each; a busy machine needs more
                try:
                    popen.wait(10)
                except subprocess.TimeoutExpired:
                    popen.kill()
                    popen.wait()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
        self._ray = None
        self._owned = False

    def nodes(self) -> list[str]:
        """The live nodes of the cluster, as records name them (id@ip)."""
        self.open()
        return [
            f"{n['NodeID'][:8]}@{n['NodeManagerAddress']}" for n in self._ray.nodes() if n["Alive"]
        ]

    def describe(self) -> str:
        return f"Ray ({self.address}, {self.workers} CPU(s))"


def _local_ray_processes(ray: ModuleType) -> list[subprocess.Popen[bytes]]:
    """The daemons `ray.init` started in this process for a local cluster (none when it
    joined one), so that closing reaps every one: Ray's shutdown may give up on one
    after a second and leave it to the garbage collector."""
    node = getattr(getattr(ray, "_private", None), "worker", None)
    node = getattr(node, "_global_node", None)
    infos = getattr(node, "all_processes", None) or {}
    return [info.process for group in infos.values() for info in group]


def make_executor(jobs: int = 1, ray: str | None = None) -> Executor:
    """`--jobs N` and `--ray MODE` of the CLI."""
    if ray is None:
        return LocalExecutor(jobs)
    return RayExecutor(ray, num_cpus=jobs if ray == "local" else None)


def default_batch(runs: int, executor: Executor) -> int:
    """Big enough to hide the per-item overhead, small enough that every worker gets
    several items."""
    return max(1, min(executor.max_batch, runs // (4 * executor.workers)))


__all__ = [
    "RAY_MISSING",
    "SPLIT_DEPTH",
    "Done",
    "Executor",
    "ExecutorError",
    "Exploration",
    "LocalExecutor",
    "RayExecutor",
    "Subtree",
    "Work",
    "default_batch",
    "import_ray",
    "make_executor",
    "run_work",
    "search_subtree",
    "split_off",
]
