"""Loading the app's seccomp filters: this machine's syscall table, the base filter
precompiled with a placeholder pid that a forked app patches, the host layer the zygote
installs once, and seccomp(2) itself.

seccomp_rules.py says what each filter refuses and why (and docs/isolation.md), bpf.py
assembles them; `apps_py/libtock/sandbox.py` decides which to install.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import struct

from apps_py.libtock import landlock
from apps_py.libtock.bpf import RET_ALLOW, Machine, assemble, jeq_offsets
from apps_py.libtock.privileges import no_new_privs
from apps_py.libtock.sandbox_error import SandboxError
from apps_py.libtock.seccomp_rules import PID_PLACEHOLDER, app_rules, base_rules, host_rules

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1

_X86_64_SYSCALLS = {
    "read": 0, "write": 1, "open": 2, "close": 3, "stat": 4, "fstat": 5, "lstat": 6,
    "poll": 7, "lseek": 8, "mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12,
    "rt_sigaction": 13, "rt_sigprocmask": 14, "rt_sigreturn": 15, "ioctl": 16, "readv": 19,
    "writev": 20, "access": 21, "sched_yield": 24, "mremap": 25, "madvise": 28,
    "shmget": 29, "shmat": 30, "shmctl": 31, "nanosleep": 35, "getpid": 39, "socket": 41,
    "sendto": 44, "recvfrom": 45, "sendmsg": 46, "recvmsg": 47, "socketpair": 53,
    "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "exit": 60, "kill": 62, "uname": 63,
    "semget": 64, "semop": 65, "semctl": 66, "shmdt": 67, "msgget": 68, "msgsnd": 69,
    "msgrcv": 70, "msgctl": 71, "fcntl": 72, "flock": 73, "truncate": 76, "ftruncate": 77,
    "getcwd": 79, "rename": 82, "mkdir": 83, "rmdir": 84, "creat": 85, "link": 86,
    "unlink": 87, "symlink": 88, "readlink": 89, "chmod": 90, "fchmod": 91, "chown": 92,
    "fchown": 93, "lchown": 94, "gettimeofday": 96, "getrlimit": 97, "getrusage": 98,
    "sysinfo": 99, "times": 100, "ptrace": 101, "getuid": 102, "syslog": 103, "getgid": 104,
    "setuid": 105, "setgid": 106, "geteuid": 107, "getegid": 108, "setpgid": 109,
    "getppid": 110, "setsid": 112, "setreuid": 113, "setregid": 114, "setgroups": 116,
    "setresuid": 117, "setresgid": 119, "getpgid": 121, "setfsuid": 122, "setfsgid": 123,
    "getsid": 124, "capget": 125, "capset": 126, "rt_sigqueueinfo": 129, "sigaltstack": 131,
    "utime": 132, "mknod": 133, "uselib": 134, "getpriority": 140, "setpriority": 141,
    "sched_setparam": 142, "sched_getparam": 143, "sched_setscheduler": 144,
    "sched_getscheduler": 145, "sched_rr_get_interval": 148, "modify_ldt": 154,
    "pivot_root": 155, "prctl": 157, "setrlimit": 160, "chroot": 161, "acct": 163,
    "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172,
    "ioperm": 173, "init_module": 175, "delete_module": 176, "quotactl": 179, "gettid": 186,
    "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197,
    "lremovexattr": 198, "fremovexattr": 199, "tkill": 200, "time": 201, "futex": 202,
    "sched_setaffinity": 203, "sched_getaffinity": 204, "semtimedop": 220,
    "timer_create": 222, "clock_settime": 227, "clock_gettime": 228, "clock_getres": 229,
    "clock_nanosleep": 230, "exit_group": 231, "tgkill": 234, "utimes": 235, "mq_open": 240,
    "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244,
    "mq_getsetattr": 245, "kexec_load": 246, "add_key": 248, "request_key": 249,
    "keyctl": 250, "ioprio_set": 251, "ioprio_get": 252, "inotify_init": 253,
    "inotify_add_watch": 254, "inotify_rm_watch": 255, "migrate_pages": 256, "openat": 257,
    "mkdirat": 258, "mknodat": 259, "fchownat": 260, "futimesat": 261, "newfstatat": 262,
    "unlinkat": 263, "renameat": 264, "linkat": 265, "symlinkat": 266, "readlinkat": 267,
    "fchmodat": 268, "faccessat": 269, "ppoll": 271, "unshare": 272, "get_robust_list": 274,
    "move_pages": 279, "utimensat": 280, "fallocate": 285, "inotify_init1": 294,
    "rt_tgsigqueueinfo": 297, "perf_event_open": 298, "fanotify_init": 300,
    "prlimit64": 302, "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
    "sched_setattr": 314, "sched_getattr": 315, "renameat2": 316, "getrandom": 318,
    "kexec_file_load": 320, "bpf": 321, "execveat": 322, "userfaultfd": 323, "statx": 332,
    "pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435,
    "openat2": 437, "pidfd_getfd": 438, "faccessat2": 439, "process_madvise": 440,
    "mount_setattr": 442, "quotactl_fd": 443, "fchmodat2": 452,
}  # fmt: skip

MACHINES: dict[str, Machine] = {
    "x86_64": Machine("x86_64", 0xC000_003E, 317, _X86_64_SYSCALLS, 0x4000_0000),
}


def machine() -> Machine | None:
    """This host's syscall table, or None if tockd has none for it."""
    return MACHINES.get(platform.machine())


