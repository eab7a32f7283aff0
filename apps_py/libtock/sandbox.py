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

`apply_limits` runs at start-up, before the app module is imported: the limits above,
RLIMIT_CORE 0 (a crashing app leaves no core file), PR_SET_NO_NEW_PRIVS, and the *base*
seccomp filter, which allows everything except:
- creating a process (fork, vfork, clone without CLONE_THREAD) or exec'ing a program,
  unless `fork = true`: the app is killed (SIGSYS). clone3 fails with ENOSYS, so glibc
  falls back to clone, whose flags a filter can read; threads stay allowed;
- changing any limit (prlimit64 with a new value, setrlimit): EPERM, even for root,
  whose CAP_SYS_RESOURCE would otherwise let an app lift its own limits.

`install_strict_filter` (seccomp = true) stacks an allow-list on top, installed after
the app module is imported and before `main()` (on every thread: TSYNC). It allows only
what a running app needs: reading its kernel socket, writing its socket and stdout/stderr,
anonymous memory (mmap with MAP_ANONYMOUS, munmap, mremap, mprotect, madvise, brk), futex,
signals to itself, clocks and sleeps, getrandom, process/user id getters, exit. Opening
or probing files (open, openat, stat, access, readlink...) fails with EACCES, so Python's
import system and tracebacks degrade gracefully; ioctl fails with ENOTTY. Any other call
(socket, connect, dup, fcntl other than fd/file flags, kill of another process, ptrace,
threads, fork, exec, file-backed mmap, ...) kills the app with SIGSYS
(SECCOMP_RET_KILL_PROCESS); the daemon reports that as a fault naming seccomp. It does
not stop an app from calling mprotect on the shared RAM mapping: the runtime, which runs
in the same process, needs it for the MPU backstop (README, "Threat model").

Both filters are classic BPF written here with ctypes (31 and 194 instructions, tested
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
import mmap
import os
import platform
import resource
import struct
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
}

# prctl / seccomp(2) constants (linux/prctl.h, linux/seccomp.h, linux/audit.h)
PR_SET_NO_NEW_PRIVS = 38
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
_MAP_ANONYMOUS = 0x20
_AT_EMPTY_PATH = 0x1000
_FCNTL_HARMLESS = (1, 2, 3, 4)  # F_GETFD, F_SETFD, F_GETFL, F_SETFL (no F_DUPFD)


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
    "madvise": 28, "nanosleep": 35, "getpid": 39, "sendto": 44, "recvfrom": 45,
    "sendmsg": 46, "recvmsg": 47, "clone": 56, "fork": 57, "vfork": 58, "execve": 59,
    "exit": 60, "kill": 62, "uname": 63, "fcntl": 72, "getcwd": 79, "creat": 85,
    "readlink": 89, "gettimeofday": 96, "getrlimit": 97, "getrusage": 98, "times": 100,
    "getuid": 102, "getgid": 104, "geteuid": 107, "getegid": 108, "getppid": 110,
    "sigaltstack": 131, "setrlimit": 160, "gettid": 186, "time": 201, "futex": 202,
    "sched_getaffinity": 204, "clock_gettime": 228, "clock_getres": 229,
    "clock_nanosleep": 230, "exit_group": 231, "tgkill": 234, "openat": 257,
    "newfstatat": 262, "readlinkat": 267, "faccessat": 269, "ppoll": 271,
    "prlimit64": 302, "getrandom": 318, "execveat": 322, "statx": 332, "clone3": 435,
    "openat2": 437, "faccessat2": 439,
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
    for rule in rules:
        nr = mach.syscalls[rule.name]
        block = _rule_block(rule)
        prog.append(_insn(_JEQ_K, 0, len(block), nr))
        prog.extend(block)
    prog.append(_insn(_RET_K, 0, 0, default))
    if len(prog) > 4096:
        raise SandboxError("seccomp filter longer than BPF_MAXINSNS")
    return b"".join(prog)


# ---- the two filters ------------------------------------------------------------------


#: prlimit64 may read limits (new_limit == NULL) but never set one: EPERM
_READ_LIMITS = Rule(
    "prlimit64", RET_ALLOW, (Arg(2, (0,)), Arg(2, (0,), high=True)), errno_action(errno.EPERM)
)


def base_rules(*, fork: bool) -> list[Rule]:
    """Deny-list on top of allow-by-default: no raising of limits, no new processes."""
    rules = [
        _READ_LIMITS,
        Rule("setrlimit", errno_action(errno.EPERM)),
    ]
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


