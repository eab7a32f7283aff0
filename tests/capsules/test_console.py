"""Console capsule (driver 0x1) through the kernel's syscalls, against
capsules/core/src/console.rs at release-2.2: write (1), read (2), abort (3), and the
emulated UART's timing (a write is done when its bytes would have been sent)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.capsules.rig import APPDATA, Rig, err, make_rig, ok
from tockd.capsules.console import UART_BUFFER_SIZE, Console
from tockd.kernel.abi import DriverNum, ErrorCode
from tockd.kernel.process import State, TaskKind

CONSOLE = int(DriverNum.CONSOLE)
WRITE, READ, ABORT = 1, 2, 3
WRITE_DONE, READ_DONE = 1, 2
BUF = 0x100  # offset of the app's buffer in its RAM
BAUD = 115200
SECONDS_PER_BYTE = 10 / BAUD  # 8N1: ten bits on the wire per byte
HALF_BYTE = SECONDS_PER_BYTE / 2


def _console(rig: Rig) -> Console:
    capsule = rig.kernel.capsules[CONSOLE]
    assert isinstance(capsule, Console)
    return capsule


def _write(rig: Rig, index: int, data: bytes, count: int | None = None) -> None:
    """App `index` puts `data` in its buffer, allows it and asks to write `count`."""
    proc = rig.kernel.processes[index]
    address = rig.put(proc, BUF, data)
    rig.allow_ro(proc, CONSOLE, 1, address, len(data))
    n = len(data) if count is None else count
    assert rig.command(proc, CONSOLE, WRITE, n) == ok()


def _printed(rig: Rig, index: int | None = None) -> list[str]:
    return [e["text"] for e in rig.kinds("console") if index is None or e["index"] == index]


# ---- command numbers ---------------------------------------------------------------


def test_command_0_says_the_driver_exists(rig: Rig) -> None:
    assert rig.command(rig.app(), CONSOLE, 0) == ok()


@pytest.mark.parametrize("cmd", [4, 5, 0xFFFF_FFFF])
def test_unknown_commands_are_nosupport(rig: Rig, cmd: int) -> None:
    assert rig.command(rig.app(), CONSOLE, cmd) == err(ErrorCode.NOSUPPORT)


@pytest.mark.parametrize("cmd", [0, WRITE, READ, ABORT, 7])
def test_a_command_whose_grant_cannot_be_allocated_is_nomem(rig: Rig, cmd: int) -> None:
    proc = rig.app()
    proc.adversity.add("grant_fail")
    assert rig.command(proc, CONSOLE, cmd, 4) == err(ErrorCode.NOMEM)
    assert rig.kernel.grant_numbers[CONSOLE] not in proc.grant_ptrs


def test_command_0_enters_the_grant(rig: Rig) -> None:
    """console.rs (2.2) runs every command, "exists" included, inside `apps.enter`: the
    first command 0 allocates the grant (and answers NOMEM when it cannot, above)."""
    proc = rig.app()
    assert rig.kernel.grant_numbers[CONSOLE] not in proc.grant_ptrs
    assert rig.command(proc, CONSOLE, 0) == ok()
    assert rig.kernel.grant_numbers[CONSOLE] in proc.grant_ptrs


def test_the_grant_has_three_upcalls_and_two_allows_of_each_kind(rig: Rig) -> None:
    """console.rs: UpcallCount<3>, AllowRoCount<2>, AllowRwCount<2>."""
    proc = rig.app()
    fn = proc.flash_start + 0x100
    assert rig.syscall(proc, 1, CONSOLE, 2, fn, 0)[0] == 130
    assert rig.syscall(proc, 1, CONSOLE, 3, fn, 0)[:2] == (2, ErrorCode.NOSUPPORT)
    buf = proc.mem_start + BUF
    assert rig.syscall(proc, 4, CONSOLE, 1, buf, 8)[0] == 130
    assert rig.syscall(proc, 4, CONSOLE, 2, buf, 8)[:2] == (2, ErrorCode.NOSUPPORT)
    assert rig.syscall(proc, 3, CONSOLE, 1, buf, 8)[0] == 130
    assert rig.syscall(proc, 3, CONSOLE, 2, buf, 8)[:2] == (2, ErrorCode.NOSUPPORT)


# ---- write -------------------------------------------------------------------------


def test_a_write_appears_when_the_uart_has_sent_it_then_its_upcall(rig: Rig) -> None:
    proc = rig.app()
    fn = rig.subscribe(proc, CONSOLE, WRITE_DONE)
    _write(rig, 0, b"hello, tock\n")
    sent_at = 12 * SECONDS_PER_BYTE
    rig.advance(sent_at - HALF_BYTE)
    assert _printed(rig) == [] and rig.upcalls(proc) == []
    rig.advance(HALF_BYTE)
    assert _printed(rig, 0) == ["hello, tock\n"]
    [task] = rig.upcalls(proc)
    assert (task.driver, task.subscribe, task.fnptr) == (CONSOLE, WRITE_DONE, fn)
    assert (task.arg0, task.arg1, task.arg2, task.appdata) == (12, 0, 0, APPDATA)


@pytest.mark.parametrize(("count", "written"), [(3, b"abc"), (10, b"abcdef"), (0, b"")])
def test_a_write_takes_the_smaller_of_its_count_and_the_allow(
    rig: Rig, count: int, written: bytes
) -> None:
    """console.rs send_new: write_len = min(allow length, count); nothing goes on the
    wire for 0 bytes (the UART refuses it, the app hears at once)."""
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, WRITE_DONE)
    _write(rig, 0, b"abcdef", count)
    rig.advance(1.0)
    assert _printed(rig) == ([written.decode()] if written else [])
    assert [t.arg0 for t in rig.upcalls(proc)] == [len(written)]


def test_a_write_with_no_buffer_allowed_writes_nothing_and_says_so(rig: Rig) -> None:
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, WRITE_DONE)
    assert rig.command(proc, CONSOLE, WRITE, 100) == ok()
    rig.kernel.run_due_timers()
    assert [t.arg0 for t in rig.upcalls(proc)] == [0]


def test_a_write_reads_the_buffer_when_it_is_issued(rig: Rig) -> None:
    """The bytes are taken at the command (the kernel's copy into its UART buffer in
    console.rs `send`): changing the buffer while the UART sends changes nothing."""
    proc = rig.app()
    _write(rig, 0, b"first")
    rig.put(proc, BUF, b"XXXXX")
    rig.advance(1.0)
    assert _printed(rig) == ["first"]


def test_a_write_from_flash_sends_the_flash_bytes() -> None:
    """A read-only allow may name the app's flash (a string literal in C); console.rs
    copies from whichever buffer it is, so the text written is the flash's."""
    with make_rig(rodata=("from flash",)) as rig:
        proc = rig.app()
        [(address, length)] = rig.kernel.flash.image_at(proc.flash_start).rodata
        rig.allow_ro(proc, CONSOLE, 1, address, length)
        assert rig.command(proc, CONSOLE, WRITE, length) == ok()
        rig.advance(1.0)
        assert _printed(rig) == ["from flash"]


