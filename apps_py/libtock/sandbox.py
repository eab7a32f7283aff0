"""The app's OS sandbox: per-app limits and seccomp filters, applied by the runtime.

An app is untrusted Python in its own OS process. What contains it is the OS, not the
emulated MPU alone (README, "Threat model"). The board's `[sandbox]` table (and an app's
`[apps.sandbox]` overrides) reach the runtime in the boot descriptor as
`desc["sandbox"]`:

    address_space_mb  RLIMIT_AS, MiB of address space beyond the board's RAM mapping
                      (0: no limit). A hog gets MemoryError, reported as a fault.
    cpu_seconds       RLIMIT_CPU of one incarnation (0: no limit). SIGXCPU at the soft
                      limit, SIGKILL one second later if the app ignores it.
    open_files        RLIMIT_NOFILE (0: keep the inherited one). A flood gets EMFILE,
                      reported as a fault.
    fork              may the app start processes or exec programs? When false the base
                      filter kills it on fork/vfork/clone-of-a-process/execve.
    seccomp           install the strict allow-list filter just before main().
    landlock          Landlock's filesystem rules and RLIMIT_FSIZE 0 (true). false is a
                      relaxation for debugging: the app may read and write the files its
                      uid may; `tockd run` warns about it.

`apply_limits` runs at start-up, before the app module is imported (see its docstring
for the order): the limits above, RLIMIT_CORE 0, RLIMIT_FSIZE 0 (no byte written to any
file, a memfd included: EFBIG, as Python ignores SIGXFSZ; lifted by `landlock = false`),
PR_SET_NO_NEW_PRIVS,
PR_SET_DUMPABLE 0, Landlock (`landlock = true`, landlock.py: read-only access to the
interpreter, shared libraries, libtock and the app's own top-level package, nothing
else; no TCP; signals and abstract Unix sockets scoped to the app), every capability
dropped, and the *base* seccomp filter, which allows everything except:
- creating a process (fork, vfork, clone without CLONE_THREAD) or exec'ing a program,
  unless `fork = true`: the app is killed (SIGSYS). clone3 fails with ENOSYS, so glibc
  falls back to clone, whose flags a filter can read; threads stay allowed;
- changing any limit (prlimit64 with a new value, setrlimit): EPERM;
- signals (kill, tkill, tgkill, rt_[tg]sigqueueinfo) to any pid but its own (or 0, or
  its own group for kill): EPERM. The filter is precompiled with a placeholder pid that
  a forked app patches (base_program, install_base_filter);
- prctl other than a short allow-list (PRCTL_ALLOWED): EPERM, so the parent-death
  signal and dumpable flag stay as set;
- tracing or reaching other processes, sockets, sessions, identities, namespaces,
  mounts, BPF, io_uring, keys, modules, scheduling others, truncating or punching
  files, changing a file's mode, owner, times, attributes or name, making or removing
  files (_DENIED), fcntl F_SETOWN/F_SETSIG/leases/seals, madvise(MADV_REMOVE), TIOCSTI:
  EPERM.

`probe()` and `weaknesses()` say which of these guarantees this kernel weakens;
`relaxations()` which a board's settings relax.

`install_strict_filter` (seccomp = true) stacks an allow-list on top, installed after
the app module is imported and before `main()` (on every thread: TSYNC). It allows only
what a running app needs: reading its kernel socket and its memory socket, writing its
socket and stdout/stderr, memory (mmap, munmap, mremap, mprotect, madvise, brk: the only
fds it can map are the page memfds the kernel hands it), futex,
signals to itself, clocks and sleeps, getrandom, process/user id getters, exit. Opening
or probing files (open, openat, stat, access, readlink...) fails with EACCES, so Python's
import system and tracebacks degrade gracefully; ioctl fails with ENOTTY. Any other call
(socket, connect, dup, fcntl other than fd/file flags, kill of another process, ptrace,
threads, fork, exec, ...) kills the app with SIGSYS (SECCOMP_RET_KILL_PROCESS); the
daemon reports that as a fault naming seccomp.

Both filters are classic BPF written here with ctypes (179 and 147 instructions, tested
against their rules in tests/test_sandbox.py), so the runtime stays stdlib + msgpack:
libseccomp's own Python bindings are not published on PyPI, and the ctypes wrapper
`pyseccomp` (last release 2021) would add a system library dependency for little.
Syscall numbers exist for x86_64 only; on another machine `seccomp = true` is refused
with a clear error and the no-fork rule falls back to RLIMIT_NPROC = 0 (which binds
non-root users only).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import importlib.machinery
import mmap
import os
import platform
import resource
import struct
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from apps_py.libtock import landlock
from tockd.contract import abi as _contract

#: What a board without a `[sandbox]` table gets. 256 MiB of address space: a runtime
#: starts at ~20 MiB and a thread reserves ~72 MiB, so a real app has room and a hog is
#: stopped long before the host notices. 600 CPU-seconds per incarnation: the example
#: apps use well under one, and a runaway loop on a `--forever` board is faulted within
#: minutes (a restart gets a fresh budget). 64 files: the runtime holds four. No fork:
#: a Tock app has no children. seccomp off: the strict filter breaks apps that read files.
DEFAULTS: dict[str, int | bool] = {
    "address_space_mb": 256,
    "cpu_seconds": 600,
    "open_files": 64,
    "fork": False,
    "seccomp": False,
    "landlock": True,
}

# prctl / seccomp(2) constants (linux/prctl.h, linux/seccomp.h, linux/audit.h)
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


# ---- what the runtime calls --------------------------------------------------------------

# Built at import, so that apps forked from a warm zygote find them ready.
_libc()
if machine() is not None:
    for _fork in (False, True):
        for _app_layer in (False, True):
            _base_buffers(_fork, _app_layer)

_active: dict[str, int | bool] = {}
_reserve: mmap.mmap | None = None
#: address space kept in reserve (mapped, never touched, so it costs no RAM and no time)
#: so that reporting a MemoryError still finds memory
RESERVE_BYTES = 1 << 20


def settings(desc: Mapping[str, object]) -> dict[str, int | bool]:
    """The effective settings: defaults overlaid with the descriptor's values."""
    out = dict(DEFAULTS)
    for key, value in desc.items():
        if key not in DEFAULTS:
            raise SandboxError(f"unknown sandbox setting {key!r}")
        if not isinstance(value, int) or type(value) is not type(DEFAULTS[key]) or value < 0:
            raise SandboxError(f"sandbox setting {key} = {value!r} is not valid")
        out[key] = value
    return out


