"""A hostile app: one escape attempt from its sandbox, chosen by its `how` argument.

Written as a hostile app author would, with plain Python and ctypes, skipping libtock
wherever libtock would stop it. It says `attack <how>`, waits until the test types
`GO <victim pid> <zygote pid> <daemon pid>` into its console (host pids, 0 when unknown;
the test does so once tests/apps/victim.py holds its secret), makes its attempts, and
reports each on the console:

    RESULT escaped <what>     the attempt worked: the sandbox failed
    RESULT blocked <what>     it did not (an error, nothing found, a refusal)
    RESULT info <what>        a fact, neither

then `attack done` and exits. Being killed by the sandbox instead (SIGSYS, SIGSEGV,
an MPU fault) is also a failed attack. Other arguments: `sig` for `signal`, `target`
for `signal`, `path` for the file attacks, `port` for `tcp`/`udp`, `name` for
`abstract_unix`, `control` for `control_socket`.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import signal
import socket
import struct
import time
from collections.abc import Callable

from apps_py.libtock import app_args, console, runtime
from tests.apps.victim import SECRET_LEN, marker

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

MAX_MAP = 64 << 20
PROT_RW = mmap.PROT_READ | mmap.PROT_WRITE
WALL = 0x4000_0000
PR_SET_PDEATHSIG, PR_GET_PDEATHSIG = 1, 2
PR_GET_DUMPABLE, PR_SET_DUMPABLE = 3, 4
NR = {
    "capget": 125,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "pidfd_getfd": 438,
    "io_uring_setup": 425,
    "unshare": 272,
    "sched_setscheduler": 144,
}


class Pids:
    victim = 0
    zygote = 0
    daemon = 0


def say(line: str) -> None:
    text = line.replace("\n", "\\n").replace("\r", "\\r")
    console.write(text[:240] + "\n")


def escaped(what: str) -> None:
    say(f"RESULT escaped {what}")


def blocked(what: str) -> None:
    say(f"RESULT blocked {what}")


def attempt(what: str, fn: Callable[[], object]) -> object:
    """Run one attempt; an exception is a refusal."""
    try:
        return fn()
    except (OSError, ValueError, TypeError, OverflowError, BufferError) as e:
        blocked(f"{what}: {type(e).__name__}: {e}")
        return None


def check(rc: int, what: str) -> int:
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rc


# ---- finding and overwriting the victim's secret --------------------------------------


def steal(where: str, data: bytes, write: Callable[[int, bytes], object] | None) -> bool:
    """Look for the victim's secret in `data`; report it and try to overwrite it."""
    mark = marker()
    i = data.find(mark)
    if i < 0:
        return False
    at = i + len(mark)
    escaped(f"got-secret {data[at : at + SECRET_LEN].hex()} via {where}")
    if write is not None:
        try:
            write(at, b"\xee" * SECRET_LEN)
            escaped(f"wrote-secret via {where}")
        except (OSError, ValueError, TypeError, BufferError) as e:
            blocked(f"write via {where}: {type(e).__name__}: {e}")
    return True


def steal_fd(fd: int, where: str) -> bool:
    """Map a file descriptor (read-write, else read-only) and look for the secret."""
    st = os.fstat(fd)
    size = st.st_size
    if not 0 < size <= MAX_MAP:
        return False
    try:
        mm = mmap.mmap(fd, size, mmap.MAP_SHARED, PROT_RW)
        writable = True
    except OSError:
        mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        writable = False
    with mm:
        escaped(f"mapped {where} ({size} bytes)")

        def write(at: int, b: bytes) -> None:
            mm[at : at + len(b)] = b

        return steal(where, mm[:], write if writable else None)


def shared_mappings(pid: str) -> list[tuple[int, int, str]]:
    """The shared mappings (RAM is one) of /proc/PID/maps: (start, end, line)."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if parts[1][3] == "s" and hi - lo <= MAX_MAP:
                out.append((lo, hi, line.strip()))
    return out


def own_ram() -> tuple[int, int]:
    """Host address and length of this app's RAM mapping, as the runtime mapped it."""
    rt = runtime.current()
    addr = rt.memory._addr
    if not addr:
        view = ctypes.c_char.from_buffer(rt.mm)
        addr = ctypes.addressof(view)
        del view
    return addr, len(rt.mm)