def test_a_write_done_is_dropped_if_the_writer_died_meanwhile(rig: Rig) -> None:
    """The chunk on the wire was already copied into the kernel's UART buffer, so it is
    sent; the rest of the write and its upcall die with the writer (console.rs
    transmitted_buffer enters the grant of a ProcessId that is gone)."""
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, WRITE_DONE)
    _write(rig, 0, b"x" * 64 + b"lost")
    rig.kernel.terminate(proc, 0)
    rig.kernel.start(proc)  # a new incarnation must not get the old one's upcall
    rig.advance(1.0)
    assert _printed(rig) == ["x" * 64]
    assert rig.upcalls(proc, CONSOLE) == []


def test_a_write_at_baud_0_completes_at_once() -> None:
    with make_rig(uart_baud=0) as rig:
        proc = rig.app()
        rig.subscribe(proc, CONSOLE, WRITE_DONE)
        _write(rig, 0, b"x" * 1000)
        rig.kernel.run_due_timers()  # the clock has not moved
        assert "".join(_printed(rig)) == "x" * 1000
        assert [t.arg0 for t in rig.upcalls(proc)] == [1000]


@given(
    st.lists(
        st.tuples(
            st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300),
            st.floats(min_value=0.0, max_value=0.05),
        ),
        max_size=8,
    )
)
@settings(max_examples=60, deadline=None)
def test_writes_of_any_length_arrive_whole_in_order_never_early(
    writes: list[tuple[str, float]],
) -> None:
    """An app that writes, waits for write-done, and writes again (libtock's putnstr)
    sees every write printed whole, in order, and never before the UART had time to
    send it; the upcall counts exactly the bytes written."""
    with make_rig() as rig:
        proc = rig.app()
        rig.subscribe(proc, CONSOLE, WRITE_DONE)
        for text, pause in writes:
            rig.advance(pause)  # the app does something else first
            started = rig.clock.t
            _write(rig, 0, text.encode())
            rig.advance(len(text) * SECONDS_PER_BYTE - HALF_BYTE if text else 0.0)
            if text:
                assert not rig.upcalls(proc), "write done before the UART could send it"
                rig.advance(SECONDS_PER_BYTE)  # half a byte after it is due
            [done] = rig.upcalls(proc)
            assert done.arg0 == len(text)
            assert rig.clock.t >= started + len(text) * SECONDS_PER_BYTE
            assert "".join(_printed(rig)).endswith(text)  # all of it, by write-done
            proc.queue.clear()  # the app took the upcall
        assert "".join(_printed(rig)) == "".join(text for text, _ in writes)
        assert all(len(chunk) <= UART_BUFFER_SIZE for chunk in _printed(rig))