def relaxations(cfg: Mapping[str, object]) -> list[str]:
    """What `cfg` relaxes of the default sandbox, one human sentence each (empty: none),
    for the daemon to print loudly at start."""
    cfg = settings(cfg)
    out = []
    if cfg["fork"]:
        out.append(
            "fork = true: the app may start processes (exec stays limited to what "
            "Landlock lets it read and execute)"
        )
    if not cfg["landlock"]:
        out.append(
            "landlock = false: the app may read and write every file its uid can "
            "(no Landlock rules, no file-size limit), and TCP and signals are not scoped "
            "by Landlock"
        )
    for key, what in (
        ("address_space_mb", "address space"),
        ("cpu_seconds", "CPU time"),
        ("open_files", "open files"),
    ):
        if not cfg[key]:
            out.append(f"{key} = 0: no limit on {what}")
    return out


@dataclass(frozen=True)
class Probe:
    """What this kernel and machine offer the sandbox."""

    machine: str
    #: tockd has a seccomp syscall table for this machine (else no syscall filtering)
    seccomp_table: bool
    #: Landlock ABI of the running kernel, 0 if it has none or it is disabled
    landlock_abi: int


def probe() -> Probe:
    """Ask the running kernel (cheap: one syscall; cached by landlock.abi_version)."""
    return Probe(platform.machine(), machine() is not None, landlock.abi_version())


