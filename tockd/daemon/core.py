"""The kernel daemon: the thin trio layer around the sans-IO kernel.

`Daemon` is the board's kernel loop (`tockd/daemon/loop.py`) with an OS under it: it
builds the kernel from the board, answers the kernel's requests for OS work
(`OsHooks` in tockd/kernel/kernel.py: stop a process, start its next incarnation,
panic, wake), starts every app (`tockd/daemon/spawn.py`), runs the loop, and stops and
reaps everything at the end, whatever way the run ends. It also prints the event
stream's console lines and faults on a board that is not quiet.

The daemon and every app of the board run on one core (`cpu`, on by default), like a
single-core microcontroller: a syscall is then a hand-over on one core, without a
cross-core wake-up, which costs several times the whole syscall (bench/RESULTS.md).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import trio

from tockd import appout
from tockd.board import BoardConfig, build_kernel
from tockd.contract.events import Event, EventKind
from tockd.daemon.cpu import resolve_cpu
from tockd.daemon.loop import KernelLoop
from tockd.daemon.spawn import Spawner
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import Process
from tockd.kernel.scheduler import Scheduler, make_scheduler
from tockd.zygote import Zygote

#: the exit status of a run that ended in a kernel panic
PANIC_STATUS = 2


class Daemon(KernelLoop):
    """Runs one board until every app has exited (or forever)."""

    def __init__(
        self,
        cfg: BoardConfig,
        *,
        forever: bool = False,
        quiet: bool = False,
        zygote: Zygote | None = None,
        scheduler: Callable[[Kernel], Scheduler] | None = None,
        after_step: Callable[[Kernel], None] | None = None,
    ) -> None:
        """`zygote`: a running zygote to fork apps from (shared between boards, e.g. by
        exploration); by default the board starts its own. `spawn = "cold"` uses
        neither. The lab's hooks: `scheduler` builds the scheduler in place of the
        board's; `after_step` is called with the kernel after every kernel step (its
        invariant checks)."""
        self.cfg = cfg
        cpu = resolve_cpu(cfg.cpu)
        kernel: Kernel = build_kernel(cfg)
        kernel.caller_records = True  # see HotPath.handle_frame
        kernel.os = self
        sched: Scheduler = (
            make_scheduler(cfg.scheduler, kernel, cfg.timeslice_us)
            if scheduler is None
            else scheduler(kernel)
        )
        super().__init__(kernel, sched, cpu=cpu, forever=forever, quiet=quiet)
        self.after_step = after_step
        self.spawner = Spawner(cfg, kernel, quiet=quiet, cpu=cpu, zygote=zygote, post=self.post)
        self.exit_status = 0
        self.started = trio.Event()
        self.finished = trio.Event()
        self._console_lines: dict[int, str] = {}
        self._closers: list[Callable[[], None]] = []

    @property
    def zygote(self) -> Zygote | None:
        """The zygote apps are forked from; None when they start cold."""
        return self.spawner.zygote

    # ---- OsHooks (called synchronously by the kernel) ------------------------------------

    def stop_os_process(self, proc: Process) -> None:
        self.spawner.stop(proc)

    def respawn(self, proc: Process) -> None:
        self.spawner.spawn(proc, virtual=self.virtual)

    def panic(self, reason: str) -> None:
        self.exit_status = PANIC_STATUS
        print(f"tockd: Kernel panic: {reason}", file=sys.stderr, flush=True)
        self.wake()

    # ---- run ------------------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> int:
        """Start every app, run the kernel loop, stop and reap everything. Returns the
        exit status (0, or 2 after a kernel panic)."""
        kernel = self.kernel
        own_clock = self.scheduler.own_clock()
        kernel.clock = trio.current_time if own_clock is None else own_clock
        if not self.quiet:
            # neither wants syscalls: a board that prints builds no event per syscall
            self._closers.append(kernel.events.subscribe(self.console_sink, syscalls=False))
            self._closers.append(kernel.events.subscribe(self.fault_sink, syscalls=False))
        affinity = self._pin()
        try:
            async with trio.open_nursery() as nursery:
                self.spawner.start(nursery)
                for proc in kernel.processes:
                    self.spawner.spawn(proc, virtual=self.virtual)
                self.started.set()
                task_status.started()
                await self.kernel_loop()
                self._shutdown()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self.spawner.reap_all()
            self.spawner.close()
            for close in self._closers:
                close()
            kernel.ram.close()
            if affinity is not None:
                os.sched_setaffinity(0, affinity)
            self.finished.set()
        return self.exit_status

    def _pin(self) -> set[int] | None:
        """Pin this thread, and so every process it starts from now on (zygote, apps),
        to the board's core; the affinity to restore afterwards, None if not pinned."""
        if self.cpu is None:
            return None
        affinity = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {self.cpu})
        return affinity

    def _shutdown(self) -> None:
        for proc in self.kernel.processes:
            if proc.os is not None:
                self.stop_os_process(proc)

    # ---- sinks --------------------------------------------------------------------------

    def console_sink(self, ev: Event) -> None:
        """Print each whole line an app writes to its console, as `[name] line`."""
        if ev["kind"] != EventKind.CONSOLE:
            return
        key = ev.get("index", -1)
        text = self._console_lines.pop(key, "") + ev["text"]
        *lines, rest = text.split("\n")
        for line in lines:  # the app's words: shown escaped, never as raw control bytes
            print(f"[{ev.get('name')}] {appout.sanitize(line)}", flush=True)
        if rest:
            self._console_lines[key] = rest

    def fault_sink(self, ev: Event) -> None:
        """Print each fault, with its reason and the fault policy's answer."""
        if ev["kind"] == EventKind.FAULT:
            print(
                f"tockd: process {ev.get('name')} (pid {ev.get('pid')}) faulted: {ev['reason']} "
                f"-> {ev['policy']}",
                file=sys.stderr,
                flush=True,
            )


async def run_board(
    cfg: BoardConfig,
    *,
    forever: bool = False,
    quiet: bool = False,
    zygote: Zygote | None = None,
) -> int:
    """Run a board inside an existing trio run; SIGTERM/SIGINT stop it cleanly."""
    daemon = Daemon(cfg, forever=forever, quiet=quiet, zygote=zygote)
    return await daemon.run()
