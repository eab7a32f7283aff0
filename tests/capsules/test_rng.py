"""RNG capsule (driver 0x40001) through the kernel's syscalls, against
capsules/core/src/rng.rs at release-2.2: fill read-write allow 0, then upcall 0 with
(0, bytes filled, 0). Bytes come from the kernel's seeded generator."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.capsules.rig import APPDATA, Rig, err, make_rig, ok
from tockd.kernel.abi import DriverNum, ErrorCode

RNG = int(DriverNum.RNG)
FILL = 1
DONE = 0
BUF = 0x200
GUARD = b"\xa5" * 8  # bytes just past the allowed buffer, which must stay as they are


def _fill(rig: Rig, size: int, want: int, index: int = 0) -> bytes:
    """App `index` allows `size` bytes and asks for `want`; the kernel runs its due
    work; returns the buffer (and the guard after it)."""
    proc = rig.kernel.processes[index]
    address = rig.put(proc, BUF, bytes(size) + GUARD)
    rig.allow_rw(proc, RNG, 0, address, size)
    assert rig.command(proc, RNG, FILL, want) == ok()
    rig.kernel.run_due_timers()  # the clock has not moved: the fill is due at once
    return rig.kernel.ram.read(address, size + len(GUARD))


def _done(rig: Rig, index: int = 0) -> list[tuple[int, int, int]]:
    proc = rig.kernel.processes[index]
    return [(t.arg0, t.arg1, t.arg2) for t in rig.upcalls(proc, RNG)]


def test_command_0_says_the_driver_exists(rig: Rig) -> None:
    assert rig.command(rig.app(), RNG, 0) == ok()


@pytest.mark.parametrize("cmd", [2, 3, 0xFFFF_FFFF])
def test_unknown_commands_are_nosupport(rig: Rig, cmd: int) -> None:
    assert rig.command(rig.app(), RNG, cmd, 8) == err(ErrorCode.NOSUPPORT)


def test_a_fill_whose_grant_cannot_be_allocated_is_nomem(rig: Rig) -> None:
    proc = rig.app()
    proc.adversity.add("grant_fail")
    assert rig.command(proc, RNG, FILL, 8) == err(ErrorCode.NOMEM)
    assert rig.kernel.next_deadline() is None  # nothing was started


def test_the_grant_has_one_upcall_and_one_read_write_allow(rig: Rig) -> None:
    """rng.rs: UpcallCount<1>, AllowRoCount<0>, AllowRwCount<1>."""
    proc = rig.app()
    fn, buf = proc.flash_start + 0x100, proc.mem_start + BUF
    assert rig.syscall(proc, 1, RNG, 1, fn, 0)[:2] == (2, ErrorCode.NOSUPPORT)
    assert rig.syscall(proc, 3, RNG, 1, buf, 4)[:2] == (2, ErrorCode.NOSUPPORT)
    assert rig.syscall(proc, 4, RNG, 0, buf, 4)[:2] == (2, ErrorCode.NOSUPPORT)


def test_a_fill_writes_random_bytes_then_upcalls_with_the_count(rig: Rig) -> None:
    proc = rig.app()
    fn = rig.subscribe(proc, RNG, DONE)
    out = _fill(rig, 64, 64)
    assert out[64:] == GUARD
    assert len(set(out[:64])) > 16  # 64 zero bytes would be no fill at all
    [task] = rig.upcalls(proc, RNG)
    assert (task.subscribe, task.fnptr, task.appdata) == (DONE, fn, APPDATA)
    assert (task.arg0, task.arg1, task.arg2) == (0, 64, 0)


@pytest.mark.parametrize(("size", "want", "filled"), [(32, 8, 8), (8, 32, 8)])
def test_a_fill_takes_the_smaller_of_the_request_and_the_buffer(
    rig: Rig, size: int, want: int, filled: int
) -> None:
    rig.subscribe(rig.app(), RNG, DONE)
    out = _fill(rig, size, want)
    assert out[filled:size] == bytes(size - filled)  # untouched past what was asked
    assert out[size:] == GUARD
    assert _done(rig) == [(0, filled, 0)]


def test_a_fill_with_no_buffer_reports_zero_bytes(rig: Rig) -> None:
    proc = rig.app()
    rig.subscribe(proc, RNG, DONE)
    assert rig.command(proc, RNG, FILL, 16) == ok()
    rig.kernel.run_due_timers()
    assert _done(rig) == [(0, 0, 0)]


def test_a_fill_for_a_process_that_died_meanwhile_is_dropped(rig: Rig) -> None:
    proc = rig.app()
    rig.subscribe(proc, RNG, DONE)
    address = rig.put(proc, BUF, bytes(16))
    rig.allow_rw(proc, RNG, 0, address, 16)
    rig.command(proc, RNG, FILL, 16)
    rig.kernel.terminate(proc, 0)
    rig.kernel.start(proc)
    rig.kernel.run_due_timers()
    assert _done(rig) == []
    assert rig.kernel.ram.read(address, 16) == bytes(16)


@given(seed=st.integers(0, 2**32 - 1), sizes=st.lists(st.integers(1, 200), max_size=5))
@settings(max_examples=30, deadline=None)
def test_the_same_seed_gives_the_same_bytes(seed: int, sizes: list[int]) -> None:
    """A controlled run is reproducible: two kernels of one seed fill alike."""
    runs = []
    for _ in range(2):
        with make_rig(seed=seed) as rig:
            rig.app()
            runs.append([_fill(rig, n, n) for n in sizes])
    assert runs[0] == runs[1]


def test_different_seeds_give_different_bytes() -> None:
    runs = []
    for seed in (1, 2):
        with make_rig(seed=seed) as rig:
            rig.app()
            runs.append(_fill(rig, 32, 32))
    assert runs[0] != runs[1]


def test_a_request_for_0_bytes_is_never_answered(rig: Rig) -> None:
    """rng.rs command 1 stores remaining = 0, and randomness_available serves only apps
    with remaining > 0: no fill, no upcall, ever."""
    rig.subscribe(rig.app(), RNG, DONE)
    out = _fill(rig, 16, 0)
    rig.advance(1.0)
    assert out[:16] == bytes(16)
    assert _done(rig) == []


def test_a_second_request_before_the_fill_replaces_the_first(rig: Rig) -> None:
    """rng.rs command 1 overwrites the app's (remaining, idx): one fill, of the second
    request's size, and one upcall."""
    proc = rig.app()
    rig.subscribe(proc, RNG, DONE)
    address = rig.put(proc, BUF, bytes(32) + GUARD)
    rig.allow_rw(proc, RNG, 0, address, 32)
    assert rig.command(proc, RNG, FILL, 32) == ok()
    assert rig.command(proc, RNG, FILL, 4) == ok()
    rig.advance(1.0)
    out = rig.kernel.ram.read(address, 32)
    assert out[4:] == bytes(28)  # the first request's 32 bytes were never filled
    assert _done(rig) == [(0, 4, 0)]


