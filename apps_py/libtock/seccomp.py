"""The seccomp side of the app sandbox: a tiny classic-BPF assembler, this machine's
syscall table, the host and app filter layers and the strict filter, and installing
them. `apps_py/libtock/sandbox.py` decides which to install; docs/isolation.md says what
each filter refuses and why.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from apps_py.libtock import landlock

PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_GET_NAME = 16
PR_GET_SECCOMP = 21
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_GET_TIMERSLACK = 30
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_GET_THP_DISABLE = 42
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_VMA = 0x53564D41
#: the prctl options an app may use (reading its own state, naming itself or a
#: mapping); every other option fails with EPERM
PRCTL_ALLOWED = (
    PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_NAME, PR_GET_NAME, PR_GET_SECCOMP,
    PR_CAPBSET_READ, PR_GET_TIMERSLACK, PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS,
    PR_GET_THP_DISABLE, PR_SET_VMA,
)  # fmt: skip
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
RET_KILL_PROCESS = 0x8000_0000
RET_ERRNO = 0x0005_0000
RET_ALLOW = 0x7FFF_0000

# classic BPF opcodes (linux/filter.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
_NR_OFFSET = 0
_ARCH_OFFSET = 4
_ARGS_OFFSET = 16

_CLONE_THREAD = 0x0001_0000
_AT_EMPTY_PATH = 0x1000
_FCNTL_HARMLESS = (1, 2, 3, 4)  # F_GETFD, F_SETFD, F_GETFL, F_SETFL (no F_DUPFD)
#: F_SETOWN, F_SETSIG, F_SETOWN_EX (SIGIO to another process), F_SETLEASE, F_NOTIFY,
#: F_ADD_SEALS (sealing a shared memfd against the others that map it)
_FCNTL_DENIED = (8, 10, 15, 1024, 1026, 1033)
_MADV_REMOVE = 9  # punches a hole in a shared memfd: other apps' bytes gone
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C  # fake terminal input
#: placeholders for the app's pid in the precompiled base filter (no pid is this large:
#: pid_max <= 2**22); apply_limits patches them with the real pid after fork
PID_PLACEHOLDER = 0x3FFF_FFF1


class SandboxError(Exception):
    """The sandbox cannot be applied as the board asks; the message says why."""


@dataclass(frozen=True)
class Machine:
    """What a seccomp filter must know about one architecture."""

    name: str
    audit_arch: int
    seccomp_nr: int
    syscalls: Mapping[str, int]
    #: syscall numbers at or above this belong to another ABI (x32) and are refused
    abi_limit: int


_X86_64_SYSCALLS = {
    "read": 0, "write": 1, "open": 2, "close": 3, "stat": 4, "fstat": 5, "lstat": 6,
    "poll": 7, "lseek": 8, "mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12,
    "rt_sigaction": 13, "rt_sigprocmask": 14, "rt_sigreturn": 15, "ioctl": 16,
    "readv": 19, "writev": 20, "access": 21, "sched_yield": 24, "mremap": 25,
    "madvise": 28, "nanosleep": 35, "getpid": 39, "socket": 41, "sendto": 44,
    "recvfrom": 45, "sendmsg": 46, "recvmsg": 47, "socketpair": 53, "clone": 56,
    "fork": 57, "vfork": 58, "execve": 59, "exit": 60, "kill": 62, "uname": 63,
    "fcntl": 72, "truncate": 76, "ftruncate": 77, "getcwd": 79, "creat": 85,
    "readlink": 89, "gettimeofday": 96, "getrlimit": 97, "getrusage": 98, "times": 100,
    "ptrace": 101, "getuid": 102, "syslog": 103, "getgid": 104, "setuid": 105,
    "setgid": 106, "geteuid": 107, "getegid": 108, "setpgid": 109, "getppid": 110,
    "setsid": 112, "setreuid": 113, "setregid": 114, "setgroups": 116, "setresuid": 117,
    "setresgid": 119, "setfsuid": 122, "setfsgid": 123, "capget": 125, "capset": 126,
    "rt_sigqueueinfo": 129, "sigaltstack": 131, "uselib": 134, "setpriority": 141,
    "sched_setparam": 142, "sched_setscheduler": 144, "modify_ldt": 154,
    "pivot_root": 155, "prctl": 157, "setrlimit": 160, "chroot": 161, "acct": 163,
    "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169,
    "iopl": 172, "ioperm": 173, "init_module": 175, "delete_module": 176,
    "quotactl": 179, "gettid": 186, "tkill": 200, "time": 201, "futex": 202,
    "sched_setaffinity": 203, "sched_getaffinity": 204, "clock_gettime": 228,
    "clock_getres": 229, "clock_nanosleep": 230, "exit_group": 231, "tgkill": 234,
    "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250,
    "ioprio_set": 251, "migrate_pages": 256, "openat": 257, "newfstatat": 262,
    "readlinkat": 267, "faccessat": 269, "ppoll": 271, "unshare": 272, "move_pages": 279,
    "fallocate": 285, "rt_tgsigqueueinfo": 297, "perf_event_open": 298,
    "fanotify_init": 300, "prlimit64": 302, "name_to_handle_at": 303,
    "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "kcmp": 312, "finit_module": 313, "sched_setattr": 314,
    "getrandom": 318, "kexec_file_load": 320, "bpf": 321, "execveat": 322,
    "userfaultfd": 323, "statx": 332, "pidfd_send_signal": 424, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_open": 434,
    "clone3": 435, "openat2": 437, "pidfd_getfd": 438, "faccessat2": 439,
    "process_madvise": 440, "mount_setattr": 442, "quotactl_fd": 443,
    "rename": 82, "mkdir": 83, "rmdir": 84, "link": 86, "unlink": 87, "symlink": 88,
    "chmod": 90, "fchmod": 91, "chown": 92, "fchown": 93, "lchown": 94, "utime": 132,
    "mknod": 133, "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190,
    "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199, "utimes": 235,
    "mkdirat": 258, "mknodat": 259, "fchownat": 260, "futimesat": 261, "unlinkat": 263,
    "renameat": 264, "linkat": 265, "symlinkat": 266, "fchmodat": 268, "utimensat": 280,
    "renameat2": 316, "fchmodat2": 452,
}  # fmt: skip

MACHINES: dict[str, Machine] = {
    "x86_64": Machine("x86_64", 0xC000_003E, 317, _X86_64_SYSCALLS, 0x4000_0000),
}


def machine() -> Machine | None:
    """This host's syscall table, or None if tockd has none for it."""
    return MACHINES.get(platform.machine())


