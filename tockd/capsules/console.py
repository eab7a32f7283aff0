"""Console capsule, driver 0x1 (capsules/core/src/console.rs).

- command 0: exists.
- command 1: write `arg0` bytes from read-only allow 1; upcall 1 when done (bytes written).
- command 2: read up to `arg0` bytes into read-write allow 1; upcall 2 (status, bytes read).
- command 3: abort a pending read.
- subscribe 1: write done; subscribe 2: read done.
- read-only allow 1: the write buffer; read-write allow 1: the read buffer.

The kernel reads the write buffer straight out of the shared RAM (no copy over the
socket) and publishes it as a `console` event when the emulated UART (board `uart_baud`,
115200 by default) has sent it; the daemon prints it prefixed with the app's name.
Input comes from the control socket (`tockd console NAME TEXT`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.capsules.base import Capsule
from tockd.kernel.abi import DriverNum, ErrorCode
from tockd.kernel.grant import ForgedGrant, GrantError, GrantSpec
from tockd.kernel.syscall import SUCCESS, SyscallReturn, failure

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process


class Console(Capsule):
    driver_num = int(DriverNum.CONSOLE)
    grant_spec = GrantSpec(
        DriverNum.CONSOLE,
        upcalls=3,
        allow_ro=2,
        allow_rw=2,
        state_format="II",
        state_fields=("write_len", "read_len"),
    )

    def __init__(self, kernel: Kernel, baud: int = 115200) -> None:
        super().__init__(kernel)
        # a write completes when the UART would have sent it: 10 bits a byte
        self.seconds_per_byte = 10 / baud if baud else 0.0
        self._input: dict[int, bytearray] = {}

    def command(self, proc: Process, cmd: int, arg0: int, arg1: int) -> SyscallReturn:
        if cmd == 0:
            return SUCCESS
        try:
            grant = self.enter(proc)
        except GrantError:
            return failure(ErrorCode.NOMEM)
        if cmd == 1:
            ptr, length = grant.allow_ro(1)
            n = min(arg0, length)
            data = b""
            if n and proc.in_ram(ptr, n):
                data = self.kernel.ram.read(ptr, n)
            elif n and proc.in_flash(ptr, n):
                # a string in flash (console.rs copies from any read-only buffer)
                data = self.kernel.read_flash(proc, ptr, n)
            ident = proc.identifier
            done_at = self.kernel.clock() + len(data) * self.seconds_per_byte
            self.kernel.set_timer(
                done_at, lambda: self._write_done(proc, ident, data), f"console {proc.index}"
            )
            return SUCCESS
        if cmd == 2:
            grant.set_state(read_len=arg0)
            self._try_read(proc)
            return SUCCESS
        if cmd == 3:
            grant.set_state(read_len=0)
            self.schedule_upcall(proc, 2, int(ErrorCode.CANCEL), 0, 0)
            return SUCCESS
        return failure(ErrorCode.NOSUPPORT)

    def _write_done(self, proc: Process, ident: int, data: bytes) -> None:
        """The UART finished: the text appears, then the write-done upcall."""
        if proc.identifier == ident and proc.is_alive():
            self.kernel.emit("console", proc, text=data.decode("utf-8", "replace"))
            self.schedule_upcall(proc, 1, len(data), 0, 0)

    def feed_input(self, proc: Process, data: bytes) -> None:
        """Bytes typed for `proc` (from the control socket)."""
        self._input.setdefault(proc.identifier, bytearray()).extend(data)
        try:
            self._try_read(proc)
        except ForgedGrant as e:  # not a syscall: the kernel boundary is here
            self.kernel.forged_grant(e)

    def _try_read(self, proc: Process) -> None:
        grant = self.kernel.grant_if_allocated(proc, self.grant_spec)
        pending = self._input.get(proc.identifier)
        if grant is None or not pending:
            return
        want = grant.state()["read_len"]
        ptr, length = grant.allow_rw(1)
        n = min(want, length, len(pending))
        if n == 0 or not proc.in_ram(ptr, n):
            return
        self.kernel.ram.write(ptr, bytes(pending[:n]))
        del pending[:n]
        grant.set_state(read_len=0)
        self.schedule_upcall(proc, 2, 0, n, 0)

    def release(self, proc: Process) -> None:
        self._input.pop(proc.identifier, None)