def test_two_apps_writing_at_once_share_the_one_uart(rig: Rig) -> None:
    """console.rs has one UART: b's write waits, pending, until a's is sent, then
    takes as long again; each gets its text whole and one upcall."""
    a, b = rig.app(0), rig.app(1)
    for p in (a, b):
        rig.subscribe(p, CONSOLE, WRITE_DONE)
    _write(rig, 0, b"from a")
    _write(rig, 1, b"from b, longer")
    rig.advance(6 * SECONDS_PER_BYTE)
    assert _printed(rig) == ["from a"] and rig.upcalls(b) == []
    assert [t.arg0 for t in rig.upcalls(a)] == [6]
    rig.advance(14 * SECONDS_PER_BYTE - HALF_BYTE)
    assert rig.upcalls(b) == []  # b's bytes started only when a's were done
    rig.advance(HALF_BYTE)
    assert _printed(rig) == ["from a", "from b, longer"]
    assert [t.arg0 for t in rig.upcalls(b)] == [14]


# ---- read --------------------------------------------------------------------------


def _read(rig: Rig, index: int, size: int, count: int) -> int:
    proc = rig.kernel.processes[index]
    address = proc.mem_start + BUF
    rig.allow_rw(proc, CONSOLE, 1, address, size)
    assert rig.command(proc, CONSOLE, READ, count) == ok()
    return address


def test_input_typed_after_a_read_fills_the_buffer_then_upcalls(rig: Rig) -> None:
    proc = rig.app()
    fn = rig.subscribe(proc, CONSOLE, READ_DONE)
    address = _read(rig, 0, 16, 5)
    assert rig.upcalls(proc) == []
    _console(rig).feed_input(proc, b"hello world")
    assert rig.kernel.ram.read(address, 5) == b"hello"
    [task] = rig.upcalls(proc)
    assert (task.subscribe, task.fnptr, task.arg0, task.arg1, task.arg2) == (
        READ_DONE,
        fn,
        0,  # into_statuscode(Ok(())): success
        5,
        0,
    )
    assert rig.command(proc, CONSOLE, READ, 5) == ok()  # the read is over: no BUSY


def test_input_typed_before_a_read_waits_for_it_and_the_rest_for_the_next(rig: Rig) -> None:
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, READ_DONE)
    rig.app(1)
    rig.kernel.handle_syscall(proc, 2, CONSOLE, 0, 0, 0)  # allocates the grant
    _console(rig).feed_input(proc, b"abcdefgh")
    assert rig.upcalls(proc) == []  # no read asked yet
    address = _read(rig, 0, 16, 3)
    assert rig.kernel.ram.read(address, 3) == b"abc"
    assert [t.arg1 for t in rig.upcalls(proc)] == [3]
    assert rig.command(proc, CONSOLE, READ, 16) == ok()
    assert rig.kernel.ram.read(address, 5) == b"defgh"
    assert [t.arg1 for t in rig.upcalls(proc)] == [3, 5]


def test_a_read_is_bounded_by_the_allowed_buffer(rig: Rig) -> None:
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, READ_DONE)
    address = _read(rig, 0, 4, 100)
    rig.put(proc, BUF + 4, b"!")
    _console(rig).feed_input(proc, b"0123456789")
    assert rig.kernel.ram.read(address, 5) == b"0123!"  # not a byte past the allow
    assert [t.arg1 for t in rig.upcalls(proc)] == [4]