# ---- a tiny classic-BPF assembler ------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """A test of the low 32 bits of syscall argument `index` (the kernel reads int
    arguments such as fds and pids from those bits): equal to one of `values`, or, with
    `bits`, having any of those bits set."""

    index: int
    values: tuple[int, ...] = ()
    bits: int = 0
    high: bool = False  # test the high 32 bits instead


@dataclass(frozen=True)
class Rule:
    """`action` for syscall `name` when every Arg test holds, else `otherwise`."""

    name: str
    action: int
    args: tuple[Arg, ...] = ()
    otherwise: int = RET_KILL_PROCESS


def errno_action(code: int) -> int:
    return RET_ERRNO | (code & 0xFFFF)


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    if not (0 <= jt <= 255 and 0 <= jf <= 255):
        raise SandboxError(f"BPF jump out of range ({jt}, {jf})")
    return struct.pack("<HBBI", code, jt, jf, k & 0xFFFF_FFFF)


def _rule_block(rule: Rule) -> list[bytes]:
    """Instructions that follow `jeq nr`: argument tests, then `ret action`, then
    `ret otherwise`. Every path ends in a ret, so the accumulator may be clobbered."""
    tests: list[tuple[int, int, int, int]] = []  # (code, jt, jf, k) with jf = "to fail"
    for arg in rule.args:
        offset = _ARGS_OFFSET + 8 * arg.index + (4 if arg.high else 0)
        tests.append((_LD_W_ABS, 0, 0, offset))
        if arg.bits:
            tests.append((_JSET_K, 0, -1, arg.bits))
        else:
            last = len(arg.values) - 1
            for i, value in enumerate(arg.values):
                # a match jumps past the remaining alternatives; the last one fails
                tests.append((_JEQ_K, last - i, 0 if i < last else -1, value))
    out: list[bytes] = []
    fail_at = len(tests) + 1  # index of `ret otherwise` inside this block
    for i, (code, jt, jf, k) in enumerate(tests):
        out.append(_insn(code, jt, fail_at - i - 1 if jf == -1 else jf, k))
    out.append(_insn(_RET_K, 0, 0, rule.action))
    if rule.args:
        out.append(_insn(_RET_K, 0, 0, rule.otherwise))
    return out


def assemble(mach: Machine, rules: Sequence[Rule], default: int) -> bytes:
    """A filter: wrong architecture or ABI -> kill; each rule in order; else `default`."""
    prog = [
        _insn(_LD_W_ABS, 0, 0, _ARCH_OFFSET),
        _insn(_JEQ_K, 1, 0, mach.audit_arch),
        _insn(_RET_K, 0, 0, RET_KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, _NR_OFFSET),
        _insn(_JGE_K, 0, 1, mach.abi_limit),
        _insn(_RET_K, 0, 0, RET_KILL_PROCESS),
    ]
    i = 0
    while i < len(rules):
        rule = rules[i]
        # a run of argument-free rules with one action shares a single `ret`: one
        # instruction per syscall (the kernel's cost of loading a filter grows with it)
        run = 1
        while (
            not rule.args
            and i + run < len(rules)
            and run < 255
            and not rules[i + run].args
            and rules[i + run].action == rule.action
        ):
            run += 1
        if run > 1:
            for j in range(run):
                last = j == run - 1
                nr = mach.syscalls[rules[i + j].name]
                prog.append(_insn(_JEQ_K, 0 if last else run - 1 - j, 1 if last else 0, nr))
            prog.append(_insn(_RET_K, 0, 0, rule.action))
        else:
            block = _rule_block(rule)
            prog.append(_insn(_JEQ_K, 0, len(block), mach.syscalls[rule.name]))
            prog.extend(block)
        i += run
    prog.append(_insn(_RET_K, 0, 0, default))
    if len(prog) > 4096:
        raise SandboxError("seccomp filter longer than BPF_MAXINSNS")
    return b"".join(prog)


# ---- the two filters ------------------------------------------------------------------


def _read_limits(pid: int) -> Rule:
    """prlimit64 may read this process's own limits (pid 0 or its own, new_limit NULL),
    never set one nor read another process's: EPERM."""
    return Rule(
        "prlimit64",
        RET_ALLOW,
        (Arg(0, (0, pid)), Arg(2, (0,)), Arg(2, (0,), high=True)),
        errno_action(errno.EPERM),
    )