def weaknesses(found: Probe, cfg: Mapping[str, object] | None = None) -> list[str]:
    """Every isolation guarantee that is weaker than the full sandbox on this kernel with
    these settings, one sentence each. An empty list means `isolation: full`."""
    cfg = settings(cfg or {})
    out = []
    if not found.seccomp_table:
        out.append(
            f"no seccomp syscall table for {found.machine}: no syscall filtering (ptrace, "
            "process_vm_readv, sockets, signals to other processes, setsid, prctl are not "
            "refused; fork is limited by RLIMIT_NPROC for non-root uids only)"
        )
    abi = found.landlock_abi if cfg["landlock"] else 0
    why = "landlock = false" if not cfg["landlock"] else "no Landlock on this kernel"
    if abi == 0 and not cfg["landlock"]:
        out.append(
            f"{why}: the app may read and write every file its uid may (seccomp still "
            "refuses removing, renaming and changing files' modes and owners); /proc of "
            "other processes is guarded only by PR_SET_DUMPABLE = 0 and dropped "
            "capabilities"
        )
    elif abi == 0:
        out.append(
            f"{why}: the filesystem is not limited to what the app needs: it may read "
            "every file its uid may (writes are stopped by RLIMIT_FSIZE = 0, and seccomp "
            "refuses removing, renaming and changing files' modes and owners); /proc of "
            "other processes is guarded only by PR_SET_DUMPABLE = 0 and dropped "
            "capabilities"
        )
    if 0 < abi < 3:
        out.append(
            f"Landlock ABI {abi} < 3: truncate is not handled by Landlock "
            "(seccomp refuses truncate and ftruncate)"
        )
    if abi < 4:
        sock = (
            "socket() is still refused by seccomp"
            if found.seccomp_table
            else "and nothing else refuses socket()"
        )
        out.append(
            f"{why if abi == 0 else f'Landlock ABI {abi} < 4'}: no TCP bind/connect rules ({sock})"
        )
    if abi < 6:
        sig = (
            "signals are scoped by the seccomp pid checks only"
            if found.seccomp_table
            else "signals to other processes are not scoped"
        )
        out.append(
            f"{why if abi == 0 else f'Landlock ABI {abi} < 6'}: {sig}, and abstract "
            "Unix sockets are not scoped"
        )
    return out


def _set_limit(which: int, value: int) -> None:
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


# ---- capabilities ----------------------------------------------------------------------

_NR_CAPGET = 125
_NR_CAPSET = 126
_CAP_VERSION_3 = 0x2008_0522


def _read_last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 63  # the loop stops at the first EINVAL


#: read at import (in the zygote, or before any Landlock rule in a cold start)
_LAST_CAP = _read_last_cap()


def capabilities() -> tuple[int, int, int]:
    """This thread's (effective, permitted, inheritable) capability sets, 64 bits each."""
    header = ctypes.create_string_buffer(struct.pack("=Ii", _CAP_VERSION_3, 0), 8)
    data = ctypes.create_string_buffer(24)
    if landlock.syscall4(_NR_CAPGET, ctypes.addressof(header), ctypes.addressof(data), 0, 0):
        raise SandboxError(f"capget failed: {os.strerror(ctypes.get_errno())}")
    e0, p0, i0, e1, p1, i1 = struct.unpack("=6I", data.raw)
    return e0 | e1 << 32, p0 | p1 << 32, i0 | i1 << 32


_bounding_dropped = False


