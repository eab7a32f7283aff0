"""The rules of the app's seccomp filters, by syscall name: bpf.py assembles them for
this machine, seccomp.py loads them, sandbox.py decides which.

The *base* filter, installed before the app module is imported, allows everything
except:
- creating a process (fork, vfork, clone without CLONE_THREAD) or exec'ing a program,
  unless `fork = true`: the app is killed (SIGSYS). clone3 fails with ENOSYS, so glibc
  falls back to clone, whose flags a filter can read;
- starting a thread (clone with CLONE_THREAD), unless `threads = true`: EAGAIN, so
  Python's `Thread.start` raises "can't start new thread". A Tock process has one
  thread; and threads are the one thing nothing else bounds: made with a raw clone and
  tiny stacks, they escape RLIMIT_AS, and RLIMIT_NPROC does not bind root, so one app
  could take every pid of the host;
- changing any limit (prlimit64 with a new value, setrlimit): EPERM;
- signals (kill, tkill, tgkill, rt_[tg]sigqueueinfo) to any pid but its own (or 0, or
  its own group for kill): EPERM. The filter is precompiled with a placeholder pid that
  a forked app patches (seccomp.base_program, seccomp.install_base_filter);
- calls that answer about another pid (getsid, getpgid, sched_get*, getpriority,
  ioprio_get, get_robust_list; capget, whose pid no filter can read, always), and
  clocks of another process (a negative clock id): EPERM, so an app cannot list the
  host's pids, tell which are apps, or read their CPU time;
- prctl other than a short allow-list (PRCTL_ALLOWED): EPERM, so the parent-death
  signal and dumpable flag stay as set;
- tracing or reaching other processes, sockets, System V IPC and message queues, file
  locks and inotify watches, the host's process count (sysinfo), sessions, identities,
  namespaces, mounts, BPF, io_uring, keys, modules, scheduling others, truncating or
  punching files, changing a file's mode, owner, times, attributes or name, making or
  removing files (_DENIED), fcntl F_SETOWN/F_SETSIG/leases/seals/record locks,
  madvise(MADV_REMOVE), TIOCSTI: EPERM.
It comes in two layers: the host layer (`host_rules`), which holds for the zygote too,
and the app layer (`app_rules`); `base_rules` is both in one program.

The *strict* filter (`seccomp = true`) stacks an allow-list on top, installed after
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

Both filters are classic BPF (the base 331 instructions; 326 when fork is allowed, 319
with threads too; the strict 147; tested against their rules in tests/test_sandbox.py).
Syscall numbers exist for x86_64 only (seccomp.MACHINES); on another machine `seccomp =
true` is refused with a clear error and the no-fork rule falls back to RLIMIT_NPROC = 0
(which binds non-root users only).
"""

from __future__ import annotations

import errno

from apps_py.libtock.bpf import RET_ALLOW, RET_KILL_PROCESS, Arg, Rule, errno_action
from apps_py.libtock.privileges import (
    PR_CAPBSET_READ,
    PR_GET_DUMPABLE,
    PR_GET_NAME,
    PR_GET_NO_NEW_PRIVS,
    PR_GET_PDEATHSIG,
    PR_GET_SECCOMP,
    PR_GET_THP_DISABLE,
    PR_GET_TIMERSLACK,
    PR_SET_NAME,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_VMA,
)

#: the prctl options an app may use (reading its own state, naming itself or a
#: mapping); every other option fails with EPERM
PRCTL_ALLOWED = (
    PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_NAME, PR_GET_NAME, PR_GET_SECCOMP,
    PR_CAPBSET_READ, PR_GET_TIMERSLACK, PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS,
    PR_GET_THP_DISABLE, PR_SET_VMA,
)  # fmt: skip