def test_input_goes_to_its_own_process_only(rig: Rig) -> None:
    a, b = rig.app(0), rig.app(1)
    for p in (a, b):
        rig.subscribe(p, CONSOLE, READ_DONE)
    _read(rig, 0, 8, 8)
    _read(rig, 1, 8, 8)
    _console(rig).feed_input(b, b"for b")
    assert rig.upcalls(a) == []
    assert rig.kernel.ram.read(b.mem_start + BUF, 5) == b"for b"


def test_abort_ends_the_read_with_cancel(rig: Rig) -> None:
    """console.rs command 3 aborts the UART receive; its received_buffer reports
    (into_statuscode(Err(CANCEL)), bytes received, 0) on upcall 2."""
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, READ_DONE)
    address = _read(rig, 0, 8, 8)
    assert rig.command(proc, CONSOLE, ABORT) == ok()
    [task] = rig.upcalls(proc)
    assert (task.subscribe, task.arg0, task.arg1) == (READ_DONE, int(ErrorCode.CANCEL), 0)
    _console(rig).feed_input(proc, b"late")
    assert len(rig.upcalls(proc)) == 1  # the aborted read takes nothing
    assert rig.kernel.ram.read(address, 4) != b"late"


def test_a_restart_forgets_input_typed_for_the_old_process(rig: Rig) -> None:
    proc = rig.app()
    rig.kernel.handle_syscall(proc, 2, CONSOLE, 1, 0, 0)  # allocates the grant
    _console(rig).feed_input(proc, b"old")
    rig.kernel.try_restart(proc, None)
    assert proc.state is not State.TERMINATED
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, READ_DONE)
    _read(rig, 0, 8, 8)
    assert [t for t in proc.queue if t.kind is TaskKind.FUNCTION_CALL] == []


# ---- release-2.2's one UART: chunks, replacement, the pending order ------------------


def test_a_long_write_goes_in_chunks_of_the_kernel_buffer_each_read_when_it_starts(
    rig: Rig,
) -> None:
    """console.rs `send` copies at most the kernel's UART buffer (64 bytes) out of the
    allow per transmission: bytes past the first chunk are read when their chunk
    starts, so a change before then is what gets sent."""
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, WRITE_DONE)
    _write(rig, 0, b"a" * 100)
    rig.put(proc, BUF + 90, b"CHANGED!")
    rig.advance(64 * SECONDS_PER_BYTE)
    assert _printed(rig) == ["a" * 64] and rig.upcalls(proc) == []
    rig.advance(36 * SECONDS_PER_BYTE)
    assert _printed(rig) == ["a" * 64, "a" * 26 + "CHANGED!" + "aa"]
    assert [t.arg0 for t in rig.upcalls(proc)] == [100]


def test_a_second_write_replaces_the_first_after_the_chunk_on_the_wire(rig: Rig) -> None:
    """console.rs send_new overwrites write_len and write_remaining; the UART is busy
    (with this app), so the write is pending until the chunk on the wire is sent; then
    the second write goes from its start, the rest of the first is never sent, and
    one upcall reports the second's length."""
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, WRITE_DONE)
    _write(rig, 0, b"1" * 200)
    rig.advance(10 * SECONDS_PER_BYTE)  # the first chunk is on the wire
    second = rig.put(proc, 0x400, b"second")
    rig.allow_ro(proc, CONSOLE, 1, second, 6)
    assert rig.command(proc, CONSOLE, WRITE, 6) == ok()
    rig.advance(1.0)
    assert _printed(rig) == ["1" * 64, "second"]
    assert [t.arg0 for t in rig.upcalls(proc)] == [6]


def test_pending_writers_go_in_process_array_order_not_request_order() -> None:
    """console.rs transmitted_buffer looks for a pending write with `apps.iter()`,
    which walks the process array: c asked before b, b goes first."""
    with make_rig(apps=3) as rig:
        procs = [rig.app(i) for i in range(3)]
        for p in procs:
            rig.subscribe(p, CONSOLE, WRITE_DONE)
        _write(rig, 0, b"a" * 10)
        _write(rig, 2, b"from c")
        _write(rig, 1, b"from b")
        rig.advance(1.0)
        assert _printed(rig) == ["a" * 10, "from b", "from c"]
        assert [len(rig.upcalls(p)) for p in procs] == [1, 1, 1]


