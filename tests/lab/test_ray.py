"""Exploration on a real Ray cluster: two nodes on loopback, started with `ray start`.

One cluster serves the whole module (starting it takes seconds); it is stopped, every
one of its processes killed by pid, whatever the tests did.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.wait import poll
from tockd.lab.executor import RayExecutor
from tockd.lab.explore import Summary, explore
from tockd.lab.ray_cluster import LoopbackCluster

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "configs/rot13_report.toml"
PROPS = ["notify-delivered"]
RACE = "dropped: null upcall"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LoopbackCluster]:
    c = LoopbackCluster(nodes=2)
    try:
        c.start()
        yield c
    finally:
        c.stop()
    assert not c.processes(), "the cluster left processes behind"
    assert c.temp_dir is not None
    left = [p for p in psutil.process_iter(["cmdline"]) if c.temp_dir in str(p.info["cmdline"])]
    assert not left, "no raylet, gcs_server or worker of the cluster may remain"


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _key(records: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {(r["seed"], r["digest"], r["verdict"], r["decisions"]) for r in records}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tockd.cli", *args]


def test_two_nodes_give_the_same_runs_as_a_local_sweep(
    cluster: LoopbackCluster, tmp_path: Path
) -> None:
    sweep: dict[str, Any] = {"strategy": "random", "runs": 24, "seed": 300}
    local_out, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    with local_out.open("w") as f:
        local = explore(REPORT, PROPS, **sweep, jobs=2, out=f, save=tmp_path / "local.json")
    with RayExecutor(cluster.address) as ex, ray_out.open("w") as f:
        assert len(ex.nodes()) == 2 and ex.workers == 2
        remote = explore(
            REPORT, PROPS, **sweep, executor=ex, batch=2, out=f, save=tmp_path / "r.json"
        )
    records = _records(ray_out)
    assert len(records) == 24
    assert _key(records) == _key(_records(local_out))  # same seeds, digests, verdicts
    # every run says where it ran; both nodes took a share, and the summary counts them
    per_node = {r["node"] for r in records}
    assert len(per_node) == 2 and all("@127.0.0." in n for n in per_node)
    assert {n: s.runs for n, s in remote.nodes.items()} == {
        n: sum(r["node"] == n for r in records) for n in per_node
    }
    # the first violation, shrunk and saved here as in a local sweep, replays anywhere
    assert remote.first is not None and any(RACE in v for v in remote.first["property_violations"])
    assert remote.first["seed"] == local.first["seed"]  # type: ignore[index]
    assert remote.shrunk is not None and local.shrunk is not None
    assert remote.shrunk["digest"] == local.shrunk["digest"]
    assert remote.replay_digest_ok
    r = subprocess.run(
        _cli("replay", str(tmp_path / "r.json")), capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0 and "identical" in r.stdout, r.stdout + r.stderr


def test_a_worker_killed_mid_sweep_loses_no_run_and_repeats_none(
    cluster: LoopbackCluster, tmp_path: Path
) -> None:
    runs, seed = 40, 500
    halfway = threading.Event()
    killed: list[int] = []
    board_processes: list[psutil.Process] = []
    runs_at_kill: list[int] = []

    def kill_a_busy_worker() -> bool:
        for worker in cluster.busy_workers(1):
            with contextlib.suppress(psutil.Error):
                board_processes.extend(worker.children(recursive=True))
                worker.send_signal(signal.SIGKILL)
                killed.append(worker.pid)
                return True
        return False

    def kill_a_busy_worker_of_the_second_node() -> None:
        if halfway.wait(120):
            poll(kill_a_busy_worker, timeout=60)

    def progress(s: Summary) -> None:
        if s.runs >= 6:
            halfway.set()
        if killed and not runs_at_kill:
            runs_at_kill.append(s.runs)

    killer = threading.Thread(target=kill_a_busy_worker_of_the_second_node, daemon=True)
    killer.start()
    out = tmp_path / "runs.jsonl"
    try:
        with RayExecutor(cluster.address) as ex, out.open("w") as f:
            s = explore(
                REPORT,
                PROPS,
                strategy="random",
                runs=runs,
                seed=seed,
                batch=4,
                executor=ex,
                out=f,
                progress=progress,
                shrink=False,
            )
    finally:
        halfway.set()
        killer.join(130)
    assert killed, "no busy worker on the second node to kill"
    assert runs_at_kill and runs_at_kill[0] < runs  # the sweep went on after the kill
    assert s.runs == runs
    seeds = [r["seed"] for r in _records(out)]
    assert sorted(seeds) == list(range(seed, seed + runs))  # each exactly once
    # the killed worker's board (its zygote and apps) went with it
    _, alive = psutil.wait_procs(board_processes, timeout=10)
    assert not alive


def test_resume_a_killed_cluster_sweep_from_its_file(
    cluster: LoopbackCluster, tmp_path: Path
) -> None:
    out, save = tmp_path / "runs.jsonl", tmp_path / "race.json"
    sweep = [str(REPORT), "--strategy", "random", "--runs", "40", "--seed", "7"]
    sweep += ["--keep-going", "--ray", "auto", "--batch", "2", "--save", str(save)]
    env = {**os.environ, "RAY_ADDRESS": cluster.address}
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(
        _cli("explore", *sweep, "--out", str(out)), env=env, stdout=log, stderr=log
    )
    try:
        poll(
            lambda: (
                first.poll() is not None
                or (out.exists() and len(out.read_text().splitlines()) >= 8)
            ),
            timeout=120,
        )
    finally:
        first.kill()  # no goodbye: a killed sweep
        first.wait()
        log.close()
    before = len(_records(out))
    assert 8 <= before < 40, (tmp_path / "first.log").read_text()
    r = subprocess.run(
        _cli("explore", *sweep, "--resume", str(out)),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 3, r.stdout + r.stderr  # a violation found, shrunk, saved
    seeds = [rec["seed"] for rec in _records(out)]
    assert sorted(seeds) == list(range(7, 47))  # every seed exactly once
    assert f"resumed               {before} runs" in r.stdout
    # progress across the cluster: the final table has a row per node that ran some (the
    # killed driver's last tasks may still hold one node for a moment)
    rows = [line for line in r.stdout.splitlines() if "@127.0.0." in line]
    assert rows, r.stdout
    assert sum(int(row.split()[1]) for row in rows) == 40 - before
    assert "identical digest" in r.stdout


@pytest.mark.parametrize("reduce", [True, False])
def test_exhaustive_search_split_across_the_cluster_does_each_schedule_once(
    cluster: LoopbackCluster, tmp_path: Path, reduce: bool
) -> None:
    def runs(**kw: Any) -> list[tuple[tuple[int, ...], str]]:
        out = tmp_path / f"{len(kw)}.jsonl"
        with out.open("w") as f:
            explore(
                REPORT,
                PROPS,
                strategy="exhaustive",
                preemption_bound=1,
                runs=1000,
                out=f,
                shrink=False,
                reduce=reduce,
                **kw,
            )
        return [(tuple(r["strategy"]["prefix"]), r["digest"]) for r in _records(out)]

    sequential = runs()
    with RayExecutor(cluster.address) as ex:
        split = runs(executor=ex, batch=4)
    assert len(split) == len(set(split)) == len(sequential)  # the whole tree, once
    assert set(split) == set(sequential)
    if reduce:  # the reduced search takes its records back in the order they went out
        assert split == sequential


def test_a_throwaway_local_cluster_gives_the_same_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_USAGE_STATS_ENABLED"):
        monkeypatch.delenv(name, raising=False)  # and back as they were, afterwards
    home_token = Path.home() / ".ray/auth_token"
    had_token = home_token.exists()
    sweep: dict[str, Any] = {"strategy": "pct", "runs": 8, "seed": 900, "shrink": False}
    local_out, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    with local_out.open("w") as f:
        explore(REPORT, PROPS, **sweep, out=f)
    with ray_out.open("w") as f:
        s = explore(REPORT, PROPS, **sweep, ray="local", jobs=1, out=f)
    assert len(s.nodes) == 1
    assert _key(_records(ray_out)) == _key(_records(local_out))
    # guarded by a token of this process, not one written to ~/.ray for good
    assert os.environ["RAY_AUTH_MODE"] == "token"
    assert home_token.exists() == had_token


def test_the_bench_row_measures_ray_against_local_jobs(cluster: LoopbackCluster) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from _ray_row import ray_row
    finally:
        sys.path.remove(str(ROOT / "bench"))
    row = ray_row(runs=8, batches=(1, 4), address=cluster.address, repeat=1)
    assert row.local > 0 and all(rate > 0 for rate in row.by_batch.values())
    text = "\n".join(row.lines())
    assert "local --jobs 2" in text and "Ray 2 nodes, batch 4" in text
    assert "overhead" in text and row.noop_ms > 0