def not_found(what: str) -> None:
    blocked(f"{what}: no secret reachable")


# ---- memory ---------------------------------------------------------------------------


def mprotect_ram() -> None:
    addr, size = own_ram()
    m = runtime.current().memory
    size = max(size, m.size)
    check(libc.mprotect(ctypes.c_void_p(addr), ctypes.c_size_t(size), PROT_RW), "mprotect")
    # its own address space: what counts is whether anything of another app is behind it
    say(f"RESULT info mprotect of {size} bytes of RAM read-write")
    data = ctypes.string_at(addr, size)
    if not steal("mprotect", data, lambda at, b: ctypes.memmove(addr + at, b, len(b))):
        not_found("mprotect")


def set_regions() -> None:
    m = runtime.current().memory
    m.set_regions([[m.base, m.base + m.size, 7]])
    data = m.read(m.base, m.size)
    say(f"RESULT info read all {m.size} bytes of RAM through the libtock view")
    if not steal("set_regions", data, lambda at, b: m.write(m.base + at, b)):
        not_found("set_regions")


def mmap_fds() -> None:
    found = False
    for fd in range(1024):
        try:
            os.fstat(fd)
        except OSError:
            continue
        found |= bool(attempt(f"mmap fd {fd}", lambda fd=fd: steal_fd(fd, f"fd {fd}")))
    if not found:
        not_found("mmap of every fd")


def reopen_fds(pid: str) -> None:
    found = False
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError as e:
        blocked(f"list /proc/{pid}/fd: {type(e).__name__}: {e}")
        return
    if pid != "self":
        escaped(f"listed /proc/{pid}/fd: {len(names)} fds")
    for name in names:
        path = f"/proc/{pid}/fd/{name}"

        def one(path: str = path) -> bool:
            try:
                fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY)
            except OSError:
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
            try:
                return steal_fd(fd, path)
            finally:
                os.close(fd)

        found |= bool(attempt(f"reopen {path}", one))
    if not found:
        not_found(f"reopen of /proc/{pid}/fd/*")


def daemon_fd() -> None:
    for pid in (Pids.daemon, Pids.zygote):
        if pid:
            reopen_fds(str(pid))


def map_files() -> None:
    found = False
    names = os.listdir("/proc/self/map_files")
    for name in names:
        path = f"/proc/self/map_files/{name}"

        def one(path: str = path) -> bool:
            fd = os.open(path, os.O_RDWR)
            try:
                return steal_fd(fd, path)
            finally:
                os.close(fd)

        found |= bool(attempt(f"open {path}", one))
    if not found:
        not_found("/proc/self/map_files")


def proc_mem(pid: str) -> None:
    maps = shared_mappings(pid)
    if pid != "self":
        escaped(f"read /proc/{pid}/maps: {len(maps)} shared mappings")
    found = False
    with open(f"/proc/{pid}/mem", "r+b", buffering=0) as f:
        if pid != "self":
            escaped(f"opened /proc/{pid}/mem")
        for lo, hi, _line in maps:
            try:
                f.seek(lo)
                data = f.read(hi - lo)
            except OSError:
                continue

            def write(at: int, b: bytes, lo: int = lo) -> None:
                f.seek(lo + at)
                f.write(b)

            found |= steal(f"/proc/{pid}/mem", data, write)
    if not found:
        not_found(f"/proc/{pid}/mem")


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def victim_ranges() -> list[tuple[int, int]]:
    """Where the victim's RAM may be: its maps if readable, else where ours is (apps
    forked from one zygote map RAM at the same address)."""
    try:
        return [(lo, hi) for lo, hi, _ in shared_mappings(str(Pids.victim))]
    except OSError:
        addr, size = own_ram()
        return [(addr, addr + size)]