#: what a running app calls most (its kernel socket, futex): allowed first, in two
#: instructions, before the deny-list is walked
_HOT = ("recvfrom", "sendto", "futex", "read", "write", "clock_gettime", "mmap", "munmap")

#: no legitimate app needs these; each fails with EPERM
_DENIED = (
    # other processes: trace, read or write their memory, compare or grab their fds
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "process_madvise", "migrate_pages", "move_pages",
    # networking and every other socket (the control socket included)
    "socket", "socketpair",
    # session, group, identity, capabilities, namespaces, mounts
    "setsid", "setpgid", "setuid", "setgid", "setreuid", "setregid", "setresuid",
    "setresgid", "setfsuid", "setfsgid", "setgroups", "capset", "unshare", "setns",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr",
    # kernel attack surface and host administration
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "keyctl", "add_key", "request_key", "init_module",
    "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon",
    "swapoff", "acct", "syslog", "iopl", "ioperm", "modify_ldt", "uselib", "quotactl",
    "quotactl_fd", "open_by_handle_at", "name_to_handle_at", "fanotify_init",
    # scheduling of this or another process
    "sched_setaffinity", "setpriority", "sched_setparam", "sched_setscheduler",
    "sched_setattr", "ioprio_set",
    # shrinking or punching a file: a shared memfd would lose other apps' bytes
    "truncate", "ftruncate", "fallocate",
    # changing the filesystem: Landlock refuses creating, removing and renaming, but not
    # changing a file's mode, owner, times or attributes (the owner, root included,
    # may do that without any capability)
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "utime", "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr", "rename", "renameat", "renameat2",
    "link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat", "mkdir", "mkdirat",
    "rmdir", "mknod", "mknodat",
)  # fmt: skip