def test_a_request_of_0_cancels_a_waiting_one(rig: Rig) -> None:
    """The replacement is whole: asking for 0 bytes leaves remaining = 0, so the
    earlier request is not served either."""
    proc = rig.app()
    rig.subscribe(proc, RNG, DONE)
    address = rig.put(proc, BUF, bytes(8))
    rig.allow_rw(proc, RNG, 0, address, 8)
    assert rig.command(proc, RNG, FILL, 8) == ok()
    assert rig.command(proc, RNG, FILL, 0) == ok()
    rig.advance(1.0)
    assert rig.kernel.ram.read(address, 8) == bytes(8)
    assert _done(rig) == []


def test_a_request_after_the_fill_is_a_new_one(rig: Rig) -> None:
    rig.subscribe(rig.app(), RNG, DONE)
    _fill(rig, 8, 8)
    _fill(rig, 8, 3)
    assert _done(rig) == [(0, 8, 0), (0, 3, 0)]


def test_requests_of_two_apps_are_each_served(rig: Rig) -> None:
    for i in (0, 1):
        rig.subscribe(rig.app(i), RNG, DONE)
    _fill(rig, 8, 8, index=0)
    _fill(rig, 8, 5, index=1)
    assert (_done(rig, 0), _done(rig, 1)) == ([(0, 8, 0)], [(0, 5, 0)])