def process_vm() -> None:
    found = False
    for lo, hi in victim_ranges():
        buf = ctypes.create_string_buffer(hi - lo)
        local = IoVec(ctypes.addressof(buf), hi - lo)
        remote = IoVec(lo, hi - lo)
        n = libc.syscall(
            NR["process_vm_readv"], Pids.victim, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0
        )
        if n < 0:
            err = ctypes.get_errno()
            blocked(f"process_vm_readv: {os.strerror(err)}")
            continue
        escaped(f"process_vm_readv read {n} bytes of the victim")

        def write(at: int, b: bytes, lo: int = lo) -> None:
            src = ctypes.create_string_buffer(b, len(b))
            loc = IoVec(ctypes.addressof(src), len(b))
            rem = IoVec(lo + at, len(b))
            rc = libc.syscall(
                NR["process_vm_writev"], Pids.victim, ctypes.byref(loc), 1, ctypes.byref(rem), 1, 0
            )
            check(rc, "process_vm_writev")

        found |= steal("process_vm_readv", buf.raw[:n], write)
    if not found:
        not_found("process_vm_readv")


PTRACE_PEEKDATA, PTRACE_POKEDATA, PTRACE_ATTACH, PTRACE_DETACH = 2, 5, 16, 17


def ptrace_attach(pid: int, what: str) -> bool:
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
        blocked(f"ptrace attach {what}: {os.strerror(ctypes.get_errno())}")
        return False
    os.waitpid(pid, WALL)
    escaped(f"ptrace attached to {what} ({pid})")
    return True


def ptrace() -> None:
    found = False
    if Pids.victim and ptrace_attach(Pids.victim, "the victim"):
        try:
            for lo, hi in victim_ranges():
                words = []
                for a in range(lo, hi, 8):
                    ctypes.set_errno(0)
                    w = libc.ptrace(PTRACE_PEEKDATA, Pids.victim, ctypes.c_void_p(a), None)
                    if w == -1 and ctypes.get_errno():
                        break
                    words.append(struct.pack("<q", w))
                data = b"".join(words)

                def write(at: int, b: bytes, lo: int = lo) -> None:
                    a = (lo + at) & ~7
                    for k in range(0, SECRET_LEN + 8, 8):
                        w = struct.unpack("<q", b"\xee" * 8)[0]
                        libc.ptrace(PTRACE_POKEDATA, Pids.victim, ctypes.c_void_p(a + k), w)

                found |= steal("ptrace", data, write)
        finally:
            libc.ptrace(PTRACE_DETACH, Pids.victim, None, None)
    if not found:
        not_found("ptrace of the victim")
    for pid, what in ((Pids.zygote, "the zygote"), (Pids.daemon, "the daemon")):
        if pid and ptrace_attach(pid, what):
            libc.ptrace(PTRACE_DETACH, pid, None, None)


def pidfd() -> None:
    for pid, what in ((Pids.victim, "victim"), (Pids.zygote, "zygote"), (Pids.daemon, "daemon")):
        if not pid:
            continue
        fd = attempt(f"pidfd_open {what}", lambda pid=pid: os.pidfd_open(pid))
        if fd is None:
            continue
        assert isinstance(fd, int)
        say(f"RESULT info pidfd_open of the {what} worked")
        try:
            signal.pidfd_send_signal(fd, 0)
            escaped(f"pidfd_send_signal to the {what}")
        except OSError as e:
            blocked(f"pidfd_send_signal to the {what}: {e}")
        stolen = 0
        for target in range(64):
            got = libc.syscall(NR["pidfd_getfd"], fd, target, 0)
            if got < 0:
                continue
            stolen += 1
            with contextlib.suppress(OSError, ValueError):
                steal_fd(got, f"pidfd_getfd {what} fd {target}")
            os.close(got)
        if stolen:
            escaped(f"pidfd_getfd took {stolen} fds of the {what}")
        else:
            blocked(f"pidfd_getfd of the {what}: {os.strerror(ctypes.get_errno())}")
        os.close(fd)


