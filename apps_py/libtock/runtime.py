"""The app-side runtime: what runs in every app process (`python -m apps_py.libtock.runtime`).

    python -m apps_py.libtock.runtime SOCK_FD MEM_FD PARENT_PID

Start-up, like libtock-c's crt0:
1. die with the kernel: PR_SET_PDEATHSIG, and exit on EOF of the kernel socket; close
   every fd but stdin/stdout/stderr, the kernel socket and the memory socket;
2. read the boot frame (who am I, where is my memory) and map the pages of RAM the
   kernel hands over on the memory socket: this app's own block, nothing else;
3. apply the sandbox (limits, no capabilities, Landlock, the base seccomp filter:
   sandbox.py), so every restriction holds before any code of the app runs;
4. import the app module (it must not make syscalls at import time), then, with
   `[sandbox] seccomp = true`, install the strict seccomp filter;
5. wait for the kernel to deliver `_start`, then brk the stack, give the stack and heap
   hints (memop 10, 11), and call the app's `main()`. When main returns the app exits
   with exit-terminate(0). An exception is reported to the kernel as a fault.

Only the standard library and msgpack are imported here: importing trio would cost ~90 ms
per app (docs/architecture.md, "Processes").
"""

from __future__ import annotations

import ctypes
import faulthandler
import importlib
import os
import random
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from apps_py.libtock import landlock_rules, sandbox
from apps_py.libtock.flash import tbf_header
from apps_py.libtock.memory import Heap, Memory, MemoryProtocolError, MpuFault
from apps_py.libtock.syscalls import Ret, Upcall
from tockd.contract.abi import (
    FRAME_BOOT,
    FRAME_MPU,
    FRAME_RETURN,
    FRAME_UPCALL,
    REPORT,
    Memop,
    ReportKind,
    SyscallClass,
    YieldCall,
)
from tockd.contract.wire import FrameDecoder, WireError, encode

PR_SET_PDEATHSIG = 1
# Handles for Python callables are addresses inside the app's flash, 4 bytes apart, so
# subscribe's range check sees flash pointers: from the end of the binary (the TBF
# Program header's binary_end_offset: past the rodata), and never below this offset.
HANDLE_BASE = 0x100

_current: Runtime | None = None


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("libtock syscalls need the tockd app runtime (no kernel here)")
    return _current