def strict_rules(sock_fd: int, pid: int) -> list[Rule]:
    """The allow-list of a running app; the hot calls (its socket) come first."""
    own_sock = (Arg(0, (sock_fd,)),)
    out_fds = (Arg(0, (sock_fd, 1, 2)),)
    allow = RET_ALLOW
    eacces = errno_action(errno.EACCES)
    rules = [
        Rule("recvfrom", allow, own_sock),
        Rule("sendto", allow, out_fds),
        Rule("read", allow, own_sock),
        Rule("write", allow, out_fds),
        Rule("recvmsg", allow, own_sock),
        Rule("sendmsg", allow, out_fds),
        Rule("readv", allow, own_sock),
        Rule("writev", allow, out_fds),
        Rule("futex", allow),
        Rule("mmap", allow, (Arg(3, bits=_MAP_ANONYMOUS),)),
        Rule("newfstatat", allow, (Arg(3, bits=_AT_EMPTY_PATH),), eacces),
        _READ_LIMITS,
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
def _base_program(fork: bool) -> bytes | None:
    mach = machine()
    return None if mach is None else assemble(mach, base_rules(fork=fork), RET_ALLOW)


def _no_new_privs(libc: ctypes.CDLL) -> None:
    if libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(err)}")


def install_filter(program: bytes, *, what: str) -> None:
    """Load a BPF program with seccomp(2) on every thread of the process."""
    mach = machine()
    if mach is None:
        raise SandboxError(f"no seccomp syscall table for machine {platform.machine()!r}")
    libc = _libc()
    _no_new_privs(libc)  # required for an unprivileged filter; idempotent
    buf = ctypes.create_string_buffer(program, len(program))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }, native layout
    prog = ctypes.create_string_buffer(struct.pack("@HP", len(program) // 8, ctypes.addressof(buf)))
    rc = libc.syscall(
        ctypes.c_long(mach.seccomp_nr),
        ctypes.c_ulong(SECCOMP_SET_MODE_FILTER),
        ctypes.c_ulong(SECCOMP_FILTER_FLAG_TSYNC),
        prog,
    )
    if rc != 0:
        err = ctypes.get_errno() if rc < 0 else 0
        detail = os.strerror(err) if err else f"thread {rc} could not be synchronised"
        raise SandboxError(f"cannot install the {what} seccomp filter: {detail}")


# ---- what the runtime calls --------------------------------------------------------------

# Built at import, so that apps forked from a warm zygote find them ready.
_libc()
_base_program(False)
_base_program(True)

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


def _set_limit(which: int, value: int) -> None:
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def apply_limits(desc: Mapping[str, object], ram_size: int) -> dict[str, int | bool]:
    """Start-up sandbox: limits, no_new_privs and the base filter. Returns the settings."""
    global _reserve
    cfg = settings(desc)
    mach = machine()
    if mach is None and cfg["seccomp"]:
        raise SandboxError(
            f"[sandbox] seccomp = true needs a syscall table for this machine; "
            f"tockd has {', '.join(MACHINES)}, not {platform.machine()!r}"
        )
    _active.clear()
    _active.update(cfg)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    mb = int(cfg["address_space_mb"])
    if mb:
        _set_limit(resource.RLIMIT_AS, (mb << 20) + ram_size)
    cpu = int(cfg["cpu_seconds"])
    if cpu:
        _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        top = cpu + 1 if hard == resource.RLIM_INFINITY else min(cpu + 1, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (min(cpu, top), top))
    files = int(cfg["open_files"])
    if files:
        _set_limit(resource.RLIMIT_NOFILE, files)
    program = _base_program(bool(cfg["fork"]))
    if program is None:
        _no_new_privs(_libc())
        if not cfg["fork"]:
            resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    else:
        install_filter(program, what="base")
    if mb:
        _reserve = mmap.mmap(-1, RESERVE_BYTES)
    return cfg


def install_strict_filter(sock_fd: int) -> None:
    """seccomp = true: from here on the app may only do what a running app needs."""
    mach = machine()
    if mach is None:
        raise SandboxError(f"no seccomp syscall table for machine {platform.machine()!r}")
    program = assemble(mach, strict_rules(sock_fd, os.getpid()), RET_KILL_PROCESS)
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
        if exc.errno == errno.EMFILE:
            return f"open files limit {_active.get('open_files')} (RLIMIT_NOFILE)"
        if exc.errno == errno.EACCES and _active.get("seccomp_installed"):
            return "the seccomp filter denies access to files"
        if exc.errno == errno.EAGAIN and not _active.get("fork", True) and machine() is None:
            return "fork = false (RLIMIT_NPROC)"
    return None