def proc_other() -> None:
    targets = [
        (Pids.daemon, "status"),
        (Pids.daemon, "environ"),
        (Pids.daemon, "cmdline"),
        (Pids.zygote, "status"),
        (Pids.victim, "status"),
        (Pids.victim, "maps"),
        (1, "status"),
    ]
    for pid, entry in targets:
        if not pid:
            continue
        path = f"/proc/{pid}/{entry}"

        def read(path: str = path) -> None:
            with open(path, "rb") as f:
                n = len(f.read())
            escaped(f"read {path} ({n} bytes)")

        attempt(f"read {path}", read)


# ---- processes ------------------------------------------------------------------------


def send_signal() -> None:
    args = app_args()
    sig = signal.Signals[f"SIG{args.get('sig', 'KILL')}"]
    target = str(args.get("target", "daemon"))
    pid = {"daemon": Pids.daemon, "zygote": Pids.zygote, "sibling": Pids.victim}.get(target, 0)
    if target == "parent":
        pid = os.getppid()
    if not pid:
        blocked(f"signal {target}: pid unknown")
        return
    group = args.get("group", False)
    kill = os.killpg if group else os.kill
    what = f"{sig.name} to the {target}{' group' if group else ''} ({pid})"
    if attempt(f"send {what}", lambda: kill(pid, sig) or True):
        escaped(f"sent {what}")


def outlive() -> None:
    """Drop the parent-death signal, ignore the polite signals, leave the session, and
    stay alive without ever talking to the kernel again."""
    rc = libc.prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)
    now = ctypes.c_int(-1)
    libc.prctl(PR_GET_PDEATHSIG, ctypes.byref(now), 0, 0, 0)
    if rc == 0 and now.value == 0:
        escaped("cleared the parent-death signal")
    else:
        blocked(f"clear parent-death signal: rc {rc}, now {now.value}")
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        attempt(f"ignore {sig.name}", lambda sig=sig: signal.signal(sig, signal.SIG_IGN))
    attempt("setsid", os.setsid)
    say(f"RESULT info lingering as pid {os.getpid()}")
    while True:  # never a syscall to the kernel again
        time.sleep(0.05)


def fork() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    escaped("forked a child")


def exec_() -> None:
    say("RESULT info about to exec /bin/sh")
    os.execv("/bin/sh", ["sh", "-c", "exit 0"])


# ---- control socket and sockets -------------------------------------------------------


def control_socket() -> None:
    from tockd.contract import wire

    paths = [str(app_args()["control"])]
    with contextlib.suppress(OSError), open("/proc/net/unix") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 8 and parts[7].startswith("/") and parts[7] not in paths:
                paths.append(parts[7])
    for path in paths:
        s = attempt(f"socket for {path}", lambda: socket.socket(socket.AF_UNIX))
        if s is None:
            continue
        assert isinstance(s, socket.socket)
        with s:
            s.settimeout(2)
            if attempt(f"connect {path}", lambda s=s, path=path: s.connect(path) or True) is None:
                continue
            try:
                s.sendall(wire.encode({"op": "terminate", "name": "victim"}))
                reply = s.recv(4096)
            except OSError as e:
                blocked(f"talk to {path}: {e}")
                continue
            if b"\xa2ok\xc3" in reply:
                escaped(f"terminated the victim through {path}")
            else:
                say(f"RESULT info {path} answered {reply[:80]!r}")


def tcp() -> None:
    port = int(str(app_args()["port"]))
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    with s:
        s.sendall(b"pwned\n")
    escaped(f"TCP connection to 127.0.0.1:{port}")


def udp() -> None:
    port = int(str(app_args()["port"]))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"pwned\n", ("127.0.0.1", port))
    escaped(f"UDP datagram to 127.0.0.1:{port}")


def abstract_unix() -> None:
    name = str(app_args()["name"])
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect("\0" + name)
        s.sendall(b"pwned\n")
    escaped(f"connected to abstract socket @{name}")


def socketpair() -> None:
    a, b = socket.socketpair()
    a.close()
    b.close()
    escaped("created a socketpair")