_CLONE_THREAD = 0x0001_0000
_AT_EMPTY_PATH = 0x1000
_FCNTL_HARMLESS = (1, 2, 3, 4)  # F_GETFD, F_SETFD, F_GETFL, F_SETFL (no F_DUPFD)
#: F_SETOWN, F_SETSIG, F_SETOWN_EX (SIGIO to another process), F_SETLEASE, F_NOTIFY,
#: F_ADD_SEALS (sealing a shared memfd against the others that map it); the record
#: locks F_GETLK, F_SETLK, F_SETLKW and their OFD forms (a lock on a file every app may
#: read is a channel between apps, and F_GETLK names the holder's pid)
_FCNTL_DENIED = (5, 6, 7, 8, 10, 15, 36, 37, 38, 1024, 1026, 1033)
_MADV_REMOVE = 9  # punches a hole in a shared memfd: other apps' bytes gone
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C  # fake terminal input
#: placeholders for the app's pid in the precompiled base filter (no pid is this large:
#: pid_max <= 2**22); apply_limits patches them with the real pid after fork
PID_PLACEHOLDER = 0x3FFF_FFF1


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
    # System V IPC and POSIX message queues: objects of the whole host that any process
    # finds by key or name and that outlive their maker (a channel between apps that
    # the kernel never sees; memory left taken after the app is gone)
    "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
    "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedreceive", "mq_notify", "mq_getsetattr",
    # file locks and watches on the files every app may read: a channel between apps
    # the kernel never sees, and a watch sees another app open its modules
    "flock", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    # the host's process count (with it, when another app starts or ends)
    "sysinfo",
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


#: calls that answer about any pid (ESRCH when there is none): for another pid than its
#: own (or 0) they fail with EPERM, else an app could list the host's pids and tell the
#: apps (each leads its session) from the rest: which apps exist and when one restarts,
#: what the hardened kernel's uniform errors hide. The pid is the first argument, or the
#: second (`_PID_SECOND`).
_PID_FIRST = (
    "getsid", "getpgid", "sched_getscheduler", "sched_getparam", "sched_rr_get_interval",
    "sched_getaffinity", "sched_getattr", "get_robust_list",
)  # fmt: skip
_PID_SECOND = ("getpriority", "ioprio_get")
#: calls that take a clock id: a negative one names a CPU-time clock of another process
#: or thread (how much CPU another app has used; setting one fails with EPERM for a pid
#: that exists, EINVAL for one that does not) or a device's: EPERM
_CLOCKS = ("clock_gettime", "clock_getres", "clock_nanosleep", "timer_create", "clock_settime")
_CLOCK_NEGATIVE = 0x8000_0000


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


def base_rules(*, fork: bool, threads: bool = False, pid: int = PID_PLACEHOLDER) -> list[Rule]:
    """Deny-list on top of allow-by-default: no raising of limits, no new processes or
    threads, no reaching another process, the host or the kernel's wider surface. `pid`
    is the app's own (signals may go only to it). The app layer and the host layer in
    one program."""
    return app_rules(fork=fork, threads=threads, pid=pid) + host_rules()[len(_HOT) :]


def app_rules(*, fork: bool, threads: bool = False, pid: int = PID_PLACEHOLDER) -> list[Rule]:
    """The base filter's app layer: limits, signals, prctl, sessions, new processes and
    threads."""
    allow = RET_ALLOW
    eperm = errno_action(errno.EPERM)
    own = (pid, 0)
    # clock_gettime is hot, but here it is checked (the host layer allows it first)
    rules = [Rule(name, allow) for name in _HOT if name not in _CLOCKS]
    rules += [Rule(name, eperm, (Arg(0, bits=_CLOCK_NEGATIVE),), allow) for name in _CLOCKS]
    rules += [Rule(name, allow, (Arg(0, own),), eperm) for name in _PID_FIRST]
    rules += [Rule(name, allow, (Arg(1, own),), eperm) for name in _PID_SECOND]
    # capget's pid is inside a struct no filter can read: it would tell any pid's
    # capabilities (an app has none, the daemon's user may have all)
    rules.append(Rule("capget", eperm))
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
    # a thread: allowed, or EAGAIN (pthread_create's answer when none can be had)
    thread = RET_ALLOW if threads else errno_action(errno.EAGAIN)
    if not fork:
        rules += [
            Rule("clone", thread, (Arg(0, bits=_CLONE_THREAD),)),  # else a process: kill
            Rule("clone3", errno_action(errno.ENOSYS)),  # glibc falls back to clone
            Rule("fork", RET_KILL_PROCESS),
            Rule("vfork", RET_KILL_PROCESS),
            Rule("execve", RET_KILL_PROCESS),
            Rule("execveat", RET_KILL_PROCESS),
        ]
    elif not threads:
        rules += [
            Rule("clone", thread, (Arg(0, bits=_CLONE_THREAD),), RET_ALLOW),
            Rule("clone3", errno_action(errno.ENOSYS)),
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
