"""Console capsule (driver 0x1) through the kernel's syscalls, against
capsules/core/src/console.rs at release-2.2: write (1), read (2), abort (3), and the
emulated UART's timing (a write is done when its bytes would have been sent)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.capsules.rig import APPDATA, Rig, err, make_rig, ok
from tockd.capsules.console import Console
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


@pytest.mark.parametrize("cmd", [WRITE, READ, ABORT])
def test_a_command_whose_grant_cannot_be_allocated_is_nomem(rig: Rig, cmd: int) -> None:
    proc = rig.app()
    proc.adversity.add("grant_fail")
    assert rig.command(proc, CONSOLE, cmd, 4) == err(ErrorCode.NOMEM)
    assert rig.kernel.grant_numbers[CONSOLE] not in proc.grant_ptrs


def test_command_0_enters_no_grant(rig: Rig) -> None:
    """Departure: console.rs (2.2) runs command 0 inside `apps.enter`, so a process
    whose console grant cannot be allocated gets NOMEM even for "exists"; tockd answers
    Success without allocating the grant."""
    proc = rig.app()
    proc.adversity.add("grant_fail")
    assert rig.command(proc, CONSOLE, 0) == ok()
    assert rig.kernel.grant_numbers[CONSOLE] not in proc.grant_ptrs


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
    """console.rs send_new: write_len = min(allow length, count)."""
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, WRITE_DONE)
    _write(rig, 0, b"abcdef", count)
    rig.advance(1.0)
    assert _printed(rig) == [written.decode()]
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
    proc = rig.app()
    rig.subscribe(proc, CONSOLE, WRITE_DONE)
    _write(rig, 0, b"lost")
    rig.kernel.terminate(proc, 0)
    rig.kernel.start(proc)  # a new incarnation must not get the old one's upcall
    rig.advance(1.0)
    assert _printed(rig) == [] and rig.upcalls(proc, CONSOLE) == []


def test_a_write_at_baud_0_completes_at_once() -> None:
    with make_rig(uart_baud=0) as rig:
        proc = rig.app()
        rig.subscribe(proc, CONSOLE, WRITE_DONE)
        _write(rig, 0, b"x" * 1000)
        rig.kernel.run_due_timers()  # the clock has not moved
        assert _printed(rig) == ["x" * 1000]
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
            proc.queue.clear()  # the app took the upcall
        assert "".join(_printed(rig)) == "".join(text for text, _ in writes)
        assert _printed(rig) == [text for text, _ in writes]


def test_two_apps_writing_at_once_each_get_their_text_whole(rig: Rig) -> None:
    a, b = rig.app(0), rig.app(1)
    _write(rig, 0, b"from a")
    _write(rig, 1, b"from b, longer")
    rig.advance(1.0)
    assert _printed(rig, a.index) == ["from a"]
    assert _printed(rig, b.index) == ["from b, longer"]


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
    assert rig.state(proc, _console(rig).grant_spec)["read_len"] == 0  # read is over


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