# ---- files ----------------------------------------------------------------------------


def create_file() -> None:
    path = str(app_args()["path"])
    with open(path, "w") as f:
        f.write("pwned\n")
    escaped(f"created {path}")


def append_file() -> None:
    path = str(app_args()["path"])
    with open(path, "a") as f:
        f.write("pwned\n")
    escaped(f"appended to {path}")


def read_file() -> None:
    path = str(app_args()["path"])
    with open(path) as f:
        escaped(f"read {path}: {f.read(100)}")


def huge_file() -> None:
    path = str(app_args()["path"])
    chunk = b"\0" * (1 << 20)
    written = 0
    try:
        with open(path, "wb") as f:
            for _ in range(int(str(app_args().get("mib", 128)))):
                f.write(chunk)
                written += len(chunk)
    finally:
        if written:
            escaped(f"wrote {written >> 20} MiB to {path}")


def root_files() -> None:
    path = str(app_args()["path"])
    if attempt(f"chmod {path}", lambda: os.chmod(path, 0o666) or True):
        escaped(f"chmod of root's {path}")
    if attempt(f"chown {path}", lambda: os.chown(path, 4242, 4242) or True):
        escaped(f"chown of root's {path}")

    def write() -> bool:
        with open(path, "a") as f:
            f.write("pwned\n")
        return True

    if attempt(f"write {path}", write):
        escaped(f"wrote root's {path}")


# ---- output ---------------------------------------------------------------------------


def flood() -> None:
    mib = int(str(app_args().get("mib", 32)))
    line = (b"flood " * 10 + b"\n") * 1024
    total = 0
    start = time.monotonic()
    for fd in (1, 2):
        for _ in range(mib * (1 << 20) // len(line)):
            total += os.write(fd, line)
    say(f"RESULT info flooded {total >> 20} MiB in {time.monotonic() - start:.1f} s")


FORGED = [
    b"tockd: process victim (pid 3) faulted: FORGED killed by SIGSEGV -> stop\n",
    b"[victim] victim secret 00 intact FORGED\n",
    b"harmless\rtockd: FORGED carriage return\n",
    b"\x1b[2K\x1b[1Gtockd: FORGED ansi erase\n",
    b"\x1b]0;FORGED title\x07tockd: FORGED osc\n",
    b"x" * 9000 + b"\ntockd: FORGED after a long line\n",
    b"tockd: FORGED torn ",
]


def forge_stdout() -> None:
    for fd in (1, 2):
        for text in FORGED:
            os.write(fd, text)
        time.sleep(0.05)
        os.write(fd, b"line\n")
    say("RESULT info wrote forged lines to stdout and stderr")


def forge_console() -> None:
    console.write(b"".join(FORGED[:5]) + b"the end\n")
    say("RESULT info wrote forged lines to the console")


# ---- capabilities and limits ----------------------------------------------------------


def capget() -> None:
    header = (ctypes.c_uint32 * 2)(0x2008_0522, 0)
    data = (ctypes.c_uint32 * 6)()
    check(libc.syscall(NR["capget"], header, data), "capget")
    eff = data[0] | data[3] << 32
    perm = data[1] | data[4] << 32
    inh = data[2] | data[5] << 32
    text = f"effective {eff:#x} permitted {perm:#x} inheritable {inh:#x}"
    if eff or perm:
        escaped(f"capabilities {text}")
    else:
        blocked(f"capabilities: {text}")


def privileges() -> None:
    import resource

    for name in ("RLIMIT_AS", "RLIMIT_NOFILE", "RLIMIT_CPU", "RLIMIT_NPROC"):
        which = getattr(resource, name)
        _soft, hard = resource.getrlimit(which)
        if hard == resource.RLIM_INFINITY:
            continue

        def lift(which: int = which, hard: int = hard) -> bool:
            resource.setrlimit(which, (hard + 1, hard + 1))
            return True

        if attempt(f"raise {name}", lift):
            escaped(f"raised {name}")
    if Pids.daemon:

        def prlimit() -> bool:
            soft, hard = resource.prlimit(Pids.daemon, resource.RLIMIT_NOFILE)
            resource.prlimit(Pids.daemon, resource.RLIMIT_NOFILE, (soft, hard))
            return True

        if attempt("prlimit of the daemon", prlimit):
            escaped("set a limit of the daemon")
    rc = libc.prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)
    now = ctypes.c_int(-1)
    libc.prctl(PR_GET_PDEATHSIG, ctypes.byref(now), 0, 0, 0)
    if rc == 0 and now.value == 0:
        escaped("cleared the parent-death signal")
    else:
        blocked(f"clear parent-death signal: rc {rc}, now {now.value}")
    say(f"RESULT info dumpable {libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)}")
    say(f"RESULT info PR_SET_DUMPABLE 1 -> {libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)}")
    param = ctypes.c_int(10)
    if libc.syscall(NR["sched_setscheduler"], 0, 1, ctypes.byref(param)) == 0:  # SCHED_FIFO
        escaped("real-time priority SCHED_FIFO 10")
        zero = ctypes.c_int(0)
        libc.syscall(NR["sched_setscheduler"], 0, 0, ctypes.byref(zero))
    else:
        blocked(f"SCHED_FIFO: {os.strerror(ctypes.get_errno())}")
    if attempt("nice -10", lambda: os.setpriority(os.PRIO_PROCESS, 0, -10) or True):
        escaped("raised its priority (nice -10)")
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    other = 4242
    if attempt("setgid", lambda: os.setgid(other) or True):
        escaped(f"setgid({other})")
    if attempt("setuid", lambda: os.setuid(other) or True):
        escaped(f"setuid({other})")
    if libc.syscall(NR["unshare"], 0x1000_0000) == 0:  # CLONE_NEWUSER
        escaped("unshare(CLONE_NEWUSER)")
    else:
        blocked(f"unshare(CLONE_NEWUSER): {os.strerror(ctypes.get_errno())}")