@functools.cache
def _base_template(
    fork: bool, threads: bool = False, app_layer: bool = False
) -> tuple[bytes, tuple[int, ...], tuple[int, ...]] | None:
    """The base filter (or its app layer alone) assembled for PID_PLACEHOLDER, and the
    byte offsets of the `k` fields holding the placeholder and its negation (kill(-pid)),
    to patch after fork."""
    mach = machine()
    if mach is None:
        return None
    rules = (app_rules if app_layer else base_rules)(fork=fork, threads=threads)
    program = assemble(mach, rules, RET_ALLOW)
    neg = -PID_PLACEHOLDER & 0xFFFF_FFFF
    return program, jeq_offsets(program, PID_PLACEHOLDER), jeq_offsets(program, neg)


def base_program(fork: bool, pid: int, threads: bool = False) -> bytes | None:
    """The base filter for the app whose pid is `pid`: the precompiled template with the
    pid patched in (a few microseconds; assembling takes a millisecond). None without a
    syscall table for this machine."""
    template = _base_template(fork, threads)
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
    no_new_privs()  # required for an unprivileged filter; idempotent
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
    fork: bool, threads: bool = False, app_layer: bool = False
) -> tuple[_Buffer, _Buffer, tuple[int, ...], tuple[int, ...]]:
    """The base filter's template in a ctypes buffer and its sock_fprog, built in the
    zygote: a forked app patches its pid in place and loads it."""
    template = _base_template(fork, threads, app_layer)
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


def install_base_filter(fork: bool, pid: int, threads: bool = False) -> None:
    """Load the base filter for the app whose pid is `pid`: its app layer only when the
    zygote it was forked from holds the host layer, else both in one program (a few
    microseconds of Python, and the kernel's cost of checking and compiling them)."""
    buf, fprog, pos, negs = _base_buffers(fork, threads, _host_layer)
    pack = struct.pack_into
    for offset in pos:
        pack("<I", buf, offset, pid & 0xFFFF_FFFF)
    neg = -pid & 0xFFFF_FFFF
    for offset in negs:
        pack("<I", buf, offset, neg)
    _load(fprog, "base")


# Built at import, so that apps forked from a warm zygote find them ready.
if machine() is not None:
    # (threads = true, a relaxation for debugging, is built by the app that asks for it)
    for _fork in (False, True):
        for _app_layer in (False, True):
            _base_buffers(_fork, False, _app_layer)