#: refused by the base filter, but done by the zygote, or by an app it forked before the
#: app's sandbox is on: these are in the app's own layer, the others in the host layer
_APP_LAYER_DENIED = ("setsid", "setpgid", "pidfd_open", "capset", "sched_setaffinity")


def host_rules() -> list[Rule]:
    """The base filter's host layer: what holds for the zygote as well as for its apps
    (no tracing, sockets, identities, namespaces, mounts, filesystem changes...). The
    zygote installs it once and every app it forks inherits it, so an app compiles only
    its own, smaller layer (`app_rules`)."""
    allow = RET_ALLOW
    eperm = errno_action(errno.EPERM)
    rules = [Rule(name, allow) for name in _HOT]
    rules += [
        Rule("fcntl", eperm, (Arg(1, _FCNTL_DENIED),), allow),
        Rule("madvise", eperm, (Arg(2, (_MADV_REMOVE,)),), allow),
        Rule("ioctl", eperm, (Arg(1, (_TIOCSTI, _TIOCLINUX)),), allow),
    ]
    rules += [Rule(name, eperm) for name in _DENIED if name not in _APP_LAYER_DENIED]
    return rules


def base_rules(*, fork: bool, pid: int = PID_PLACEHOLDER) -> list[Rule]:
    """Deny-list on top of allow-by-default: no raising of limits, no new processes, no
    reaching another process, the host or the kernel's wider surface. `pid` is the app's
    own (signals may go only to it). The app layer and the host layer in one program."""
    return app_rules(fork=fork, pid=pid) + host_rules()[len(_HOT) :]


def app_rules(*, fork: bool, pid: int = PID_PLACEHOLDER) -> list[Rule]:
    """The base filter's app layer: limits, signals, prctl, sessions, new processes."""
    allow = RET_ALLOW
    eperm = errno_action(errno.EPERM)
    own = (pid, 0)
    rules = [Rule(name, allow) for name in _HOT]
    rules += [
        _read_limits(pid),
        Rule("setrlimit", eperm),
        Rule("kill", allow, (Arg(0, (pid, 0, -pid & 0xFFFF_FFFF)),), eperm),
        Rule("tgkill", allow, (Arg(0, own),), eperm),
        Rule("tkill", allow, (Arg(0, own),), eperm),
        Rule("rt_sigqueueinfo", allow, (Arg(0, own),), eperm),
        Rule("rt_tgsigqueueinfo", allow, (Arg(0, own),), eperm),
        Rule("prctl", allow, (Arg(0, PRCTL_ALLOWED),), eperm),
    ]
    rules += [Rule(name, eperm) for name in _APP_LAYER_DENIED]
    if not fork:
        rules += [
            Rule("clone", RET_ALLOW, (Arg(0, bits=_CLONE_THREAD),)),
            Rule("clone3", errno_action(errno.ENOSYS)),  # glibc falls back to clone
            Rule("fork", RET_KILL_PROCESS),
            Rule("vfork", RET_KILL_PROCESS),
            Rule("execve", RET_KILL_PROCESS),
            Rule("execveat", RET_KILL_PROCESS),
        ]
    return rules