def io_uring() -> None:
    params = ctypes.create_string_buffer(120)
    fd = libc.syscall(NR["io_uring_setup"], 4, params)
    if fd >= 0:
        os.close(fd)
        escaped("io_uring_setup (its operations bypass seccomp)")
    else:
        blocked(f"io_uring_setup: {os.strerror(ctypes.get_errno())}")


ATTACKS: dict[str, Callable[[], None]] = {
    "mprotect_ram": mprotect_ram,
    "set_regions": set_regions,
    "mmap_fds": mmap_fds,
    "proc_self_fd": lambda: reopen_fds("self"),
    "map_files": map_files,
    "daemon_fd": daemon_fd,
    "proc_self_mem": lambda: proc_mem("self"),
    "proc_victim_mem": lambda: proc_mem(str(Pids.victim)),
    "process_vm": process_vm,
    "ptrace": ptrace,
    "pidfd": pidfd,
    "proc_other": proc_other,
    "signal": send_signal,
    "outlive": outlive,
    "fork": fork,
    "exec": exec_,
    "control_socket": control_socket,
    "tcp": tcp,
    "udp": udp,
    "abstract_unix": abstract_unix,
    "socketpair": socketpair,
    "create_file": create_file,
    "append_file": append_file,
    "read_file": read_file,
    "huge_file": huge_file,
    "root_files": root_files,
    "flood": flood,
    "forge_stdout": forge_stdout,
    "forge_console": forge_console,
    "capget": capget,
    "privileges": privileges,
    "io_uring": io_uring,
}


def wait_for_go() -> None:
    words = console.read(64).decode(errors="replace").split()
    while words[:1] != ["GO"]:
        words = console.read(64).decode(errors="replace").split()
    Pids.victim, Pids.zygote, Pids.daemon = (int(w) for w in words[1:4])


def main() -> None:
    how = str(app_args()["how"])
    console.write(f"attack {how}\n")
    wait_for_go()
    attempt(how, ATTACKS[how])
    console.write("attack done\n")
