"""A hostile app that grabs what it can while its module is imported, and uses it in
main(): the same escapes as tests/apps/attack.py, tried before the app's code would
normally run (`how`):

    mprotect   open all of RAM read-write with mprotect, keep the mapping
    fds        reopen every fd of /proc/self/fd read-write and keep them (the RAM memfd)
    proc_mem   open /proc/self/mem and keep the fd
    daemon_fd  reopen the RAM memfd from the daemon's /proc/<pid>/fd (found through the
               PPid chain) and keep it
    tcp        connect to the test's TCP listener (`port`) and keep the socket
    file       open the test's file (`path`) for appending and keep it

main() says what the import grabbed (`RESULT info import ...`), waits for `GO` like
tests/apps/attack.py and uses each grab, reporting `RESULT escaped` / `RESULT blocked`.
"""

from __future__ import annotations

import ctypes
import os
import socket
from typing import Any

from apps_py.libtock import app_args, console
from tests.apps import attack

GRABBED: dict[str, Any] = {}
NOTES: list[str] = []


def _grab(what: str, fn: Any) -> None:
    try:
        GRABBED[what] = fn()
        NOTES.append(f"import grabbed {what}")
    except Exception as e:
        NOTES.append(f"import could not grab {what}: {type(e).__name__}: {e}")


def _mprotect() -> tuple[int, int]:
    addr, size = attack.own_ram()
    rc = attack.libc.mprotect(ctypes.c_void_p(addr), ctypes.c_size_t(size), attack.PROT_RW)
    attack.check(rc, "mprotect")
    return addr, size


def _open_all(directory: str) -> list[tuple[str, int]]:
    fds = []
    for name in os.listdir(directory):
        path = f"{directory}/{name}"
        try:
            fds.append((path, os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY)))
        except OSError:
            continue
    return fds


def _daemon_fds() -> list[tuple[str, int]]:
    zygote = os.getppid()
    daemon = 0
    with open(f"/proc/{zygote}/status") as f:
        for line in f:
            if line.startswith("PPid:"):
                daemon = int(line.split()[1])
    return _open_all(f"/proc/{daemon}/fd") + _open_all(f"/proc/{zygote}/fd")


def _proc_mem() -> tuple[int, list[tuple[int, int, str]]]:
    return os.open("/proc/self/mem", os.O_RDWR), attack.shared_mappings("self")


def _tcp() -> socket.socket:
    return socket.create_connection(("127.0.0.1", int(str(app_args()["port"]))), timeout=2)


_how = str(app_args()["how"])
_grab(
    _how,
    {
        "mprotect": _mprotect,
        "fds": lambda: _open_all("/proc/self/fd"),
        "proc_mem": _proc_mem,
        "daemon_fd": _daemon_fds,
        "tcp": _tcp,
        "file": lambda: open(str(app_args()["path"]), "a"),  # noqa: SIM115 - kept open
    }[_how],
)


def _use(how: str, grab: Any) -> None:
    if how == "mprotect":
        addr, size = grab
        data = ctypes.string_at(addr, size)
        if not attack.steal(
            "import mprotect", data, lambda at, b: ctypes.memmove(addr + at, b, len(b))
        ):
            attack.not_found("import mprotect")
    elif how in ("fds", "daemon_fd"):
        found = False
        for path, fd in grab:
            found |= bool(attack.attempt(path, lambda fd=fd, path=path: attack.steal_fd(fd, path)))
        if not found:
            attack.not_found(f"import {how}")
    elif how == "proc_mem":
        fd, maps = grab
        found = False
        for lo, hi, _line in maps:
            data = os.pread(fd, hi - lo, lo)
            found |= attack.steal(
                "import /proc/self/mem", data, lambda at, b, lo=lo: os.pwrite(fd, b, lo + at)
            )
        if not found:
            attack.not_found("import proc_mem")
    elif how == "tcp":
        grab.sendall(b"pwned\n")
        grab.close()
        attack.escaped("sent on a TCP connection made at import")
    elif how == "file":
        grab.write("pwned\n")
        grab.close()
        attack.escaped("appended through a file opened at import")


def main() -> None:
    console.write(f"attack_import {_how}\n")
    for note in NOTES:
        attack.say(f"RESULT info {note}")
    attack.wait_for_go()
    if _how in GRABBED:
        attack.attempt(f"use {_how}", lambda: _use(_how, GRABBED[_how]))
    else:
        attack.blocked(f"import-time {_how}: nothing grabbed")
    console.write("attack done\n")