def strict_rules(sock_fd: int, pid: int, mem_fd: int | None = None) -> list[Rule]:
    """The allow-list of a running app; the hot calls (its socket) come first. `mem_fd`
    is its memory socket: the pages of IPC windows arrive there (memory.py), and are
    mapped from their fds. No other memory object can be in the process, so mmap of an
    fd is allowed."""
    own_sock = (Arg(0, (sock_fd,)),)
    page_msgs = (Arg(0, (sock_fd,) if mem_fd is None else (sock_fd, mem_fd)),)
    out_fds = (Arg(0, (sock_fd, 1, 2)),)
    allow = RET_ALLOW
    eacces = errno_action(errno.EACCES)
    rules = [
        Rule("recvfrom", allow, own_sock),
        Rule("sendto", allow, out_fds),
        Rule("read", allow, own_sock),
        Rule("write", allow, out_fds),
        Rule("recvmsg", allow, page_msgs),
        Rule("sendmsg", allow, out_fds),
        Rule("readv", allow, own_sock),
        Rule("writev", allow, out_fds),
        Rule("futex", allow),
        Rule("mmap", allow),
        Rule("newfstatat", allow, (Arg(3, bits=_AT_EMPTY_PATH),), eacces),
        _read_limits(pid),
        Rule("kill", allow, (Arg(0, (pid,)),)),
        Rule("tgkill", allow, (Arg(0, (pid,)),)),
        Rule("fcntl", allow, (Arg(1, _FCNTL_HARMLESS),)),
        Rule("ioctl", errno_action(errno.ENOTTY)),
        Rule("setrlimit", errno_action(errno.EPERM)),
    ]
    for name in (
        "munmap", "mremap", "mprotect", "madvise", "brk", "close", "fstat", "lseek",
        "poll", "ppoll", "exit", "exit_group", "rt_sigreturn", "rt_sigaction",
        "rt_sigprocmask", "sigaltstack", "getpid", "gettid", "getppid", "getuid",
        "geteuid", "getgid", "getegid", "clock_gettime", "clock_getres",
        "clock_nanosleep", "nanosleep", "gettimeofday", "time", "getrandom",
        "sched_yield", "sched_getaffinity", "getrusage", "times", "uname", "getcwd",
        "getrlimit",
    ):  # fmt: skip
        rules.append(Rule(name, allow))
    for name in (
        "open", "openat", "openat2", "creat", "stat", "lstat", "access", "faccessat",
        "faccessat2", "readlink", "readlinkat", "statx",
    ):  # fmt: skip
        rules.append(Rule(name, eacces))
    return rules


@functools.cache
def _libc() -> ctypes.CDLL:
    # the process's own symbols: ctypes.util.find_library would fork ldconfig
    return ctypes.CDLL(None, use_errno=True)


@functools.cache
def _base_template(
    fork: bool, app_layer: bool = False
) -> tuple[bytes, tuple[int, ...], tuple[int, ...]] | None:
    """The base filter (or its app layer alone) assembled for PID_PLACEHOLDER, and the
    byte offsets of the `k` fields holding the placeholder and its negation (kill(-pid)),
    to patch after fork."""
    mach = machine()
    if mach is None:
        return None
    rules = app_rules(fork=fork) if app_layer else base_rules(fork=fork)
    program = assemble(mach, rules, RET_ALLOW)
    neg = -PID_PLACEHOLDER & 0xFFFF_FFFF
    pos: list[int] = []
    negs: list[int] = []
    for i in range(0, len(program), 8):
        code, _jt, _jf, k = struct.unpack_from("<HBBI", program, i)
        if code == _JEQ_K and k == PID_PLACEHOLDER:
            pos.append(i + 4)
        elif code == _JEQ_K and k == neg:
            negs.append(i + 4)
    return program, tuple(pos), tuple(negs)


