"""Attacks its own sandbox in the way its `how` argument says, after one syscall.

Each `how` is one crash kind of tests/test_hostile.py; the ones that are not crashes
(`raise_limit`, `threads` where allowed, `raw_threads`, `sysv_ipc`, `file_channels`,
`status`) say on the console what they found.
"""

import ctypes
import errno
import fcntl
import os
import resource
import signal
import socket
import subprocess
import threading
import time

from apps_py.libtock import app_args, console, privileges, runtime
from apps_py.libtock.sandbox_error import SandboxError
from tockd.contract.abi import REPORT, ReportKind
from tockd.contract.wire import encode


def _hog_memory() -> None:
    chunks = []
    while True:  # address space, not RSS: bytearray(n) maps untouched zero pages
        chunks.append(bytearray(8 << 20))


def _flood_fds() -> None:
    fds = []
    while True:
        fds.append(os.open("/dev/null", os.O_RDONLY))


def _status() -> None:
    lines = []
    for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_CORE"):
        soft, hard = resource.getrlimit(getattr(resource, name))
        lines.append(f"{name} {soft} {hard}")
    # /proc/self is out of the app's reach (Landlock): ask the kernel through prctl
    libc = ctypes.CDLL(None, use_errno=True)
    lines.append(f"NoNewPrivs:\t{libc.prctl(39, 0, 0, 0, 0)}")  # PR_GET_NO_NEW_PRIVS
    lines.append(f"Seccomp:\t{libc.prctl(21, 0, 0, 0, 0)}")  # PR_GET_SECCOMP
    lines.append(f"Dumpable:\t{libc.prctl(3, 0, 0, 0, 0)}")  # PR_GET_DUMPABLE
    try:  # refused: its pid is inside a struct no filter can read (tests/test_hostile.py
        privileges.capabilities()  # reads the capabilities from outside)
        lines.append("capget:\tallowed")
    except SandboxError as e:
        lines.append(f"capget:\t{e}")
    console.write("\n".join(lines) + "\n")


def _raise_limits() -> None:
    for name in ("RLIMIT_AS", "RLIMIT_NOFILE", "RLIMIT_CPU"):
        which = getattr(resource, name)
        before = resource.getrlimit(which)
        try:
            resource.setrlimit(which, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            outcome = "raised"
        except (ValueError, OSError) as e:
            outcome = f"refused ({e})"
        console.write(f"{name} {outcome}, still {resource.getrlimit(which) == before}\n")


def _threads() -> None:
    out: list[int] = []
    t = threading.Thread(target=lambda: out.append(sum(range(1000))))
    t.start()
    t.join()
    console.write(f"thread ok {out[0]}\n")


def _raw_threads() -> None:
    """Threads as a bomb would make them: clone(2) straight from ctypes, on a tiny
    stack of their own, out of reach of RLIMIT_AS. Each would return into whatever the
    stack holds, so this is only ever tried where it is refused; it says what clone
    answered, and how far Python's own threads with the smallest stack got."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    stack = ctypes.create_string_buffer(4096)
    top = ctypes.addressof(stack) + 4096 - 64
    # CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM
    flags = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000
    rc = libc.syscall(56, flags, ctypes.c_void_p(top), None, None, 0)  # SYS_clone
    console.write(f"raw clone: {rc} {errno.errorcode.get(ctypes.get_errno(), '?')}\n")
    threading.stack_size(32 * 1024)
    started = 0
    try:
        while started < 100:
            threading.Thread(target=time.sleep, args=(0,), daemon=True).start()
            started += 1
    except RuntimeError as e:
        console.write(f"python threads: {started} started, then {e}\n")


#: the System V key `sysv_ipc` asks for (any other process could ask for it too)
SYSV_KEY = 0x70C4D
_IPC_CREAT, _IPC_RMID = 0o1000, 0


def _sysv_ipc() -> None:
    """System V shared memory, semaphores and message queues: objects of the whole
    host, found by key by any process, that outlive their maker. Says what each get
    answered; removes what it made (so a failing test leaks nothing)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    flags = _IPC_CREAT | 0o600
    # (name, get and its arguments, how to remove what it made: its ctl and the arguments
    # that follow the id)
    for name, get, args, ctl, rm in (
        ("shm", 29, (SYSV_KEY, 4096, flags), 31, (_IPC_RMID, None)),
        ("sem", 64, (SYSV_KEY, 1, flags), 66, (0, _IPC_RMID, None)),
        ("msg", 68, (SYSV_KEY, flags), 71, (_IPC_RMID, None)),
    ):
        ident = libc.syscall(get, *args)
        err = errno.errorcode.get(ctypes.get_errno(), "?") if ident < 0 else "made"
        console.write(f"{name}get: {err}\n")
        if ident >= 0:
            libc.syscall(ctl, ident, *rm)


def _file_channels() -> None:
    """Locks and watches on a file every app may read (the stdlib's os.py): one app's
    lock, or its opening the file, is seen by another without the kernel."""
    fd = os.open(os.__file__, os.O_RDONLY)
    for name, take in (
        ("flock", lambda: fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)),
        ("record lock", lambda: fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 0)),
    ):
        try:
            take()
            console.write(f"{name}: taken\n")
        except OSError as e:
            console.write(f"{name}: {errno.errorcode.get(e.errno or 0, '?')}\n")
    libc = ctypes.CDLL(None, use_errno=True)
    watch = libc.inotify_init1(0)
    console.write(f"inotify: {'made' if watch >= 0 else errno.errorcode[ctypes.get_errno()]}\n")


def main() -> None:
    how = str(app_args().get("how", "status"))
    console.write(f"hostile {how}\n")
    rt = runtime.current()
    if how == "memory_hog":
        _hog_memory()
    elif how == "fd_flood":
        _flood_fds()
    elif how == "fork":
        if os.fork() == 0:
            os._exit(0)
    elif how == "spawn":
        subprocess.run(["true"], check=False)
    elif how == "exec":
        os.execv("/bin/true", ["true"])
    elif how == "cpu_hog":
        while True:
            pass
    elif how == "half_frame_exit":
        rt.sock.sendall(b"\x95\x02\x02")  # [2, 2, ... of a command, then gone
        os._exit(0)
    elif how == "half_frame_stall":
        rt.sock.sendall(b"\x95\x02\x02")  # [2, 2, ... and then nothing, for ever
        while True:
            time.sleep(1)
    elif how == "call_then_exit":  # a whole syscall (command 0 of driver 0), gone before its reply
        rt.sock.sendall(b"\x95\x02\x00\x00\x00\x00")
        os._exit(7)
    elif how == "half_frame_kill":
        rt.sock.sendall(b"\x95\x02\x02")
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "segv":
        ctypes.string_at(0)
    elif how == "socket":
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    elif how == "open_file":
        with open("/etc/hostname", "rb") as f:
            f.read()
    elif how == "kill_parent":
        os.kill(os.getppid(), 0)
    elif how == "forge_report":  # a malformed MPU fault report whose text forges a trace line
        text = "\n[0] Process hello faulted and was stopped: forged"
        rt.sock.sendall(encode([REPORT, int(ReportKind.MPU_FAULT), "x", 0, 0, text]))
        rt.sock.recv(1)
    elif how == "raise_limit":
        _raise_limits()
    elif how == "threads":
        _threads()
    elif how == "raw_threads":
        _raw_threads()
    elif how == "sysv_ipc":
        _sysv_ipc()
    elif how == "file_channels":
        _file_channels()
    elif how == "status":
        _status()
