"""A throwaway multi-node Ray cluster on loopback, for tests and benchmarks.

    with LoopbackCluster(nodes=2) as cluster:
        with RayExecutor(cluster.address) as ex:
            explore("configs/rot13_report.toml", ["notify-delivered"], executor=ex)

Each node is a real `ray start` (the head, then `ray start --address` for the others)
with one CPU and a small object store, on its own loopback address (127.0.0.2,
127.0.0.3, ...: Ray rewrites 127.0.0.1 to the host's routable address, any other
127.x address it keeps), under a private temporary directory short enough for Ray's
AF_UNIX socket paths. `ray start` detaches its daemons, so `stop` finds them by that
directory in their command lines, adds their descendants (Ray's workers and the boards
they run) and kills them by pid: `ray stop` would kill every Ray process on the machine,
other people's clusters too.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

import psutil

from tockd.lab.executor import ExecutorError

#: `ray start` takes a few seconds a node; more on a busy machine
START_TIMEOUT_S = 120.0


class LoopbackCluster:
    """`nodes` Ray nodes on 127.0.0.`first_ip`... of `cpus` CPUs each."""

    def __init__(
        self,
        nodes: int = 2,
        *,
        cpus: int = 1,
        object_store_memory: int = 100_000_000,
        first_ip: int = 2,
    ) -> None:
        self.ips = [f"127.0.0.{first_ip + i}" for i in range(nodes)]
        self.cpus = cpus
        self.object_store_memory = object_store_memory
        self.temp_dir: str | None = None
        self.address = ""

    def start(self) -> str:
        """Start every node; the head's address (what `RAY_ADDRESS` would hold)."""
        self.temp_dir = tempfile.mkdtemp(prefix="tray", dir="/tmp")
        head = self.ips[0]
        self.address = f"{head}:{_free_port(head)}"
        try:
            self._ray_start(
                "--head",
                "--port",
                self.address.rsplit(":", 1)[1],
                "--node-ip-address",
                head,
                "--include-dashboard=false",
                "--dashboard-port",
                str(_free_port(head)),
            )
            for ip in self.ips[1:]:
                self._ray_start("--address", self.address, "--node-ip-address", ip)
        except BaseException:
            self.stop()
            raise
        return self.address

    def _ray_start(self, *args: str) -> None:
        assert self.temp_dir is not None
        command = [
            _ray_cli(),
            "start",
            *args,
            "--num-cpus",
            str(self.cpus),
            "--object-store-memory",
            str(self.object_store_memory),
            "--temp-dir",
            self.temp_dir,
            "--disable-usage-stats",
        ]
        # no token: a loopback cluster for a test or a benchmark, gone when it ends; and
        # explicit, or a token in ~/.ray would switch the head (not the others) to tokens
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
        for name in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
            env.pop(name, None)
        try:
            r = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT_S,
                env=env,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise ExecutorError(
                f"`ray start {' '.join(args)}` took over {START_TIMEOUT_S}s"
            ) from None
        if r.returncode != 0:
            raise ExecutorError(f"`ray start {' '.join(args)}` failed:\n{r.stderr[-3000:]}")

    def processes(self) -> list[psutil.Process]:
        """Every live process of this cluster: its daemons and all their descendants."""
        if self.temp_dir is None:
            return []
        mine = re.compile(re.escape(self.temp_dir) + r"(/|$)")
        me = psutil.Process()
        skip = {me.pid} | {p.pid for p in me.parents()}
        found: dict[int, psutil.Process] = {}
        for p in psutil.process_iter(["cmdline"]):
            cmdline = p.info["cmdline"] or []
            if p.pid in skip or not any(mine.search(a) for a in cmdline):
                continue
            found[p.pid] = p
            with contextlib.suppress(psutil.Error):
                for child in p.children(recursive=True):
                    found[child.pid] = child
        return [p for p in found.values() if _alive(p)]

    def raylet(self, node: int) -> psutil.Process:
        """The raylet of node `node` (0 is the head)."""
        flag = f"--node_ip_address={self.ips[node]}"
        for p in self.processes():
            with contextlib.suppress(psutil.Error):
                if p.name() == "raylet" and flag in p.cmdline():
                    return p
        raise LookupError(f"no raylet for node {node} ({self.ips[node]})")

    def busy_workers(self, node: int, task: str = "_ray_task") -> list[psutil.Process]:
        """The worker processes of node `node` running `task` right now."""
        busy = []
        for p in self.raylet(node).children():
            with contextlib.suppress(psutil.Error):
                if p.cmdline()[:1] == [f"ray::{task}"]:
                    busy.append(p)
        return busy

    def stop(self) -> None:
        """Kill every process of the cluster (by pid) and remove its directory."""
        for _ in range(20):  # a raylet may start a worker while we look: look again
            procs = self.processes()
            if not procs:
                break
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            psutil.wait_procs(procs, timeout=5)
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LoopbackCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _ray_cli() -> str:
    here = Path(sys.executable).parent / "ray"
    found = str(here) if here.exists() else shutil.which("ray")
    if found is None:
        raise ExecutorError("no `ray` command: pip install 'tockd[ray]'")
    return found


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