def drop_bounding_set() -> None:
    """Empty the capability bounding set (needs CAP_SETPCAP; without it there is nothing
    this process could gain back anyway, exec being refused and no_new_privs set). The
    zygote does it once, so the apps it forks inherit an empty set."""
    global _bounding_dropped
    for cap in range(_LAST_CAP + 1):
        if _prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.EPERM):
                break  # past the last cap, or no CAP_SETPCAP (an unprivileged process)
            raise SandboxError(f"PR_CAPBSET_DROP failed: {os.strerror(err)}")
    _bounding_dropped = True


def drop_capabilities() -> None:
    """No capability left in any set, whatever the uid: bounding (unless the zygote
    already emptied it), ambient, then effective, permitted and inheritable with
    capset(2)."""
    if not _bounding_dropped:
        drop_bounding_set()
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if landlock.syscall4(_NR_CAPSET, _CAPSET_ARGS[0], _CAPSET_ARGS[1], 0, 0):
        raise SandboxError(f"capset failed: {os.strerror(ctypes.get_errno())}")


#: capset's header (version 3, this thread) and an all-zero data block, built in the
#: zygote so that a forked app touches no new memory to drop its capabilities
_CAPSET_BUFFERS = (
    ctypes.create_string_buffer(struct.pack("=Ii", _CAP_VERSION_3, 0), 8),
    ctypes.create_string_buffer(24),
)
_CAPSET_ARGS = tuple(ctypes.addressof(b) for b in _CAPSET_BUFFERS)


# ---- Landlock: what the filesystem shows an app ------------------------------------------

_R = landlock.READ_FILE | landlock.READ_DIR
_RX = _R | landlock.EXECUTE
#: shared libraries the interpreter and its extension modules load
LIBRARY_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
#: the libtock drivers every app imports
_LIBTOCK_DIR = os.path.dirname(os.path.abspath(__file__))
#: the contract libtock imports (tockd/contract/): the only part of tockd an app reads
_CONTRACT_DIR = os.path.dirname(os.path.abspath(_contract.__file__))


def module_paths(module: str) -> list[str]:
    """Where the top-level package (or module) of `module` lives, found without running
    any of its code: from sys.modules if it is already imported; else by scanning
    sys.path as Python's path finder would (the first regular package directory or
    module file, else every namespace portion); else by asking the other meta-path
    finders (an editable install's) for the top-level name's spec, which imports
    nothing."""
    top = module.partition(".")[0]
    loaded = sys.modules.get(top)
    if loaded is not None:
        return _spec_paths(getattr(loaded, "__spec__", None))
    suffixes = importlib.machinery.all_suffixes()
    portions: list[str] = []
    for entry in sys.path:
        base = os.path.join(entry or ".", top)
        if os.path.isdir(base):
            if any(os.path.isfile(os.path.join(base, "__init__" + s)) for s in suffixes):
                return [base]
            portions.append(base)
            continue
        for suffix in suffixes:
            if os.path.isfile(base + suffix):
                return [base + suffix]
    if portions:
        return portions
    for finder in sys.meta_path:
        if finder is importlib.machinery.PathFinder or not hasattr(finder, "find_spec"):
            continue
        try:
            spec = finder.find_spec(top, None)
        except Exception:  # a broken finder: the import will fail the same way
            continue
        if spec is not None:
            return _spec_paths(spec)
    return []


def _spec_paths(spec: importlib.machinery.ModuleSpec | None) -> list[str]:
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)
    return [spec.origin] if spec.origin and os.path.isabs(spec.origin) else []


def fs_rules(module: str | None) -> list[tuple[str, int]]:
    """The Landlock rules of an app running `module`: read-only access to the
    interpreter, its libraries, libtock, the contract it imports (tockd/contract/) and the
    app's own top-level package; directory
    listing (only) of each sys.path entry, which Python's import system needs; /dev/null,
    /dev/zero, /dev/urandom. Nothing else is reachable, nothing is writable but /dev/null.
    Paths that do not exist are left out; non-directories get file rights only."""
    rules = list(_shared_rules(tuple(sys.path)))
    if module:
        for path in module_paths(module):
            # no landlock.resolve here: this runs in every new app, where it costs
            rules.append((path, _R if os.path.isdir(path) else landlock.READ_FILE))
    return rules


