"""The app's OS sandbox: the board's settings, and applying them in order at start-up.

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
    threads           may the app start threads? When false (a Tock process has one)
                      the base filter answers EAGAIN: `Thread.start` raises "can't
                      start new thread", reported as a fault naming this setting.
    seccomp           install the strict allow-list filter just before main().
    landlock          Landlock's filesystem rules and RLIMIT_FSIZE 0 (true). false is a
                      relaxation for debugging: the app may read and write the files its
                      uid may; `tockd run` warns about it.

`apply_limits` runs at start-up, before the app module is imported (see its docstring
for the order); each step is a module of its own:
- limits.py: the limits above, RLIMIT_CORE 0, RLIMIT_FSIZE 0 (no byte written to any
  file, a memfd included: EFBIG, as Python ignores SIGXFSZ; lifted by
  `landlock = false`);
- privileges.py: PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE 0, every capability dropped;
- landlock_rules.py (`landlock = true`, enforced by landlock.py): read-only access to
  the interpreter, shared libraries, libtock and the app's own top-level package,
  nothing else; no TCP; signals and abstract Unix sockets scoped to the app;
- seccomp.py: the *base* seccomp filter, which allows everything but what
  seccomp_rules.py lists (new processes unless `fork = true`, threads unless `threads =
  true`, raising limits, signals to other processes, most prctl options, reaching or
  asking about other processes or the host).

`install_strict_filter` (seccomp = true) stacks the strict allow-list filter
(seccomp_rules.py) on top, after the app module is imported and before `main()`.

`probe()` and `weaknesses()` say which of these guarantees this kernel weakens;
`relaxations()` which a board's settings relax. `fault_text` names the rule that most
likely caused an app's fault.
"""

from __future__ import annotations

import errno
import os
import platform
import resource
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from apps_py.libtock import landlock, landlock_rules, limits, privileges
from apps_py.libtock.bpf import RET_KILL_PROCESS, Machine, assemble
from apps_py.libtock.sandbox_error import SandboxError
from apps_py.libtock.seccomp import MACHINES, install_base_filter, install_filter, machine
from apps_py.libtock.seccomp_rules import strict_rules

#: What a board without a `[sandbox]` table gets. 256 MiB of address space: a runtime
#: starts at ~20 MiB and a thread reserves ~72 MiB, so a real app has room and a hog is
#: stopped long before the host notices. 600 CPU-seconds per incarnation: the example
#: apps use well under one, and a runaway loop on a `--forever` board is faulted within
#: minutes (a restart gets a fresh budget). 64 files: the runtime holds four. No fork:
#: a Tock app has no children. No threads: a Tock process has one, and nothing else
#: bounds threads made with a raw clone (seccomp_rules.py). seccomp off: the strict
#: filter breaks apps that read files.
DEFAULTS: dict[str, int | bool] = {
    "address_space_mb": 256,
    "cpu_seconds": 600,
    "open_files": 64,
    "fork": False,
    "threads": False,
    "seccomp": False,
    "landlock": True,
}

_active: dict[str, int | bool] = {}


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
    if cfg["threads"]:
        out.append(
            "threads = true: the app may start threads; ones made with a raw clone and "
            "tiny stacks are bounded only by RLIMIT_NPROC (not for root) or a cgroup's "
            "pids.max"
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
            "refused; fork is limited by RLIMIT_NPROC for non-root uids only; threads are "
            "not refused)"
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
    3. Landlock (`landlock = true`): landlock_rules.fs_rules(module), no TCP, signals
       and abstract Unix sockets scoped to itself;
    4. every capability dropped (bounding, ambient, effective, permitted, inheritable);
    5. the base seccomp filter, with this process's pid patched in.
    """
    cfg = settings(desc)
    mach = _check_applicable(cfg)
    _active.clear()
    _active.update(cfg)
    limits.set_limits(cfg, ram_size)  # 1
    if keep_fds is not None:
        close_fds_except(keep_fds)
    limits.set_open_files(cfg)
    privileges.no_new_privs()  # 2
    privileges.not_dumpable()
    _restrict_filesystem(cfg, module)  # 3
    privileges.drop_capabilities()  # 4
    _filter_syscalls(cfg, mach)  # 5
    if cfg["address_space_mb"]:
        limits.keep_reserve()
    return cfg


def _check_applicable(cfg: Mapping[str, int | bool]) -> Machine | None:
    """This machine's syscall table (None: tockd has none); refuses a sandbox that cannot
    be applied here: `seccomp = true` without a table, or a process with threads."""
    mach = machine()
    if mach is None and cfg["seccomp"]:
        raise SandboxError(
            f"[sandbox] seccomp = true needs a syscall table for this machine; "
            f"tockd has {', '.join(MACHINES)}, not {platform.machine()!r}"
        )
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        raise SandboxError("the sandbox must be applied before any thread is started")
    return mach


def _restrict_filesystem(cfg: Mapping[str, int | bool], module: str | None) -> None:
    """Step 3: Landlock (`landlock = true`), then no inherited ruleset fd stays open."""
    if cfg["landlock"]:
        try:
            _active["landlock_abi"] = landlock_rules.enforce_for(module)
        except landlock.LandlockError as e:
            raise SandboxError(str(e)) from None
    landlock_rules.forget_prepared()


def _filter_syscalls(cfg: Mapping[str, int | bool], mach: Machine | None) -> None:
    """Step 5: the base seccomp filter, with this process's pid patched in; without a
    syscall table, only the no-fork rule, as RLIMIT_NPROC 0."""
    if mach is None:
        if not cfg["fork"]:
            limits.no_processes()
    else:
        install_base_filter(bool(cfg["fork"]), os.getpid(), bool(cfg["threads"]))


def install_strict_filter(sock_fd: int, mem_fd: int | None = None) -> None:
    """seccomp = true: from here on the app may only do what a running app needs."""
    mach = machine()
    if mach is None:
        raise SandboxError(f"no seccomp syscall table for machine {platform.machine()!r}")
    program = assemble(mach, strict_rules(sock_fd, os.getpid(), mem_fd), RET_KILL_PROCESS)
    install_filter(program, what="strict")
    _active["seccomp_installed"] = True


def fault_text(exc: BaseException) -> str:
    """The traceback an app reports for `exc`, its last line naming the sandbox rule
    that caused it (the kernel quotes that line as the fault reason)."""
    if isinstance(exc, MemoryError):
        limits.release_reserve()
    try:
        text = "".join(traceback.format_exception(exc)).rstrip("\n")
    except MemoryError:
        text = f"{type(exc).__name__}: {exc}"
    hint = explain(exc)
    return f"{text} [sandbox: {hint}]" if hint else text


def explain(exc: BaseException) -> str | None:
    """Which sandbox rule most likely caused `exc`, for the fault reason; or None."""
    if (
        isinstance(exc, RuntimeError)
        and str(exc) == "can't start new thread"
        and not _active.get("threads", True)
        and machine() is not None
    ):
        return "threads = false: a Tock process has one thread"
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
