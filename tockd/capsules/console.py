"""Console capsule, driver 0x1 (capsules/core/src/console.rs, release-2.2).

- command 0: exists; 1: write; 2: read; 3: abort a read. Every command, 0 included,
  runs inside the process's grant (console.rs `apps.enter`), so any of them answers
  NOMEM when the grant cannot be allocated.
- subscribe 1: write done (bytes written); subscribe 2: read done (status, bytes read).
- read-only allow 1: the bytes to write; read-write allow 1: where read bytes go.

Writes follow console.rs exactly. The board has one UART with one kernel transmit
buffer of UART_BUFFER_SIZE bytes. A write sends its bytes in chunks of that size, each
copied out of the allow when its chunk starts; the app keeps the UART until its last
chunk is sent, then gets one write-done upcall. A write issued while the UART is busy
is marked pending; when the UART frees, the first process in the process array with a
pending write goes next (`transmitted_buffer`). A second write from an app while its
first is still sending replaces the first: the chunk on the wire finishes, the rest of
the first is dropped, the second is sent from its start, and the app gets one upcall,
with the second's length. The text of each chunk is published as a `console` event
when the emulated UART (board `uart_baud`, 115200 by default) has sent it, even if its
writer died meanwhile (the bytes were already in the kernel's buffer); the daemon
prints it prefixed with the app's name.

Reads follow console.rs in their checks: a read of more than UART_BUFFER_SIZE bytes
(after the allow bounds it) is INVAL, a second read while one is pending is BUSY, an
abort with no read pending schedules nothing, an abort of a pending read ends it with
upcall 2 (CANCEL, bytes so far, 0). Departures, on purpose (docs/conformance.md):

- input is addressed: `tockd console NAME TEXT` types for one app, and each app has its
  own receive channel, so BUSY and abort concern only the app's own read, and input
  typed before a read waits for it. Tock has one UART receiver shared by all apps and
  drops bytes that arrive while no read is pending. A host has no single keyboard wire
  whose bytes race the apps' reads; per-app input keeps tests and demos deterministic.
- a read ends as soon as some input is there (up to its length), as a line-oriented
  getnstr would want; Tock's UART waits for all `read_len` bytes. Text is typed whole
  through the control socket, so waiting for a count would hang on a short line.
- a read of 0 bytes is SIZE, as the receive of most of 2.2's UART drivers answers it
  (chips/apollo3, esp32, lowrisc, msp432 `receive_buffer`); which error depends on the
  chip in Tock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tockd.capsules.base import Capsule
from tockd.contract import events as ev
from tockd.contract.drivers import (
    CONSOLE_ALLOW_READ,
    CONSOLE_ALLOW_WRITE,
    CONSOLE_UPCALL_READ,
    CONSOLE_UPCALL_WRITE,
    ConsoleCommand,
)
from tockd.contract.events import EventKind
from tockd.kernel.abi import DriverNum, ErrorCode
from tockd.kernel.grant import ForgedGrant, Grant, GrantError, GrantSpec
from tockd.kernel.syscall import SUCCESS, SyscallReturn, failure

if TYPE_CHECKING:
    from collections.abc import Callable

    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process

#: console.rs DEFAULT_BUF_SIZE: the kernel's UART transmit and receive buffers, as
#: every 2.2 board passes them (components/src/console.rs)
UART_BUFFER_SIZE = 64
#: 8N1 framing: ten bits on the wire per byte
BITS_PER_BYTE = 10
#: into_statuscode(Ok(())): the status of a read that ended normally
STATUS_OK = 0


@dataclass(frozen=True)
class _Chunk:
    """The UART's one transmission in flight: whose, of which incarnation, which bytes."""

    proc: Process
    ident: int
    data: bytes
    done_at: float