@functools.cache
def _shared_rules(path: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """The rules every app shares, resolved once (in the zygote, before it forks)."""
    rules: list[tuple[str, int]] = []
    prefixes = (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    rules += [(p, _RX) for p in dict.fromkeys(prefixes)]
    rules += [(p, _RX) for p in LIBRARY_DIRS]
    rules += [
        ("/etc/ld.so.cache", landlock.READ_FILE),
        ("/dev/null", landlock.READ_FILE | landlock.WRITE_FILE),
        ("/dev/zero", landlock.READ_FILE),
        ("/dev/urandom", landlock.READ_FILE),
    ]
    for entry in dict.fromkeys(path):
        entry = entry or "."
        # a zip entry is a file: it must be read; a directory is only listed
        rules.append((entry, landlock.READ_FILE if os.path.isfile(entry) else landlock.READ_DIR))
    rules.append((_LIBTOCK_DIR, _R))
    rules.append((_CONTRACT_DIR, _R))
    return tuple(landlock.resolve(rules))


#: app module -> its Landlock ruleset fd, built in the zygote and inherited by its forks
_prepared: dict[str, int] = {}


def prepare(module: str) -> None:
    """In the zygote, before it forks an app of `module`: build that module's Landlock
    ruleset once (opening and checking every path costs a fork a few hundred
    microseconds); the app then only enforces it. Nothing is prepared where Landlock is
    missing."""
    if module in _prepared or landlock.abi_version() <= 0:
        return
    try:
        _prepared[module] = landlock.ruleset(fs_rules(module))
    except landlock.LandlockError:
        pass  # the app builds its own, and reports the error if it too fails


def prepared_fds() -> list[int]:
    """The ruleset fds inherited from the zygote (kept open until the sandbox is on)."""
    return list(_prepared.values())


def forget_prepared() -> None:
    """Close the inherited ruleset fds: an app keeps none of them."""
    for fd in _prepared.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _prepared.clear()


# ---- what the runtime calls -----------------------------------------------------------


def close_fds_except(keep: Sequence[int]) -> None:
    """Close every fd but 0, 1, 2 and `keep` (close_range(2) underneath)."""
    low = 3
    for fd in sorted(set(keep) | {2}):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def apply_limits(
    desc: Mapping[str, object],
    ram_size: int,
    *,
    module: str | None = None,
    keep_fds: Sequence[int] | None = None,
) -> dict[str, int | bool]:
    """The start-up sandbox, in force before the app's module is imported; returns the
    settings. `module` is the app's dotted module name: its top-level package is the only
    project code Landlock lets it read (besides libtock). With `keep_fds`, every fd but
    0, 1, 2 and those is closed first. The process must be single-threaded (capabilities,
    Landlock and no_new_privs are per thread). In order:

    1. rlimits: RLIMIT_CORE 0, RLIMIT_FSIZE 0 (no byte written to any file, a memfd
       included: SIGXFSZ), RLIMIT_AS, RLIMIT_CPU, RLIMIT_NOFILE; no .pyc is written;
    2. PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE 0 (its /proc entries become root's and it
       cannot be ptraced by its uid);
    3. Landlock (`landlock = true`): fs_rules(module), no TCP, signals and abstract Unix
       sockets scoped to itself;
    4. every capability dropped (bounding, ambient, effective, permitted, inheritable);
    5. the base seccomp filter, with this process's pid patched in.
    """
    global _reserve
    cfg = settings(desc)
    mach = machine()
    if mach is None and cfg["seccomp"]:
        raise SandboxError(
            f"[sandbox] seccomp = true needs a syscall table for this machine; "
            f"tockd has {', '.join(MACHINES)}, not {platform.machine()!r}"
        )
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        raise SandboxError("the sandbox must be applied before any thread is started")
    _active.clear()
    _active.update(cfg)
    libc = _libc()
    sys.dont_write_bytecode = True  # RLIMIT_FSIZE would kill the app writing a .pyc
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if cfg["landlock"]:  # `landlock = false` relaxes the filesystem whole, writes too
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    mb = int(cfg["address_space_mb"])
    if mb:
        _set_limit(resource.RLIMIT_AS, (mb << 20) + ram_size)
    cpu = int(cfg["cpu_seconds"])
    if cpu:
        _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        top = cpu + 1 if hard == resource.RLIM_INFINITY else min(cpu + 1, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (min(cpu, top), top))
    if keep_fds is not None:
        close_fds_except(keep_fds)
    files = int(cfg["open_files"])
    if files:
        _set_limit(resource.RLIMIT_NOFILE, files)
    _no_new_privs(libc)
    if _prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise SandboxError(f"PR_SET_DUMPABLE failed: {os.strerror(ctypes.get_errno())}")
    if cfg["landlock"]:
        try:
            ready = _prepared.get(module) if module else None
            if ready is not None:
                landlock.enforce(ready)
                _active["landlock_abi"] = landlock.abi_version()
            else:
                _active["landlock_abi"] = landlock.restrict(fs_rules(module))
        except landlock.LandlockError as e:
            raise SandboxError(str(e)) from None
    forget_prepared()
    drop_capabilities()
    if mach is None:
        if not cfg["fork"]:
            resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    else:
        install_base_filter(bool(cfg["fork"]), os.getpid())
    if mb:
        _reserve = mmap.mmap(-1, RESERVE_BYTES)
    return cfg


def install_strict_filter(sock_fd: int, mem_fd: int | None = None) -> None:
    """seccomp = true: from here on the app may only do what a running app needs."""
    mach = machine()
    if mach is None:
        raise SandboxError(f"no seccomp syscall table for machine {platform.machine()!r}")
    program = assemble(mach, strict_rules(sock_fd, os.getpid(), mem_fd), RET_KILL_PROCESS)
    install_filter(program, what="strict")
    _active["seccomp_installed"] = True


def release_reserve() -> None:
    """Out of memory: give back the reserve so the fault can still be reported."""
    global _reserve
    if _reserve is not None:
        _reserve.close()
        _reserve = None


def fault_text(exc: BaseException) -> str:
    """The traceback an app reports for `exc`, its last line naming the sandbox rule
    that caused it (the kernel quotes that line as the fault reason)."""
    if isinstance(exc, MemoryError):
        release_reserve()
    try:
        text = "".join(traceback.format_exception(exc)).rstrip("\n")
    except MemoryError:
        text = f"{type(exc).__name__}: {exc}"
    hint = explain(exc)
    return f"{text} [sandbox: {hint}]" if hint else text


def explain(exc: BaseException) -> str | None:
    """Which sandbox rule most likely caused `exc`, for the fault reason; or None."""
    if isinstance(exc, MemoryError) and _active.get("address_space_mb"):
        return f"address space limit {_active['address_space_mb']} MiB beyond RAM (RLIMIT_AS)"
    if isinstance(exc, OSError):
        if exc.errno == errno.EFBIG:
            return "no file may be written (RLIMIT_FSIZE 0)"
        if exc.errno == errno.EMFILE:
            return f"open files limit {_active.get('open_files')} (RLIMIT_NOFILE)"
        if exc.errno == errno.EACCES and _active.get("seccomp_installed"):
            return "the seccomp filter denies access to files"
        if exc.errno == errno.EAGAIN and not _active.get("fork", True) and machine() is None:
            return "fork = false (RLIMIT_NPROC)"
    return None


# Resolved at import, so that apps forked from a warm zygote find them ready.
_shared_rules(tuple(sys.path))
landlock.abi_version()
