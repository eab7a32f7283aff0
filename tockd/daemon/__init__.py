"""The kernel daemon: the trio layer that gives the sans-IO kernel real processes.

One module per job:

- `core`: `Daemon`, which builds the board's kernel, answers its requests for OS work,
  starts every app, runs the kernel loop and reaps everything at the end;
- `loop`: the kernel loop, one process at a time (`kernel_loop` and `do_process` of
  Tock's `kernel/src/kernel.rs`);
- `hotpath`: a syscall's frames, read, checked, handed to the kernel, answered;
- `spawn`: starting app processes (zygote or cold), their output, watching and reaping;
- `apps`: the OS side of one app process, and what its end means (`describe_exit`);
- `cpu`: which core a board runs on.

What the rest of the project uses is imported from here.
"""

from tockd.daemon.apps import GRACE_S, AppOS, describe_exit
from tockd.daemon.core import Daemon, run_board
from tockd.daemon.cpu import resolve_cpu
from tockd.daemon.hotpath import PARTIAL_FRAME_US

__all__ = [
    "GRACE_S",
    "PARTIAL_FRAME_US",
    "AppOS",
    "Daemon",
    "describe_exit",
    "resolve_cpu",
    "run_board",
]