def base_program(fork: bool, pid: int) -> bytes | None:
    """The base filter for the app whose pid is `pid`: the precompiled template with the
    pid patched in (a few microseconds; assembling takes a millisecond). None without a
    syscall table for this machine."""
    template = _base_template(fork)
    if template is None:
        return None
    program, pos, negs = template
    out = bytearray(program)
    for offset in pos:
        struct.pack_into("<I", out, offset, pid & 0xFFFF_FFFF)
    neg = -pid & 0xFFFF_FFFF
    for offset in negs:
        struct.pack_into("<I", out, offset, neg)
    return bytes(out)


_c_ulong = ctypes.c_ulong
#: prctl(2) with its argument conversion precompiled (cheaper in a freshly forked app)
_prctl = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_int, _c_ulong, _c_ulong, _c_ulong, _c_ulong, use_errno=True
)(("prctl", _libc()))


def _no_new_privs(libc: ctypes.CDLL) -> None:
    if _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(err)}")


_Buffer = ctypes.Array[ctypes.c_char]


def install_filter(program: bytes, *, what: str) -> None:
    """Load a BPF program with seccomp(2) on every thread of the process."""
    if machine() is None:
        raise SandboxError(f"no seccomp syscall table for machine {platform.machine()!r}")
    buf = ctypes.create_string_buffer(program, len(program))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }, native layout
    prog = ctypes.create_string_buffer(struct.pack("@HP", len(program) // 8, ctypes.addressof(buf)))
    _load(prog, what)


def _load(fprog: _Buffer, what: str) -> None:
    mach = machine()
    assert mach is not None
    _no_new_privs(_libc())  # required for an unprivileged filter; idempotent
    rc = landlock.syscall4(
        mach.seccomp_nr,
        SECCOMP_SET_MODE_FILTER,
        SECCOMP_FILTER_FLAG_TSYNC,
        ctypes.addressof(fprog),
        0,
    )
    if rc != 0:
        err = ctypes.get_errno() if rc < 0 else 0
        detail = os.strerror(err) if err else f"thread {rc} could not be synchronised"
        raise SandboxError(f"cannot install the {what} seccomp filter: {detail}")


@functools.cache
def _base_buffers(
    fork: bool, app_layer: bool = False
) -> tuple[_Buffer, _Buffer, tuple[int, ...], tuple[int, ...]]:
    """The base filter's template in a ctypes buffer and its sock_fprog, built in the
    zygote: a forked app patches its pid in place and loads it."""
    template = _base_template(fork, app_layer)
    assert template is not None
    program, pos, negs = template
    buf = ctypes.create_string_buffer(program, len(program))
    header = struct.pack("@HP", len(program) // 8, ctypes.addressof(buf))
    fprog = ctypes.create_string_buffer(header, len(header))
    return buf, fprog, pos, negs


_host_layer = False


def install_host_layer() -> None:
    """In the zygote, once: the base filter's host layer, which every app it forks
    inherits (the kernel checks and compiles it once, not in every app)."""
    global _host_layer
    mach = machine()
    if mach is None:
        return
    install_filter(assemble(mach, host_rules(), RET_ALLOW), what="host")
    _host_layer = True


def install_base_filter(fork: bool, pid: int) -> None:
    """Load the base filter for the app whose pid is `pid`: its app layer only when the
    zygote it was forked from holds the host layer, else both in one program (a few
    microseconds of Python, and the kernel's cost of checking and compiling them)."""
    buf, fprog, pos, negs = _base_buffers(fork, _host_layer)
    pack = struct.pack_into
    for offset in pos:
        pack("<I", buf, offset, pid & 0xFFFF_FFFF)
    neg = -pid & 0xFFFF_FFFF
    for offset in negs:
        pack("<I", buf, offset, neg)
    _load(fprog, "base")


# Built at import, so that apps forked from a warm zygote find them ready.
_libc()
if machine() is not None:
    for _fork in (False, True):
        for _app_layer in (False, True):
            _base_buffers(_fork, _app_layer)