class Console(Capsule):
    driver_num = int(DriverNum.CONSOLE)
    # console.rs `App` {write_len, write_remaining, pending_write, read_len}
    grant_spec = GrantSpec(
        DriverNum.CONSOLE,
        upcalls=3,
        allow_ro=2,
        allow_rw=2,
        state_format="IIIB",
        state_fields=("write_len", "write_remaining", "read_len", "pending_write"),
    )

    def __init__(self, kernel: Kernel, baud: int = 115200) -> None:
        super().__init__(kernel)
        self.seconds_per_byte = BITS_PER_BYTE / baud if baud else 0.0
        self._input: dict[int, bytearray] = {}
        #: console.rs tx_in_progress (with the bytes on the wire)
        self._tx: _Chunk | None = None
        #: when the UART went free, while its done callback runs: the next chunk starts
        #: then, not at the (possibly later) moment the kernel got round to it
        self._freed_at: float | None = None
        #: console.rs rx_in_progress, one per app (see the module's departures)
        self._reading: set[int] = set()

    def command(self, proc: Process, cmd: int, arg0: int, arg1: int) -> SyscallReturn:
        try:
            grant = self.enter(proc)
        except GrantError:
            return failure(ErrorCode.NOMEM)
        if cmd == ConsoleCommand.EXISTS:
            return SUCCESS
        if cmd == ConsoleCommand.WRITE:
            self._send_new(proc, grant, arg0)
            return SUCCESS
        if cmd == ConsoleCommand.READ:
            return self._receive_new(proc, grant, arg0)
        if cmd == ConsoleCommand.ABORT_READ:
            self._abort_read(proc)
            return SUCCESS
        return failure(ErrorCode.NOSUPPORT)

    # ---- write: console.rs send_new / send / send_continue / transmitted_buffer -------

    def _send_new(self, proc: Process, grant: Grant, count: int) -> None:
        """A new write replaces whatever the app was writing (console.rs send_new)."""
        _ptr, length = grant.allow_ro(CONSOLE_ALLOW_WRITE)
        write_len = min(length, count)
        grant.set_state(write_len=write_len, write_remaining=write_len)
        self._send(proc, grant)

    def _send(self, proc: Process, grant: Grant) -> None:
        """Put the app's next chunk on the UART, or mark it pending if the UART is busy."""
        if self._tx is not None:
            grant.set_state(pending_write=1)
            return
        state = grant.state()
        write_len, remaining = state["write_len"], state["write_remaining"]
        data = self._next_chunk(proc, grant, write_len, remaining)
        if data is None:  # the allow shrank under the write: console.rs aborts it
            write_len, remaining, data = write_len - remaining, 0, b""
        grant.set_state(write_len=write_len, write_remaining=remaining - len(data))
        if data:
            self._transmit(proc, data)
            return
        # the UART refuses a 0-byte transmit (virtual_uart.rs: SIZE), so no done
        # callback will come: the app hears now, of what was written
        grant.set_state(write_len=0)
        self.schedule_upcall(proc, CONSOLE_UPCALL_WRITE, write_len, 0, 0)

    def _next_chunk(
        self, proc: Process, grant: Grant, write_len: int, remaining: int
    ) -> bytes | None:
        """Up to UART_BUFFER_SIZE bytes of the allow from where the write stands; None if
        the allow no longer holds them."""
        ptr, length = grant.allow_ro(CONSOLE_ALLOW_WRITE)
        start = write_len - remaining
        if start < 0 or write_len > length:
            return None
        n = min(remaining, UART_BUFFER_SIZE)
        if n == 0:
            return b""
        if proc.in_ram(ptr + start, n):
            self.kernel.touch("p", proc.index)  # the app's memory, maybe while it runs
            return self.kernel.ram.read(ptr + start, n)
        if proc.in_flash(ptr + start, n):
            # a string in flash (console.rs copies from any read-only buffer)
            return self.kernel.read_flash(proc, ptr + start, n)
        return None

    def _transmit(self, proc: Process, data: bytes) -> None:
        start = self.kernel.now() if self._freed_at is None else self._freed_at
        done_at = start + len(data) * self.seconds_per_byte
        self._tx = _Chunk(proc, proc.identifier, data, done_at)
        self.kernel.set_timer(done_at, self._transmitted, f"console {proc.index}")

    def _transmitted(self) -> None:
        """The UART sent its chunk (console.rs transmitted_buffer): the text appears;
        the writer goes on or hears it is done; else the next pending writer goes."""
        chunk, self._tx = self._tx, None
        assert chunk is not None, "a UART timer with nothing on the wire"
        if self.kernel.events.active:
            self.kernel.emit(
                ev.Console(kind=EventKind.CONSOLE, text=chunk.data.decode("utf-8", "replace")),
                chunk.proc,
            )
        self._freed_at = chunk.done_at
        try:
            grant = self._grant_of(chunk.proc, chunk.ident)
            if grant is not None:
                self._guarded(chunk.proc, self._continue_or_finish, chunk.proc, grant)
            if self._tx is None:
                self._serve_pending()
        finally:
            self._freed_at = None

    def _continue_or_finish(self, proc: Process, grant: Grant) -> None:
        if self._send_continue(proc, grant):
            return
        written = grant.state()["write_len"]
        grant.set_state(write_len=0)
        self.schedule_upcall(proc, CONSOLE_UPCALL_WRITE, written, 0, 0)

    def _send_continue(self, proc: Process, grant: Grant) -> bool:
        """Send more of the app's write; True if a chunk is now on the wire."""
        if grant.state()["write_remaining"] == 0:
            return False
        self._send(proc, grant)
        return self._tx is not None

    def _serve_pending(self) -> None:
        """The UART is free: the first process, in array order, with a pending write
        goes (console.rs iterates `apps`, which walks the process array)."""
        for proc in self.kernel.processes:
            grant = self._grant_of(proc, proc.identifier)
            if grant is not None and self._guarded(proc, self._start_pending, proc, grant):
                return

    def _start_pending(self, proc: Process, grant: Grant) -> bool:
        if not grant.state()["pending_write"]:
            return False
        grant.set_state(pending_write=0)
        return self._send_continue(proc, grant)

    # ---- read ---------------------------------------------------------------------------

    def _receive_new(self, proc: Process, grant: Grant, count: int) -> SyscallReturn:
        """console.rs receive_new, on the app's own channel."""
        if proc.identifier in self._reading:
            return failure(ErrorCode.BUSY)
        _ptr, length = grant.allow_rw(CONSOLE_ALLOW_READ)
        read_len = min(length, count)
        if read_len > UART_BUFFER_SIZE:
            return failure(ErrorCode.INVAL)
        if read_len == 0:
            return failure(ErrorCode.SIZE)
        grant.set_state(read_len=read_len)
        self._reading.add(proc.identifier)
        self._try_read(proc)
        return SUCCESS

    def _abort_read(self, proc: Process) -> None:
        """console.rs command 3 aborts the receive: a pending read ends with CANCEL and
        the bytes received so far (none: a read takes input as soon as it is there)."""
        if proc.identifier not in self._reading:
            return
        self._reading.discard(proc.identifier)
        self.schedule_upcall(proc, CONSOLE_UPCALL_READ, int(ErrorCode.CANCEL), 0, 0)

    def feed_input(self, proc: Process, data: bytes) -> None:
        """Bytes typed for `proc` (from the control socket)."""
        self._input.setdefault(proc.identifier, bytearray()).extend(data)
        self._guarded(proc, self._try_read, proc)

    def _try_read(self, proc: Process) -> None:
        grant = self.kernel.grant_if_allocated(proc, self.grant_spec)
        pending = self._input.get(proc.identifier)
        if grant is None or not pending or proc.identifier not in self._reading:
            return
        want = grant.state()["read_len"]
        ptr, length = grant.allow_rw(CONSOLE_ALLOW_READ)
        n = min(want, length, len(pending))
        if n == 0 or not proc.in_ram(ptr, n):
            return
        self.kernel.ram.write(ptr, bytes(pending[:n]))
        del pending[:n]
        self._reading.discard(proc.identifier)
        self.schedule_upcall(proc, CONSOLE_UPCALL_READ, STATUS_OK, n, 0)

    # ---- helpers ------------------------------------------------------------------------

    def _grant_of(self, proc: Process, ident: int) -> Grant | None:
        """`proc`'s console grant if it is still the incarnation `ident` (Tock's enter
        with a stale ProcessId fails)."""
        if proc.identifier != ident or not proc.is_alive():
            return None
        return self.kernel.grant_if_allocated(proc, self.grant_spec)

    def _guarded(self, proc: Process, step: Callable[..., object], *args: object) -> bool:
        """Run kernel work on `proc`'s grant outside a syscall: a forged value faults
        its owner and the step counts as not done, so the UART is never left stuck."""
        try:
            return bool(step(*args))
        except ForgedGrant as e:
            self.kernel.forged_grant(e)
            return False

    def release(self, proc: Process) -> None:
        self._input.pop(proc.identifier, None)
        self._reading.discard(proc.identifier)
