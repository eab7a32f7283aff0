"""The app sandbox (apps_py/libtock/sandbox.py) without a board: the seccomp programs run
through a classic-BPF interpreter against the rules they must implement, the board's
[sandbox] tables, fault texts, and the filters loaded for real in a child process."""

from __future__ import annotations

import errno
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps_py.libtock import bpf, landlock_rules, privileges, sandbox, seccomp, seccomp_rules
from tests.harness import app, board_toml
from tockd.board import BoardError, parse_board
from tockd.daemon import describe_exit

ROOT = Path(__file__).resolve().parent.parent
X86 = seccomp.MACHINES["x86_64"]
NR = X86.syscalls
KILL = bpf.RET_KILL_PROCESS
ALLOW = bpf.RET_ALLOW
SOCK, PID, MEM = 7, 4242, 9


def errno_ret(code: int) -> int:
    return bpf.RET_ERRNO | code


def run_bpf(program: bytes, nr: int, args: tuple[int, ...], arch: int = X86.audit_arch) -> int:
    """Interpret a classic-BPF seccomp program over one struct seccomp_data."""
    data = struct.pack("<IIQ6Q", nr, arch, 0, *args)
    insns = [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == 0x15:  # jeq
            pc += jt if acc == k else jf
        elif code == 0x35:  # jge
            pc += jt if acc >= k else jf
        elif code == 0x45:  # jset
            pc += jt if acc & k else jf
        elif code == 0x06:  # ret
            return int(k)
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def lo(value: int) -> int:
    return value & 0xFFFF_FFFF


DENIED = {
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "process_madvise", "migrate_pages", "move_pages", "socket",
    "socketpair", "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop",
    "semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedreceive", "mq_notify", "mq_getsetattr", "flock", "inotify_init", "inotify_init1",
    "inotify_add_watch", "inotify_rm_watch", "sysinfo", "setsid", "setpgid", "setuid", "setgid",
    "setreuid", "setregid",
    "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups", "capset", "unshare",
    "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "bpf", "perf_event_open",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl",
    "add_key", "request_key", "init_module", "finit_module", "delete_module", "kexec_load",
    "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "syslog", "iopl", "ioperm",
    "modify_ldt", "uselib", "quotactl", "quotactl_fd", "open_by_handle_at",
    "name_to_handle_at", "fanotify_init", "sched_setaffinity", "setpriority",
    "sched_setparam", "sched_setscheduler", "sched_setattr", "ioprio_set", "truncate",
    "ftruncate", "fallocate",
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "utime", "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr", "rename", "renameat", "renameat2",
    "link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat", "mkdir", "mkdirat",
    "rmdir", "mknod", "mknodat",
}  # fmt: skip
#: calls about a pid, given as their first argument: only their own (or 0)
PID_FIRST = {
    "getsid", "getpgid", "sched_getscheduler", "sched_getparam", "sched_rr_get_interval",
    "sched_getaffinity", "sched_getattr", "get_robust_list",
}  # fmt: skip
PRCTL_OK = {2, 3, 15, 16, 21, 23, 30, 38, 39, 42, 0x53564D41}


def base_spec(
    nr: int, args: tuple[int, ...], *, fork: bool, threads: bool = False, pid: int = PID
) -> int:
    """What the base filter must answer, written from the module's documentation."""
    if nr >= X86.abi_limit:
        return KILL
    names = {v: k for k, v in NR.items()}
    name = names.get(nr)
    eperm = errno_ret(errno.EPERM)
    a0, a1, a2 = lo(args[0]), lo(args[1]), lo(args[2])
    if name == "prlimit64":
        return ALLOW if args[2] == 0 and a0 in (0, pid) else eperm
    if name == "setrlimit" or name in DENIED:
        return eperm
    if name == "kill":
        return ALLOW if a0 in (pid, 0, -pid & 0xFFFF_FFFF) else eperm
    if name in ("tgkill", "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        return ALLOW if a0 in (pid, 0) else eperm
    if name == "prctl":
        return ALLOW if a0 in PRCTL_OK else eperm
    if name in PID_FIRST:
        return ALLOW if a0 in (0, pid) else eperm
    if name in ("getpriority", "ioprio_get"):
        return ALLOW if a1 in (0, pid) else eperm
    if name in (
        "clock_gettime",
        "clock_getres",
        "clock_nanosleep",
        "timer_create",
        "clock_settime",
    ):
        return eperm if a0 & 0x8000_0000 else ALLOW
    if name == "capget":
        return eperm
    if name == "fcntl":
        return eperm if a1 in (5, 6, 7, 8, 10, 15, 36, 37, 38, 1024, 1026, 1033) else ALLOW
    if name == "madvise":
        return eperm if a2 == 9 else ALLOW
    if name == "ioctl":
        return eperm if a1 in (0x5412, 0x541C) else ALLOW
    if name == "clone" and args[0] & 0x10000:  # a thread
        return ALLOW if threads else errno_ret(errno.EAGAIN)
    if name == "clone3" and not (fork and threads):
        return errno_ret(errno.ENOSYS)
    if not fork and name in ("fork", "vfork", "execve", "execveat", "clone"):
        return KILL
    return ALLOW


ALWAYS = {
    "futex", "munmap", "mremap", "mprotect", "madvise", "brk", "close", "fstat", "lseek",
    "poll", "ppoll", "exit", "exit_group", "rt_sigreturn", "rt_sigaction", "rt_sigprocmask",
    "sigaltstack", "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid",
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "getrandom", "sched_yield", "sched_getaffinity", "getrusage", "times", "uname", "getcwd",
    "getrlimit",
}  # fmt: skip
FILES = {
    "open", "openat", "openat2", "creat", "stat", "lstat", "access", "faccessat",
    "faccessat2", "readlink", "readlinkat", "statx",
}  # fmt: skip


def strict_spec(nr: int, args: tuple[int, ...]) -> int:
    """What the strict filter must answer."""
    names = {v: k for k, v in NR.items()}
    name = names.get(nr) if nr < X86.abi_limit else None
    if name in ALWAYS:
        return ALLOW
    if name in FILES:
        return errno_ret(errno.EACCES)
    fd = lo(args[0])
    checks = {
        "read": fd == SOCK,
        "recvfrom": fd == SOCK,
        "recvmsg": fd in (SOCK, MEM),
        "readv": fd == SOCK,
        "write": fd in (SOCK, 1, 2),
        "sendto": fd in (SOCK, 1, 2),
        "sendmsg": fd in (SOCK, 1, 2),
        "writev": fd in (SOCK, 1, 2),
        "mmap": True,  # only its own pages can be behind an fd
        "kill": fd == PID,
        "tgkill": fd == PID,
        "fcntl": lo(args[1]) in (1, 2, 3, 4),
    }
    if name in checks:
        return ALLOW if checks[name] else KILL
    if name == "newfstatat":
        return ALLOW if args[3] & 0x1000 else errno_ret(errno.EACCES)
    if name == "prlimit64":
        return ALLOW if args[2] == 0 and lo(args[0]) in (0, PID) else errno_ret(errno.EPERM)
    if name == "ioctl":
        return errno_ret(errno.ENOTTY)
    if name == "setrlimit":
        return errno_ret(errno.EPERM)
    return KILL


syscall_nr = st.one_of(st.sampled_from(sorted(NR.values())), st.integers(0, 0xFFFF_FFFF))
register = st.one_of(
    st.sampled_from([0, 1, 2, SOCK, MEM, PID, 0x20, 0x1000, 0x10000, 0xFFFF_FFFF, 1 << 32]),
    st.integers(0, 2**64 - 1),
)
registers = st.tuples(*[register] * 6)


@settings(max_examples=500)
def _strongest(*results: int) -> int:
    """What the kernel answers when several filters are stacked: the action with the
    highest precedence (the lowest signed action value: KILL_PROCESS first, ALLOW last)."""

    def precedence(ret: int) -> int:
        action = ret & 0xFFFF_0000
        return action - (1 << 32) if action & 0x8000_0000 else action

    return min(results, key=precedence)


@given(nr=syscall_nr, args=st.tuples(*[register] * 6), fork=st.booleans(), threads=st.booleans())
def test_the_zygotes_host_layer_and_the_apps_layer_answer_as_the_whole_filter(
    nr: int, args: tuple[int, ...], fork: bool, threads: bool
) -> None:
    """A forked app runs under the zygote's host layer plus its own app layer; stacked,
    they must answer every call exactly as the one-program base filter does."""
    host = bpf.assemble(X86, seccomp_rules.host_rules(), ALLOW)
    app = bpf.assemble(X86, seccomp_rules.app_rules(fork=fork, threads=threads, pid=PID), ALLOW)
    whole = bpf.assemble(X86, seccomp_rules.base_rules(fork=fork, threads=threads, pid=PID), ALLOW)
    assert _strongest(run_bpf(host, nr, args), run_bpf(app, nr, args)) == run_bpf(whole, nr, args)


@given(nr=syscall_nr, args=registers, fork=st.booleans(), threads=st.booleans())
def test_base_filter_matches_its_rules(
    nr: int, args: tuple[int, ...], fork: bool, threads: bool
) -> None:
    program = seccomp.base_program(fork, PID, threads)
    assert program is not None
    rules = seccomp_rules.base_rules(fork=fork, threads=threads, pid=PID)
    assert program == bpf.assemble(X86, rules, ALLOW)
    assert run_bpf(program, nr, args) == base_spec(nr, args, fork=fork, threads=threads)


@given(pid=st.integers(2, 1 << 22), sig=st.sampled_from([0, 1, 9]))
def test_the_patched_pid_is_the_only_one_that_may_be_signalled(pid: int, sig: int) -> None:
    program = seccomp.base_program(False, pid)
    assert program is not None
    for target, ok in ((pid, True), (0, True), (-pid, True), (pid + 1, False), (-1, False)):
        want = ALLOW if ok else errno_ret(errno.EPERM)
        assert run_bpf(program, NR["kill"], (target & (2**64 - 1), sig, 0, 0, 0, 0)) == want
    tgkill = run_bpf(program, NR["tgkill"], (pid + 1, pid + 1, sig, 0, 0, 0))
    assert tgkill == errno_ret(errno.EPERM)


@settings(max_examples=500)
@given(nr=syscall_nr, args=registers)
def test_strict_filter_matches_its_rules(nr: int, args: tuple[int, ...]) -> None:
    program = bpf.assemble(X86, seccomp_rules.strict_rules(SOCK, PID, MEM), KILL)
    assert run_bpf(program, nr, args) == strict_spec(nr, args)


def test_both_filters_kill_a_foreign_architecture() -> None:
    for program in (
        bpf.assemble(X86, seccomp_rules.base_rules(fork=True), ALLOW),
        bpf.assemble(X86, seccomp_rules.strict_rules(SOCK, PID, MEM), KILL),
    ):
        assert run_bpf(program, NR["getpid"], (0,) * 6, arch=0x4000_0003) == KILL  # i386
        assert run_bpf(program, NR["getpid"] | 0x4000_0000, (0,) * 6) == KILL  # x32


def _child(code: str) -> subprocess.CompletedProcess[str]:
    prelude = "from apps_py.libtock import sandbox\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.skipif(seccomp.machine() is None, reason="no seccomp table for this machine")
def test_loaded_filters_kill_fork_and_refuse_threads_unless_allowed() -> None:
    start = (
        "import ctypes, threading\n"
        "sandbox.apply_limits({'threads': %s}, 0)\n"
        "try:\n"
        "    t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n"
        "except RuntimeError as e:\n"
        "    print(e, '|', sandbox.explain(e))\n"
        "print(ctypes.CDLL(None).prctl(21, 0, 0, 0, 0))\n"
    )
    threads = _child(start % "True")
    assert threads.returncode == 0, threads.stderr
    assert threads.stdout == "thread\n2\n"  # PR_GET_SECCOMP: filter mode
    refused = _child(start % "False")
    assert refused.returncode == 0, refused.stderr
    assert refused.stdout == (
        "can't start new thread | threads = false: a Tock process has one thread\n2\n"
    )
    fork = _child("import os\nsandbox.apply_limits({}, 0)\nos.fork()\nprint('forked')\n")
    assert fork.returncode == -signal.SIGSYS
    assert fork.stdout == ""
    strict = _child(
        "import socket\n"
        "sandbox.apply_limits({'seccomp': True}, 0)\n"
        "sandbox.install_strict_filter(99)\n"
        "print('still here', flush=True)\n"
        "socket.socket()\n"
    )
    assert strict.returncode == -signal.SIGSYS
    assert strict.stdout == "still here\n"


def test_seccomp_on_an_unknown_machine_is_refused_before_anything_is_applied() -> None:
    r = _child(
        "import platform, resource\n"
        "platform.machine = lambda: 'pdp11'\n"
        "try:\n"
        "    sandbox.apply_limits({'seccomp': True}, 0)\n"
        "except sandbox.SandboxError as e:\n"
        "    print(e)\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0] != 64)\n"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "[sandbox] seccomp = true needs a syscall table for this machine; tockd has "
        "x86_64, not 'pdp11'\nTrue\n"
    )


def test_board_defaults_and_per_app_overrides() -> None:
    cfg = parse_board(board_toml([app("apps_py.hello", name="a")]))
    assert cfg.sandbox_for(0) == sandbox.DEFAULTS
    text = board_toml(
        [
            app("apps_py.hello", name="a"),
            app("apps_py.hello", name="b", sandbox={"open_files": 16}),
        ],
        sandbox={"cpu_seconds": 5, "seccomp": True},
    )
    cfg = parse_board(text)
    assert cfg.sandbox_for(0) == {**sandbox.DEFAULTS, "cpu_seconds": 5, "seccomp": True}
    assert cfg.sandbox_for(1) == {
        **sandbox.DEFAULTS,
        "cpu_seconds": 5,
        "seccomp": True,
        "open_files": 16,
    }


@pytest.mark.parametrize(
    ("board", "per_app", "message"),
    [
        ({"cpus": 1}, None, "sandbox.cpus: unknown setting (known: address_space_mb,"),
        ({"cpu_seconds": "10"}, None, "sandbox.cpu_seconds must be a non-negative integer"),
        ({"cpu_seconds": -1}, None, "sandbox.cpu_seconds must be a non-negative integer"),
        ({"open_files": True}, None, "sandbox.open_files must be a non-negative integer"),
        ({"seccomp": 1}, None, "sandbox.seccomp must be true or false, got 1"),
        ({"address_space_mb": 8}, None, "sandbox.address_space_mb = 8 is too small"),
        ({"open_files": 3}, None, "sandbox.open_files = 3 is too small"),
        ({}, {"fork": "yes"}, "apps[0].sandbox.fork must be true or false, got 'yes'"),
        ({}, 5, "apps[0].sandbox must be a table"),
    ],
)
def test_bad_sandbox_tables_get_clear_errors(board: dict, per_app: object, message: str) -> None:
    spec = app("apps_py.hello")
    if per_app is not None:
        spec["sandbox"] = per_app
    with pytest.raises(BoardError) as err:
        parse_board(board_toml([spec], sandbox=board))
    assert str(err.value).startswith(message), str(err.value)


def test_seccomp_on_a_machine_without_a_table_is_a_board_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(seccomp, "machine", lambda: None)
    with pytest.raises(BoardError, match=r"^sandbox.seccomp: tockd has no seccomp syscall table"):
        parse_board(board_toml([app("apps_py.hello")], sandbox={"seccomp": True}))


def test_fault_texts_name_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_active", {**sandbox.DEFAULTS, "seccomp_installed": True})
    assert sandbox.fault_text(MemoryError()).endswith(
        "MemoryError [sandbox: address space limit 256 MiB beyond RAM (RLIMIT_AS)]"
    )
    emfile = OSError(errno.EMFILE, "Too many open files")
    assert sandbox.fault_text(emfile).endswith("[sandbox: open files limit 64 (RLIMIT_NOFILE)]")
    denied = PermissionError(errno.EACCES, "Permission denied")
    assert sandbox.fault_text(denied).endswith(
        "[sandbox: the seccomp filter denies access to files]"
    )
    assert sandbox.fault_text(ValueError("x")).endswith("ValueError: x")


def test_exit_signals_are_named() -> None:
    assert describe_exit(-signal.SIGSYS) == (
        "killed by SIGSYS (seccomp: a system call the app's sandbox forbids)"
    )
    assert describe_exit(-signal.SIGXCPU) == (
        "killed by SIGXCPU (CPU time limit of its sandbox, RLIMIT_CPU)"
    )
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV (MPU fault, hardware backstop)"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"


# ---- escapes, tried for real by a forked child after apply_limits -----------------------

NOBODY = 65534
APP_MODULE = "apps_py.blink"  # an app module this test process has not imported
UNLIMITED = {"address_space_mb": 0}


def _errno_name(e: OSError) -> str:
    return errno.errorcode.get(e.errno or 0, str(e.errno))


def _libc_call(name: str, *args: int) -> str:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    rc = getattr(libc, name)(*[ctypes.c_long(a) for a in args])
    return "ok" if rc >= 0 else errno.errorcode[ctypes.get_errno()]


def _escape(how: str, tmp: str) -> str:
    """One escape attempt from inside the sandbox: "ok" if it worked, else the errno."""
    import ctypes
    import importlib
    import socket

    parent = os.getppid()
    if how == "write_file":
        with open(os.path.join(tmp, "escaped"), "w") as f:
            f.write("x")
    elif how == "read_passwd":
        with open("/etc/passwd") as f:
            f.read()
    elif how == "proc_self_status":
        with open("/proc/self/status") as f:
            f.read()
    elif how == "proc_self_fd":
        os.listdir("/proc/self/fd")
    elif how == "parent_mem":
        os.close(os.open(f"/proc/{parent}/mem", os.O_RDONLY))
    elif how == "kill_parent":
        os.kill(parent, 0)
    elif how == "kill_self":
        os.kill(os.getpid(), 0)
    elif how == "tgkill_parent":
        return _libc_call("syscall", NR["tgkill"], parent, parent, 0)
    elif how == "ptrace_parent":
        return _libc_call("ptrace", 16, parent, 0, 0)  # PTRACE_ATTACH
    elif how == "process_vm_readv":
        local = ctypes.create_string_buffer(8)
        iov = struct.pack("@PN", ctypes.addressof(local), 8)
        liov = ctypes.create_string_buffer(iov)
        riov = ctypes.create_string_buffer(struct.pack("@PN", id(None), 8))
        return _libc_call(
            "syscall", NR["process_vm_readv"], parent, ctypes.addressof(liov), 1,
            ctypes.addressof(riov), 1, 0,
        )  # fmt: skip
    elif how == "socket_inet":
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    elif how == "socket_unix":
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
    elif how == "clear_pdeathsig":
        return _libc_call("prctl", 1, 0, 0, 0, 0)
    elif how == "set_dumpable":
        return _libc_call("prctl", 4, 1, 0, 0, 0)
    elif how == "setsid":
        os.setsid()
    elif how == "capabilities":  # capget is refused (its pid no filter can read)
        try:
            privileges.capabilities()
            return "capget allowed"
        except sandbox.SandboxError as e:  # (tests/test_hostile.py reads them from outside)
            return str(e)
    elif how == "getsid_parent":
        os.getsid(os.getppid())
    elif how == "affinity_parent":
        os.sched_getaffinity(os.getppid())
    elif how == "priority_parent":
        os.getpriority(os.PRIO_PROCESS, os.getppid())
    elif how == "sysinfo":
        return _libc_call("sysinfo", 0)
    elif how == "cpu_clock_parent":  # the parent's CPU-time clock: ~pid << 3 | CPUCLOCK_SCHED
        time.clock_gettime(~os.getppid() << 3 | 2)
    elif how == "memfd_write":
        fd = os.memfd_create("grow")
        os.write(fd, b"x")
    elif how == "memfd_truncate":
        os.ftruncate(os.memfd_create("grow"), 1 << 20)
    elif how == "import_app":
        importlib.invalidate_caches()  # list the directories again, as a fresh import would
        importlib.import_module(APP_MODULE)
    elif how == "import_stdlib":
        importlib.invalidate_caches()
        import decimal
        import json

        return f"ok {json.dumps(str(decimal.Decimal(1) / 8))}"
    else:
        raise AssertionError(how)
    return "ok"


def _sandboxed(
    how: str, tmp: str, *, uid: int | None, settings: dict[str, object] | None = None
) -> tuple[str, int]:
    """Fork, (become `uid`,) apply the sandbox, try `how`: its result and wait status."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no output but the pipe, always os._exit
        code = 0
        try:
            os.close(r)
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            # no RLIMIT_AS: the test process may have mapped more than an app may
            sandbox.apply_limits({**UNLIMITED, **(settings or {})}, 0, module=APP_MODULE)
            try:
                result = _escape(how, tmp)
            except OSError as e:
                result = _errno_name(e)
            os.write(w, result.encode())
        except BaseException as e:
            os.write(w, f"error {e!r}".encode())
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    _, status = os.waitpid(pid, 0)
    return out, status


ESCAPES = {
    "write_file": "EACCES",
    "read_passwd": "EACCES",
    "proc_self_status": "EACCES",
    "proc_self_fd": "EACCES",
    "parent_mem": "EACCES",
    "kill_parent": "EPERM",
    "tgkill_parent": "EPERM",
    "ptrace_parent": "EPERM",
    "process_vm_readv": "EPERM",
    "socket_inet": "EPERM",
    "socket_unix": "EPERM",
    "clear_pdeathsig": "EPERM",
    "set_dumpable": "EPERM",
    "setsid": "EPERM",
    "memfd_write": "EFBIG",  # RLIMIT_FSIZE 0 (Python ignores SIGXFSZ, so write fails)
    "memfd_truncate": "EPERM",  # seccomp: ftruncate could shrink a shared memfd
    "capabilities": "capget failed: Operation not permitted",
    "getsid_parent": "EPERM",
    "affinity_parent": "EPERM",
    "priority_parent": "EPERM",
    "cpu_clock_parent": "EPERM",
    "sysinfo": "EPERM",
    "kill_self": "ok",
}
needs_sandbox = pytest.mark.skipif(
    seccomp.machine() is None or sandbox.probe().landlock_abi < 6 or os.geteuid() != 0,
    reason="needs root, a seccomp table and Landlock ABI >= 6",
)


@needs_sandbox
@pytest.mark.parametrize("uid", [None, NOBODY], ids=["root", "nobody"])
@pytest.mark.parametrize(("how", "expected"), list(ESCAPES.items()), ids=list(ESCAPES))
def test_each_escape_fails_inside_the_sandbox(
    how: str, expected: str, uid: int | None, tmp_path: Path
) -> None:
    tmp_path.chmod(0o777)  # so that only the sandbox stops nobody, not the mode
    result, status = _sandboxed(how, str(tmp_path), uid=uid)
    assert (result, os.waitstatus_to_exitcode(status)) == (expected, 0)
    assert list(tmp_path.iterdir()) == []


@needs_sandbox
@pytest.mark.parametrize("how", ["import_app", "import_stdlib"])
def test_imports_still_work_inside_the_sandbox(how: str, tmp_path: Path) -> None:
    # as root only: the interpreter lives under /root (mode 0700), which nobody cannot
    # enter whatever the sandbox allows
    assert APP_MODULE not in sys.modules
    result, status = _sandboxed(how, str(tmp_path), uid=None)
    assert os.waitstatus_to_exitcode(status) == 0
    assert result.startswith("ok"), result
    if how == "import_stdlib":
        assert result == 'ok "0.125"'


@needs_sandbox
def test_the_escapes_work_without_the_sandbox_where_they_should(tmp_path: Path) -> None:
    """The attempts are real: the same code escapes with `landlock = false`, where only
    the filesystem part is lifted (Landlock and the file-size limit; seccomp, the other
    limits and capabilities stay)."""
    relaxed = {"landlock": False}
    assert _sandboxed("read_passwd", str(tmp_path), uid=None, settings=relaxed) == ("ok", 0)
    assert _sandboxed("proc_self_fd", str(tmp_path), uid=None, settings=relaxed) == ("ok", 0)
    assert _sandboxed("write_file", str(tmp_path), uid=None, settings=relaxed) == ("ok", 0)
    assert (tmp_path / "escaped").read_bytes() != b""


@needs_sandbox
def test_status_seen_from_outside() -> None:
    """What /proc (readable by the test, not by the app) says of a sandboxed app."""
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.close(go_w)
        try:
            sandbox.apply_limits(UNLIMITED, 0, module=APP_MODULE)
            os.write(w, b"ready")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    os.close(w)
    os.close(go_r)
    try:
        assert os.read(r, 5) == b"ready"
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    finally:
        os.close(go_w)
        os.close(r)
        os.waitpid(pid, 0)
    assert status["NoNewPrivs"] == "1"
    assert (status["Seccomp"], status["Seccomp_filters"]) == ("2", "1")
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[cap], 16) == 0, (cap, status[cap])


@needs_sandbox
def test_landlock_alone_scopes_signals_between_siblings() -> None:
    """Two apps forked from one parent, each in its own Landlock domain (no seccomp):
    neither can signal the other, nor the parent."""
    from apps_py.libtock import landlock

    def child(body: object) -> int:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                privileges.no_new_privs()
                landlock.restrict(landlock_rules.fs_rules(None))
                code = body()  # type: ignore[operator]
            finally:
                os._exit(code)
        return pid

    go_r, go_w = os.pipe()

    def victim() -> int:
        os.close(go_w)  # EOF when the test closes its end
        os.read(go_r, 1)
        return 0

    def attacker(target: int) -> int:
        results = []
        for pid in (target, os.getppid()):
            try:
                os.kill(pid, 0)
                results.append("ok")
            except PermissionError:
                results.append("EPERM")
        return 0 if results == ["EPERM", "EPERM"] else 1

    victim_pid = child(victim)
    attacker_pid = child(lambda: attacker(victim_pid))
    _, status = os.waitpid(attacker_pid, 0)
    os.close(go_w)
    os.waitpid(victim_pid, 0)
    os.close(go_r)
    assert os.waitstatus_to_exitcode(status) == 0


def test_probe_and_weaknesses() -> None:
    found = sandbox.probe()
    assert found.machine == "x86_64" and found.seccomp_table
    if found.landlock_abi >= 6:
        assert sandbox.weaknesses(found, {}) == []  # isolation: full
    off = sandbox.weaknesses(sandbox.Probe("x86_64", True, 7), {"landlock": False})
    assert len(off) == 3, off
    assert off[0].startswith("landlock = false: the app may read and write every file")
    no_landlock = sandbox.weaknesses(sandbox.Probe("x86_64", True, 0), {})
    assert no_landlock[0].startswith("no Landlock on this kernel: the filesystem is not")
    assert "RLIMIT_FSIZE" in no_landlock[0]
    assert "PR_SET_DUMPABLE" in off[0]
    assert "no TCP bind/connect rules (socket() is still refused by seccomp)" in off[1]
    assert "signals are scoped by the seccomp pid checks only" in off[2]
    abi3 = sandbox.weaknesses(sandbox.Probe("x86_64", True, 3), {})
    assert [w.split(":")[0] for w in abi3] == ["Landlock ABI 3 < 4", "Landlock ABI 3 < 6"]
    nothing = sandbox.weaknesses(sandbox.Probe("pdp11", False, 0), {})
    assert nothing[0].startswith("no seccomp syscall table for pdp11: no syscall filtering")
    assert "nothing else refuses socket()" in nothing[2]
    assert sandbox.relaxations({}) == []
    relaxed = sandbox.relaxations(
        {"fork": True, "threads": True, "landlock": False, "cpu_seconds": 0}
    )
    assert [r.split(":")[0] for r in relaxed] == [
        "fork = true",
        "threads = true",
        "landlock = false",
        "cpu_seconds = 0",
    ]