def test_an_empty_write_while_another_app_sends_is_never_answered(rig: Rig) -> None:
    """A 0-byte write finding the UART busy is marked pending; when its turn comes,
    send_continue finds nothing remaining and returns false, and 2.2 schedules no
    upcall for it (only the write that held the UART is answered)."""
    a, b = rig.app(0), rig.app(1)
    for p in (a, b):
        rig.subscribe(p, CONSOLE, WRITE_DONE)
    _write(rig, 0, b"busy")
    assert rig.command(b, CONSOLE, WRITE, 0) == ok()
    rig.advance(1.0)
    assert [t.arg0 for t in rig.upcalls(a)] == [4]
    assert rig.upcalls(b) == []


def test_a_write_whose_allow_shrank_ends_with_what_was_sent(rig: Rig) -> None:
    """console.rs `send`: if the allow no longer holds the rest, the write is cut to
    what was sent. 2.2 then schedules the upcall twice: once where the UART refuses the
    empty transmit (with the bytes sent), once from transmitted_buffer (with 0)."""
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, WRITE_DONE)
    _write(rig, 0, b"z" * 100)
    rig.allow_ro(proc, CONSOLE, 1, proc.mem_start + BUF, 10)
    rig.advance(1.0)
    assert _printed(rig) == ["z" * 64]
    assert [t.arg0 for t in rig.upcalls(proc)] == [64, 0]


# ---- release-2.2's read checks ---------------------------------------------------------


def test_a_second_read_while_one_is_pending_is_busy(rig: Rig) -> None:
    """console.rs receive_new: the receive buffer is taken, BUSY; the first read goes
    on and gets the input."""
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, READ_DONE)
    address = _read(rig, 0, 8, 8)
    assert rig.command(proc, CONSOLE, READ, 4) == err(ErrorCode.BUSY)
    _console(rig).feed_input(proc, b"input")
    assert rig.kernel.ram.read(address, 5) == b"input"
    assert [(t.arg0, t.arg1) for t in rig.upcalls(proc)] == [(0, 5)]


@pytest.mark.parametrize(
    ("allowed", "count", "reply"),
    [
        (UART_BUFFER_SIZE + 1, 100, err(ErrorCode.INVAL)),
        (200, UART_BUFFER_SIZE + 1, err(ErrorCode.INVAL)),
        (200, UART_BUFFER_SIZE, ok()),
        (UART_BUFFER_SIZE, 1000, ok()),
        (8, 0, err(ErrorCode.SIZE)),
    ],
)
def test_a_read_longer_than_the_kernel_buffer_is_inval(
    rig: Rig, allowed: int, count: int, reply: tuple[int, int, int, int]
) -> None:
    """console.rs receive_new: read_len = min(allow length, count); more than the
    kernel's receive buffer (64) is INVAL, and the read does not start. A read of 0 is
    SIZE (the module's departures)."""
    proc = rig.app()
    rig.allow_rw(proc, CONSOLE, 1, proc.mem_start + BUF, allowed)
    assert rig.command(proc, CONSOLE, READ, count) == reply
    if reply != ok():  # no read is pending: another may start
        assert rig.command(proc, CONSOLE, READ, 8) == ok()


def test_abort_with_no_read_pending_schedules_nothing(rig: Rig) -> None:
    """console.rs command 3 asks the UART to abort; with no receive in progress no
    receive callback comes, so the app gets no upcall."""
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, READ_DONE)
    assert rig.command(proc, CONSOLE, ABORT) == ok()
    _read(rig, 0, 8, 8)
    _console(rig).feed_input(proc, b"ok")
    assert rig.command(proc, CONSOLE, ABORT) == ok()  # the read was over already
    assert [(t.arg0, t.arg1) for t in rig.upcalls(proc)] == [(0, 2)]


def test_an_abort_ends_only_the_aborting_apps_read(rig: Rig) -> None:
    """Departure (docs/conformance.md): each app has its own receive channel, so a's
    abort leaves b's read pending; in 2.2 one UART receive is shared and would end."""
    a, b = rig.app(0), rig.app(1)
    for p in (a, b):
        rig.subscribe(p, CONSOLE, READ_DONE)
    _read(rig, 0, 8, 8)
    _read(rig, 1, 8, 8)
    assert rig.command(a, CONSOLE, ABORT) == ok()
    assert rig.upcalls(b) == []
    _console(rig).feed_input(b, b"still")
    assert [(t.arg0, t.arg1) for t in rig.upcalls(b)] == [(0, 5)]
