"""Hostile apps against the isolation Linux enforces (issue 12), in both kernel modes.

Every test runs a real `tockd run` (a subprocess, so an attack on "the daemon" never
hits pytest) on a board with the default sandbox (no [sandbox] table) and three apps:

- `attack` (tests/apps/attack.py or attack_import.py): one escape attempt; it reports
  `RESULT escaped ...` for anything that worked, `RESULT blocked ...` for refusals;
- `victim` (tests/apps/victim.py): holds a random secret in its RAM; the attacker is
  not told where;
- `neighbour` (tests/apps/neighbour.py): keeps making syscalls until told to stop.

The test starts the board paused, subscribes to its events, resumes it, waits for the
victim's secret, then types `GO <victim pid> <zygote pid> <daemon pid>` into the
attacker's console (host pids, as `tockd ps` and psutil see them) and waits for the
attack to end. Then: the attack failed (no `RESULT escaped`, and it either reported a
refusal or was faulted by the sandbox with a stated reason), the victim's secret is
unchanged and appears nowhere but in the victim's own report, the neighbour made
progress after the attack and finished, and the daemon exits 0.

Contract assumed for the daemon's output (issue 12, point 6): every line an app writes
to its stdout or stderr is printed by the daemon prefixed with `[<app name>] `, with
control characters escaped (no raw byte below 0x20 but tab, no DEL, no ESC); the
same holds for console-driver text. The daemon's own lines start with `tockd:`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.harness import app, board_toml
from tests.wait import poll, wait_for
from tockd.cli import Client
from tockd.contract import wire

ROOT = Path(__file__).resolve().parent.parent
TOCKD_RUN = [sys.executable, "-m", "tockd.cli", "run"]
#: how long one attack may take before the test gives up on it
ATTACK_S = 10.0
#: the most a flooding app may get onto the daemon's stdout and stderr together
OUTPUT_BOUND = 8 << 20
SECRET = re.compile(r"victim secret ([0-9a-f]{32}) (intact|changed [0-9a-f]+)\n")
#: how a sandbox may stop an attacker, as fault reasons begin or contain
CONTAINED = ("killed by SIG", "MPU fault")

pytestmark = pytest.mark.parametrize("kernel_mode", ["tock", "hardened"])


class BoardRun:
    """One `tockd run` subprocess, its control socket and its event stream."""

    def __init__(self, kernel_mode: str) -> None:
        self.kernel_mode = kernel_mode
        self.dir = Path(tempfile.mkdtemp(prefix="iso"))  # AF_UNIX paths are short
        self.ctl = self.dir / "c.sock"
        self.board = self.dir / "board.toml"
        self.out = self.dir / "stdout"
        self.err = self.dir / "stderr"
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: Client | None = None
        self.returncode: int | None = None
        self.lingering: list[int] = []

    # ---- life cycle -------------------------------------------------------------------

    def start(self, apps: list[dict[str, Any]]) -> None:
        text = board_toml(apps, name="iso", kernel_mode=self.kernel_mode, uart_baud=0)
        self.board.write_text(text)
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [*TOCKD_RUN, str(self.board), "--control", str(self.ctl), "--paused"],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        wait_for(self._bound, "the daemon's control socket")
        sub = Client(str(self.ctl))
        sub.sock.sendall(wire.encode({"op": "subscribe"}))
        assert sub.recv()["ok"]
        self._reader = threading.Thread(target=self._read_events, args=(sub,), daemon=True)
        self._reader.start()
        self.client = Client(str(self.ctl))
        self.client.sock.settimeout(5)  # a stopped daemon fails the test, never hangs it
        self.request("resume")

    def _read_events(self, sub: Client) -> None:
        try:
            while True:
                ev = sub.recv()["event"]
                with self.lock:
                    self.events.append(ev)
        except (SystemExit, OSError, KeyError):
            pass
        finally:
            sub.close()

    def request(self, op: str, **args: Any) -> Any:
        assert self.client is not None
        try:
            return self.client.request(op, **args)
        except (OSError, SystemExit) as e:
            raise AssertionError(
                f"the daemon stopped answering {op!r} ({e!r}); the attacker said "
                f"{self.console('attack')!r}"
            ) from None

    def close(self) -> None:
        """Whatever happened: the daemon, its process group and anything the test saw
        lingering are gone."""
        if self.client is not None:
            with contextlib.suppress(OSError):
                self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
        for pid in self.lingering:
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pid)
                p.kill()
                p.wait(5)
        for path in (self.ctl, self.board, self.out, self.err):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.dir.rmdir()

    # ---- what the board did ------------------------------------------------------------

    def console(self, name: str) -> str:
        with self.lock:
            return "".join(
                e["text"] for e in self.events if e["kind"] == "console" and e["name"] == name
            )

    def faults(self, name: str) -> list[str]:
        with self.lock:
            return [e["reason"] for e in self.events if e["kind"] == "fault" and e["name"] == name]

    def ended(self, name: str) -> bool:
        with self.lock:
            return any(
                e["kind"] in ("fault", "terminated") and e.get("name") == name for e in self.events
            )

    def stdout(self) -> bytes:
        return self.out.read_bytes()

    def stderr(self) -> bytes:
        return self.err.read_bytes()

    def ps(self) -> dict[str, dict[str, Any]]:
        return {row["name"]: row for row in self.request("ps")}

    def daemon_ok(self) -> None:
        assert self.proc is not None
        assert self.proc.poll() is None, f"the daemon died: status {self.proc.returncode}"
        status = psutil.Process(self.proc.pid).status()
        assert status != psutil.STATUS_STOPPED, "the daemon was stopped"

    def _bound(self) -> bool:
        assert self.proc is not None
        assert self.proc.poll() is None, f"daemon died at start: {self.stderr()!r}"
        return self.ctl.exists()

    def wait(self, what: str, cond: Callable[[], bool], timeout: float = ATTACK_S) -> bool:
        """Did `what` happen (`cond`) within `timeout` seconds? The daemon must stay up
        and running meanwhile."""

        def checked() -> bool:
            self.daemon_ok()
            return cond()

        return poll(checked, timeout) is not None

    def zygote_pid(self, apps: set[int]) -> int:
        assert self.proc is not None
        for child in psutil.Process(self.proc.pid).children():
            if child.pid not in apps:
                return child.pid
        return 0

    def go(self) -> dict[str, dict[str, Any]]:
        """Once the victim holds its secret, tell the attacker the pids and let it go."""
        rows = self.ps()
        if "victim" in rows:
            assert self.wait("victim", lambda: "victim ready\n" in self.console("victim"))
            rows = self.ps()
        apps = {r["pid"] for r in rows.values() if r["pid"]}
        assert self.proc is not None
        victim = rows["victim"]["pid"] if "victim" in rows else 0
        pids = (victim, self.zygote_pid(apps), self.proc.pid)
        self.request("console", name="attack", text="GO {} {} {}\n".format(*pids))
        return rows

    def finish(self, *, terminate_attacker: bool = False) -> None:
        """Wait for the attack to end, check the neighbour goes on, let the victim check
        its secret, stop the neighbour, and wait for the daemon to exit."""
        done = self.wait("attack", lambda: self.ended("attack"))
        if not done:
            _assert_no_escapes(self.console("attack"))
            assert terminate_attacker, f"the attack did not end: {self.console('attack')!r}"
            self.request("terminate", name="attack")
        before = self.ps()["neighbour"]["syscalls"]
        assert self.wait(
            "neighbour", lambda: self.ps()["neighbour"]["syscalls"] >= before + 20, 5
        ), "the neighbour made no progress after the attack"
        self.request("console", name="victim", text="check\n")
        self.request("console", name="neighbour", text="s")
        assert self.proc is not None
        self.returncode = self.proc.wait(15)
        self._reader.join(5)  # every event up to the daemon's EOF has been read
        assert not self._reader.is_alive(), "the event stream did not end with the daemon"


@pytest.fixture
def board_run() -> Iterator[Callable[..., BoardRun]]:
    runs: list[BoardRun] = []

    def make(
        attack: dict[str, Any] | Callable[[BoardRun], dict[str, Any]],
        kernel_mode: str,
        *,
        victim: bool = True,
    ) -> BoardRun:
        run = BoardRun(kernel_mode)
        runs.append(run)
        apps = [attack(run) if callable(attack) else attack]
        if victim:
            apps.append(app("tests.apps.victim"))
        apps.append(app("tests.apps.neighbour"))
        run.start(apps)
        return run

    yield make
    for run in runs:
        run.close()


def attacker(how: str, module: str = "tests.apps.attack", **args: Any) -> dict[str, Any]:
    return app(module, name="attack", args={"how": how, **args})


def _assert_no_escapes(said: str) -> None:
    escapes = [line for line in said.splitlines() if line.startswith("RESULT escaped")]
    assert escapes == [], f"the attack worked: {escapes}"


def assert_contained(run: BoardRun, *, refusal: bool = True) -> None:
    """The attack failed, the victim's secret is intact and unread, the neighbour
    finished, and the daemon exited 0. With `refusal` (all but the output attacks,
    whose writes are allowed but bounded and prefixed) the attacker must also have
    reported a refusal or been stopped by the sandbox."""
    said = run.console("attack")
    faults = run.faults("attack")
    _assert_no_escapes(said)
    refused = any(line.startswith("RESULT blocked") for line in said.splitlines())
    stopped = any(r.startswith(CONTAINED) or "[sandbox:" in r for r in faults)
    if refusal:
        assert refused or stopped, f"neither refused nor stopped: {said!r} {faults}"
    if faults:
        assert stopped, f"the attacker failed for another reason: {faults}"
    victim = run.console("victim")
    m = SECRET.search(victim)
    assert m is not None, f"the victim did not report: {victim!r} {run.faults('victim')}"
    assert m.group(2) == "intact", f"the victim's secret was changed: {m.group(2)}"
    secret = m.group(1).encode()
    assert secret not in said.encode(), "the attacker read the victim's secret"
    assert run.stdout().count(secret) == 1  # the victim's own report, nothing else
    assert secret not in run.stderr()
    assert run.faults("victim") == []
    assert run.faults("neighbour") == []
    assert re.search(r"neighbour done [1-9]\d*\n", run.console("neighbour"))
    assert run.returncode == 0, run.stderr()[-2000:]


def attack_test(
    board_run: Callable[..., BoardRun],
    kernel_mode: str,
    how: str,
    *,
    refusal: bool = True,
    **args: Any,
) -> BoardRun:
    run = board_run(attacker(how, **args), kernel_mode)
    run.go()
    run.finish()
    assert_contained(run, refusal=refusal)
    return run


# ---- memory ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "how",
    [
        "mprotect_ram",  # mprotect the RAM mapping read-write, scan and overwrite
        "set_regions",  # re-point the libtock view at all of RAM
        "mmap_fds",  # mmap every open fd (the RAM memfd Python's mmap keeps a dup of)
        "proc_self_fd",  # reopen /proc/self/fd/N read-write and mmap it
        "map_files",  # open /proc/self/map_files/* (root) and mmap it
        "daemon_fd",  # reopen the daemon's and the zygote's fds through /proc/<pid>/fd
        "proc_self_mem",  # /proc/self/mem reads through PROT_NONE pages
        "proc_victim_mem",  # /proc/<victim>/maps and /proc/<victim>/mem
        "process_vm",  # process_vm_readv / process_vm_writev of the victim
        "ptrace",  # PTRACE_ATTACH the victim (peek, poke), the zygote, the daemon
        "pidfd",  # pidfd_send_signal, and pidfd_getfd to steal the daemon's RAM fd
        "proc_other",  # open /proc/<pid>/{status,environ,cmdline,maps} of others
    ],
)
def test_memory_of_others_is_out_of_reach(
    board_run: Callable[..., BoardRun], kernel_mode: str, how: str
) -> None:
    attack_test(board_run, kernel_mode, how)


# ---- processes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "sig", "group"),
    [
        ("daemon", "KILL", False),
        ("daemon", "STOP", False),
        ("daemon", "TERM", False),
        ("daemon", "KILL", True),
        ("zygote", "KILL", False),
        ("parent", "KILL", False),
        ("sibling", "KILL", False),
        ("sibling", "STOP", False),
    ],
)
def test_no_signal_reaches_another_process(
    board_run: Callable[..., BoardRun], kernel_mode: str, target: str, sig: str, group: bool
) -> None:
    attack_test(board_run, kernel_mode, "signal", target=target, sig=sig, group=group)


@pytest.mark.parametrize("how", ["fork", "exec"])
def test_no_new_processes(board_run: Callable[..., BoardRun], kernel_mode: str, how: str) -> None:
    attack_test(board_run, kernel_mode, how)


def test_an_app_cannot_outlive_a_killed_daemon(
    board_run: Callable[..., BoardRun], kernel_mode: str
) -> None:
    """Clear PR_SET_PDEATHSIG, ignore TERM/HUP/INT, try setsid, stop talking to the
    kernel; then the daemon is SIGKILLed: every app process must be gone soon after."""
    run = board_run(attacker("outlive"), kernel_mode, victim=False)
    rows = run.go()
    assert run.wait("attack", lambda: "lingering" in run.console("attack") or run.ended("attack"))
    apps = [r["pid"] for r in rows.values() if r["pid"]]
    run.lingering.extend(apps)
    said = run.console("attack")
    assert run.proc is not None
    os.kill(run.proc.pid, signal.SIGKILL)
    run.proc.wait(10)
    poll(lambda: not any(_alive(p) for p in apps), timeout=5)
    alive = [p for p in apps if _alive(p)]
    assert alive == [], f"app processes outlived the daemon: {alive}; the attacker said {said!r}"
    assert "RESULT escaped" not in said, said


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# ---- the control socket and sockets ----------------------------------------------------


def test_the_control_socket_is_out_of_reach(
    board_run: Callable[..., BoardRun], kernel_mode: str
) -> None:
    """Connect to the daemon's control socket (its path given, and every path in
    /proc/net/unix) and ask it to terminate the victim."""
    run = board_run(lambda r: attacker("control_socket", control=str(r.ctl)), kernel_mode)
    run.go()
    run.finish()
    assert_contained(run)


@pytest.fixture
def tcp_listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        s.setblocking(False)
        yield s


def _no_connection(listener: socket.socket) -> None:
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return
    conn.close()
    raise AssertionError("the app connected to the test's listener")


def test_no_tcp_connection(
    board_run: Callable[..., BoardRun], kernel_mode: str, tcp_listener: socket.socket
) -> None:
    port = tcp_listener.getsockname()[1]
    attack_test(board_run, kernel_mode, "tcp", port=port)
    _no_connection(tcp_listener)


def test_no_udp_datagram(board_run: Callable[..., BoardRun], kernel_mode: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        attack_test(board_run, kernel_mode, "udp", port=s.getsockname()[1])
        with pytest.raises(BlockingIOError):
            s.recv(64)


def test_no_abstract_unix_socket(board_run: Callable[..., BoardRun], kernel_mode: str) -> None:
    name = f"tockd-isolation-{secrets.token_hex(8)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind("\0" + name)
        s.listen(8)
        s.setblocking(False)
        attack_test(board_run, kernel_mode, "abstract_unix", name=name)
        _no_connection(s)


def test_no_socketpair(board_run: Callable[..., BoardRun], kernel_mode: str) -> None:
    attack_test(board_run, kernel_mode, "socketpair")


# ---- files -----------------------------------------------------------------------------


def test_cannot_create_a_file(
    board_run: Callable[..., BoardRun], kernel_mode: str, tmp_path: Path
) -> None:
    path = tmp_path / "created"
    attack_test(board_run, kernel_mode, "create_file", path=str(path))
    assert not path.exists()


def test_cannot_append_to_a_file(
    board_run: Callable[..., BoardRun], kernel_mode: str, tmp_path: Path
) -> None:
    path = tmp_path / "existing"
    path.write_text("before\n")
    attack_test(board_run, kernel_mode, "append_file", path=str(path))
    assert path.read_text() == "before\n"


def test_cannot_read_the_users_files(
    board_run: Callable[..., BoardRun], kernel_mode: str, tmp_path: Path
) -> None:
    path = tmp_path / "secret.txt"
    secret = secrets.token_hex(16)
    path.write_text(secret)
    run = attack_test(board_run, kernel_mode, "read_file", path=str(path))
    assert secret not in run.console("attack")
    assert secret.encode() not in run.stdout() + run.stderr()


def test_cannot_fill_the_disk(
    board_run: Callable[..., BoardRun], kernel_mode: str, tmp_path: Path
) -> None:
    path = tmp_path / "huge"
    attack_test(board_run, kernel_mode, "huge_file", path=str(path), mib=128)
    assert not path.exists()


def test_root_files_stay_roots(
    board_run: Callable[..., BoardRun], kernel_mode: str, tmp_path: Path
) -> None:
    """An app running as the daemon's user (root here) cannot chmod, chown or write a
    file of that user."""
    path = tmp_path / "owned"
    path.write_text("mine\n")
    os.chmod(path, 0o600)
    before = os.stat(path)
    attack_test(board_run, kernel_mode, "root_files", path=str(path))
    after = os.stat(path)
    assert (after.st_mode, after.st_uid, after.st_gid) == (
        before.st_mode,
        before.st_uid,
        before.st_gid,
    )
    assert path.read_text() == "mine\n"


# ---- output ----------------------------------------------------------------------------


def test_flooding_stdout_is_bounded(board_run: Callable[..., BoardRun], kernel_mode: str) -> None:
    """32 MiB to stdout and 32 MiB to stderr: the daemon survives, the neighbour goes on,
    and what reaches the daemon's own output is bounded. An attacker held back by the
    bound may be terminated by the test when its time is up."""
    run = board_run(attacker("flood", mib=32), kernel_mode)
    run.go()
    run.finish(terminate_attacker=True)
    assert_contained(run, refusal=False)
    size = len(run.stdout()) + len(run.stderr())
    assert size <= OUTPUT_BOUND, f"{size >> 20} MiB of app output reached the daemon's output"


_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def _assert_no_forged_lines(run: BoardRun) -> None:
    for stream, data in (("stdout", run.stdout()), ("stderr", run.stderr())):
        for line in data.split(b"\n"):
            if b"FORGED" not in line:
                continue
            assert line.startswith(b"[attack] "), f"{stream}: a forged line: {line[:120]!r}"
            assert not _CONTROL.search(line), f"{stream}: a raw control character: {line!r}"
        assert b"\r" not in data.replace(b"\r\n", b"\n"), f"{stream}: a raw carriage return"


def test_an_app_cannot_forge_the_daemons_lines_on_stdout(
    board_run: Callable[..., BoardRun], kernel_mode: str
) -> None:
    run = attack_test(board_run, kernel_mode, "forge_stdout", refusal=False)
    _assert_no_forged_lines(run)
    assert b"FORGED" in run.stdout() + run.stderr()  # printed, prefixed and escaped


def test_an_app_cannot_forge_the_daemons_lines_through_its_console(
    board_run: Callable[..., BoardRun], kernel_mode: str
) -> None:
    run = attack_test(board_run, kernel_mode, "forge_console", refusal=False)
    _assert_no_forged_lines(run)


# ---- import time -----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["mprotect", "fds", "proc_mem", "daemon_fd"])
def test_import_time_memory_grabs_are_refused(
    board_run: Callable[..., BoardRun], kernel_mode: str, how: str
) -> None:
    run = board_run(attacker(how, "tests.apps.attack_import"), kernel_mode)
    run.go()
    run.finish()
    assert_contained(run)


def test_import_time_tcp_connection_is_refused(
    board_run: Callable[..., BoardRun], kernel_mode: str, tcp_listener: socket.socket
) -> None:
    port = tcp_listener.getsockname()[1]
    run = board_run(attacker("tcp", "tests.apps.attack_import", port=port), kernel_mode)
    run.go()
    run.finish()
    assert_contained(run)
    _no_connection(tcp_listener)


def test_import_time_file_is_refused(
    board_run: Callable[..., BoardRun], kernel_mode: str, tmp_path: Path
) -> None:
    path = tmp_path / "existing"
    path.write_text("before\n")
    run = board_run(attacker("file", "tests.apps.attack_import", path=str(path)), kernel_mode)
    run.go()
    run.finish()
    assert_contained(run)
    assert path.read_text() == "before\n"


# ---- capabilities and limits -----------------------------------------------------------


def test_no_capabilities(board_run: Callable[..., BoardRun], kernel_mode: str) -> None:
    """capget is refused (its pid, inside a struct, could name any process); the app's
    capability sets are read from outside, in tests/test_hostile.py."""
    run = attack_test(board_run, kernel_mode, "capget")
    assert "RESULT blocked capget: PermissionError: [Errno 1]" in run.console("attack")


def test_no_privilege_changes(board_run: Callable[..., BoardRun], kernel_mode: str) -> None:
    """Raise a limit, set one of the daemon (prlimit), clear the parent-death signal,
    SCHED_FIFO, nice -10, setgid/setuid to another id, unshare(CLONE_NEWUSER)."""
    attack_test(board_run, kernel_mode, "privileges")


def test_no_io_uring(board_run: Callable[..., BoardRun], kernel_mode: str) -> None:
    """io_uring's operations (openat, connect, ...) are not seen by seccomp."""
    attack_test(board_run, kernel_mode, "io_uring")
