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
from apps_py.libtock.bpf import RET_KILL_PROCESS, assemble
from apps_py.libtock.privileges import (
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAPBSET_DROP,
    PR_SET_DUMPABLE,
    no_new_privs,
    prctl,
)
from apps_py.libtock.sandbox_error import SandboxError
from apps_py.libtock.seccomp import MACHINES, install_base_filter, install_filter, machine
from apps_py.libtock.seccomp_rules import strict_rules
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
        if prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
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
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
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
    no_new_privs()
    if prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
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
