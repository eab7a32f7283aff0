"""The OS side of one app process: its sockets, its pidfd, how it is signalled, and
what its end means.

Shared by the spawner (`tockd/daemon/spawn.py`, which starts, watches and reaps app
processes) and the hot path (`tockd/daemon/hotpath.py`, which talks to the running one).
In Tock a process is a struct in kernel memory; here it is also a Linux process, and this
is the part of it Tock has no counterpart for.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
from collections import deque
from dataclasses import dataclass, field

import trio

from tockd import memmap
from tockd.contract import wire
from tockd.zygote import Zygote

#: how long an app gets to exit by itself (after its socket is closed, or after SIGTERM)
GRACE_S = 1.0


@dataclass(eq=False)
class AppOS:
    """The OS side of one incarnation of a process."""

    pid: int
    sock: socket.socket
    pidfd: int
    generation: int
    pages: memmap.AppPages  # what RAM it maps, and its memory socket
    popen: subprocess.Popen[bytes] | None = None  # a cold start: we are its parent
    zygote: Zygote | None = None  # forked by this zygote, which reaps it
    decoder: wire.FrameDecoder = field(default_factory=wire.FrameDecoder)
    frames: deque[object] = field(default_factory=deque)
    exited: trio.Event = field(default_factory=trio.Event)
    returncode: int | None = None
    sigstopped: bool = False
    held: bytes | None = None  # the encoded frame to send when the process next runs
    raw: bytes | None = None  # the bytes of the frame being handled, when they were read whole
    partial_us: int = 0  # its time on the CPU since part of a frame came and not the rest
    closed: bool = False
    poller: select.poll = field(default_factory=select.poll)  # POLLIN on `sock`

    def __post_init__(self) -> None:
        self.poller.register(self.sock.fileno(), select.POLLIN)

    def poll(self) -> int | None:
        """The exit status if the process has been reaped (never blocks)."""
        if self.popen is not None:
            return self.popen.poll()
        assert self.zygote is not None
        return self.zygote.returncode(self.pid)

    def signal_group(self, sig: signal.Signals) -> None:
        """Send `sig` to the app's process group (the app and anything it left there);
        a group that is already gone, or no longer ours, is not an error."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def sigstop(self) -> None:
        """Take the CPU from an app that computes without a syscall (its timeslice)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGSTOP)
        self.sigstopped = True

    def sigcont(self, *, even_self_stopped: bool = False) -> None:
        """Give the CPU back to an app `sigstop` stopped (or, `even_self_stopped`, one
        that may have stopped itself: the lab's watch continues those)."""
        if self.sigstopped or even_self_stopped:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGCONT)
            self.sigstopped = False

    def close(self) -> None:
        """Close the kernel and memory sockets (once): the app sees EOF and exits."""
        if not self.closed:
            self.closed = True
            trio.lowlevel.notify_closing(self.sock)
            self.sock.close()
            self.pages.close()


#: what a signal that kills an app means in tockd (apps_py/libtock/sandbox.py)
_SIGNAL_MEANING = {
    int(signal.SIGSEGV): "MPU fault, hardware backstop",
    int(signal.SIGSYS): "seccomp: a system call the app's sandbox forbids",
    int(signal.SIGXCPU): "CPU time limit of its sandbox, RLIMIT_CPU",
}


def describe_exit(returncode: int | None) -> str:
    """The fault reason for an app process that ended outside the syscall interface."""
    if returncode is None:
        return "closed its kernel socket"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        meaning = _SIGNAL_MEANING.get(-returncode)
        return f"killed by {name} ({meaning})" if meaning else f"killed by {name}"
    return f"exited with status {returncode} outside the syscall interface"