class Runtime:
    """One app's connection to its kernel."""

    def __init__(self, sock: socket.socket, mem_sock: socket.socket) -> None:
        self.sock = sock
        self.mem_sock = mem_sock
        self.decoder = FrameDecoder()
        self._pending: list[Any] = []
        boot = self._recv()
        if not (type(boot) is list and len(boot) == 2 and boot[0] == FRAME_BOOT):
            raise SystemExit(f"tockd runtime: expected a boot frame, got {boot!r}")
        self.desc: dict[str, Any] = boot[1]
        d = self.desc
        self.memory = Memory(self, d["ram_base"], d["ram_size"])
        self.memory.backstop = d.get("mprotect", True)
        self.memory.receive(mem_sock, d["maps"])
        #: the raw RAM range of this process (unchecked; holes fault with SIGSEGV)
        self.mm = self.memory.raw
        self.memory.set_regions(d["mpu"])
        self.handle_base = self._handle_base()
        self.heap = Heap()
        self._handles: dict[int, Upcall] = {}
        self._handle_of: dict[Upcall, int] = {}
        self.started = False
        self.yield_byte = 0

    # ---- frames ---------------------------------------------------------------------

    def _recv(self) -> Any:
        pending = self._pending
        while not pending:
            data = self.sock.recv(65536)
            if not data:
                flush_stdio()
                os._exit(0)  # the kernel is gone or has let us go
            pending.extend(self.decoder.decode(data))  # the syscall hot path: keep it short
        return pending.pop(0)

    def _send(self, frame: list[Any]) -> None:
        self.sock.sendall(encode(frame))

    def _wait(self) -> Ret:
        """Wait for the reply to the syscall just sent, running an upcall if one comes
        (which is how a yield returns)."""
        while True:
            frame = self._recv()
            tag = frame[0]
            if tag == FRAME_RETURN:
                return Ret(frame[1], frame[2], frame[3], frame[4])
            if tag == FRAME_MPU:
                self.context_switch(frame)
                continue
            if tag == FRAME_UPCALL:
                self._run_upcall(frame[1], frame[2], frame[3], frame[4], frame[5])
                return Ret(0, 0, 0, 0)
            raise SystemExit(f"tockd runtime: unexpected frame {frame!r}")

    def context_switch(self, frame: list[Any]) -> None:
        """`[FRAME_MPU, ranges, messages]`: take the pages the kernel queued on the
        memory socket, then the MPU configuration."""
        if len(frame) > 2 and frame[2]:
            self.memory.receive(self.mem_sock, frame[2])
        self.memory.set_regions(frame[1])

    def _run_upcall(self, fnptr: int, a0: int, a1: int, a2: int, appdata: int) -> None:
        callback = self._handles.get(fnptr)
        if callback is None:
            self.report_exception(f"upcall to unknown function pointer {fnptr:#x}")
        try:
            callback(a0, a1, a2, appdata)
        except MpuFault:
            os._exit(1)
        except Exception as exc:
            self.report_exception(sandbox.fault_text(exc))

    # ---- syscalls -------------------------------------------------------------------

    def syscall(self, cls: int, r0: int, r1: int, r2: int, r3: int) -> Ret:
        if not self.started:
            raise RuntimeError("syscall before _start: apps must not make syscalls at import")
        self._send(
            [int(cls), r0 & 0xFFFF_FFFF, r1 & 0xFFFF_FFFF, r2 & 0xFFFF_FFFF, r3 & 0xFFFF_FFFF]
        )
        return self._wait()

    def yield_no_wait(self) -> bool:
        address = self.yield_byte
        self.syscall(SyscallClass.YIELD, YieldCall.NO_WAIT, address, 0, 0)
        return bool(self.mm[address - self.memory.base]) if address else False

    def exit(self, which: int, code: int) -> NoReturn:
        flush_stdio()
        self._send([int(SyscallClass.EXIT), which, code & 0xFFFF_FFFF, 0, 0])
        while True:  # a reply means the exit number was refused
            ret = self._wait()
            if ret.r0 < 128:
                from apps_py.libtock.syscalls import TockError

                raise TockError(ret.r1, f"exit({which})")

    @property
    def restart_count(self) -> int:
        """How many times the kernel restarted this process before this life (tockd's
        own boot information; Tock apps have no such call)."""
        return int(self.desc.get("restart_count", 0))

    def handle_for(self, callback: Upcall) -> int:
        handle = self._handle_of.get(callback)
        if handle is None:
            handle = self.handle_base + 4 * len(self._handles)
            self._handles[handle] = callback
            self._handle_of[callback] = handle
        return handle

    def _handle_base(self) -> int:
        """The first upcall handle: past the binary in this app's flash."""
        start, end = self.memory.flash_range
        if end <= start:  # a kernel that sent no flash (bench/explore.py's fake one)
            return int(self.desc["flash_start"]) + HANDLE_BASE
        return start + max(HANDLE_BASE, tbf_header(self.memory, start).binary_end_offset)

    def callback_at(self, handle: int) -> Upcall | None:
        return self._handles.get(handle)

    # ---- faults ---------------------------------------------------------------------

    def mpu_fault(self, address: int, length: int, access: int, text: str) -> NoReturn:
        flush_stdio()
        self._send([REPORT, int(ReportKind.MPU_FAULT), address, length, access, text])
        os._exit(1)

    def report_exception(self, text: str) -> NoReturn:
        flush_stdio()
        try:
            self._send([REPORT, int(ReportKind.EXCEPTION), text[-4000:]])
        except OSError:
            pass
        os._exit(1)

    # ---- start ----------------------------------------------------------------------

    def run(self, main: Callable[[], object]) -> NoReturn:
        """Wait for `_start`, run crt0, call main(), exit-terminate(0)."""
        frame = self._recv()
        while frame[0] == FRAME_MPU:
            self.context_switch(frame)
            frame = self._recv()
        if frame[0] != FRAME_UPCALL:
            raise SystemExit(f"tockd runtime: expected _start, got {frame!r}")
        self.started = True
        _, _pc, _app_start, mem_start, _mem_len, _app_break = frame
        try:
            self._crt0(mem_start)
            main()
        except MpuFault:
            os._exit(1)
        except SystemExit:
            raise
        except Exception as exc:
            self.report_exception(sandbox.fault_text(exc))
        self.exit(0, 0)

    def _crt0(self, mem_start: int) -> None:
        stack = self.desc["stack"]
        stack_top = (mem_start + stack + 7) & ~7
        self.syscall(SyscallClass.MEMOP, Memop.BRK, stack_top, 0, 0).unwrap("crt0 brk")
        self.syscall(SyscallClass.MEMOP, Memop.STACK_TOP_HINT, stack_top, 0, 0)
        self.syscall(SyscallClass.MEMOP, Memop.HEAP_START_HINT, stack_top, 0, 0)
        self.heap.reset(stack_top, stack_top)
        # the byte yield-no-wait asks the kernel to write lives at the bottom of the stack
        self.yield_byte = mem_start


def flush_stdio() -> None:
    """Push what the app printed into its pipes (the process ends with os._exit)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


#: the C library, loaded once: an app forked from the zygote finds it loaded there
_libc: ctypes.CDLL | None = None


def _die_with_parent(parent: int) -> None:
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(0)


def main(argv: list[str] | None = None) -> NoReturn:
    global _current
    args = argv if argv is not None else sys.argv[1:]
    sock_fd, mem_fd, parent = int(args[0]), int(args[1]), int(args[2])
    _die_with_parent(parent)
    sandbox.close_fds_except([sock_fd, mem_fd, *landlock_rules.prepared_fds()])
    faulthandler.enable()  # a SIGSEGV (the mprotect backstop) leaves a Python traceback
    sock = socket.socket(fileno=sock_fd)
    sock.setblocking(True)
    mem_sock = socket.socket(fileno=mem_fd)
    mem_sock.setblocking(True)
    try:
        rt = Runtime(sock, mem_sock)
    except (WireError, MemoryProtocolError, OSError, ValueError) as e:
        raise SystemExit(f"tockd runtime: {e}") from None
    _current = rt
    random.seed(rt.desc.get("seed", 0))
    if rt.desc.get("virtual_time"):
        from apps_py.libtock import vtime

        vtime.install()
    try:
        limits = sandbox.apply_limits(
            rt.desc.get("sandbox", {}), rt.desc["ram_size"], module=rt.desc["module"]
        )
        module = importlib.import_module(rt.desc["module"])
        app_main = module.main
        if limits["seccomp"]:
            sandbox.install_strict_filter(sock.fileno(), mem_sock.fileno())
    except Exception as exc:
        rt.started = True
        rt.report_exception(sandbox.fault_text(exc))
    rt.run(app_main)


if __name__ == "__main__":
    # run the package's copy of this module, so `runtime.current()` sees this runtime
    from apps_py.libtock import runtime as _runtime

    _runtime.main()
