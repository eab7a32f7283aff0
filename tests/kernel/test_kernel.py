"""The sans-IO kernel: arbitrary syscall registers never crash it, and Tock's rules hold."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tockd.board import build_kernel, parse_board
from tockd.kernel.abi import ReturnVariant
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import Process, State

BOARD = """
[board]
mpu = "{mpu}"
abi_echo = true
[[apps]]
name = "a"
module = "apps_py.hello"
[[apps]]
name = "b"
module = "apps_py.hello"
"""

interesting = st.sampled_from(
    [
        0,
        1,
        2,
        5,
        6,
        7,
        10,
        11,
        0x10,
        0x10000,
        0x40001,
        0xA0000,
        0x2000_0000,
        0x2000_0400,
        0x2000_1000,
        0x4_0100,
        0xFFFF_FFFF,
        0x8000_0000,
    ]
)
register = st.one_of(interesting, st.integers(min_value=0, max_value=0xFFFF_FFFF))


@pytest.fixture(params=["ideal", "cortex-m", "riscv-pmp"])
def kernel(request: pytest.FixtureRequest) -> Iterator[Kernel]:
    k = build_kernel(parse_board(BOARD.format(mpu=request.param)))
    yield k
    k.ram.close()


def _running(kernel: Kernel) -> Process:
    proc = kernel.processes[0]
    if proc.state is not State.RUNNING:
        kernel.next_delivery(proc)  # deliver _start
    proc.state = State.RUNNING
    return proc


@given(
    st.lists(
        st.tuples(st.integers(0, 7), register, register, register, register),
        min_size=1,
        max_size=40,
    )
)
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_syscalls_never_crash_the_kernel(
    kernel: Kernel, calls: list[tuple[int, ...]]
) -> None:
    for cls, r0, r1, r2, r3 in calls:
        proc = kernel.processes[0]
        if not proc.is_alive():
            break
        if proc.state is not State.RUNNING:
            proc.state = State.RUNNING
        out = kernel.handle_syscall(proc, cls, r0, r1, r2, r3)
        if out.reply is not None:
            assert out.reply[0] in {v.value for v in ReturnVariant}
            assert all(0 <= r <= 0xFFFF_FFFF for r in out.reply)
        # invariants Tock keeps whatever the app does
        assert proc.mem_start <= proc.app_break <= proc.kernel_memory_break <= proc.mem_end
        assert proc.allow_high_water_mark <= proc.kernel_memory_break
        assert len(proc.queue) <= 9  # Tock's 10-slot ring buffer holds 9
        kernel.run_due_timers()
    other = kernel.processes[1]
    assert other.state is State.YIELDED and len(other.queue) == 1  # untouched


def test_subscribe_purges_pending_function_calls(kernel: Kernel) -> None:
    proc = _running(kernel)
    flash_fn = proc.flash_start + 0x100
    assert kernel.handle_syscall(proc, 1, 0xA0000, 0, 0, 0).reply is not None
    kernel.handle_syscall(proc, 1, 0x0, 0, flash_fn, 5)  # alarm upcall 0
    alarm = kernel.capsules[0]
    for _ in range(3):
        alarm.schedule_upcall(proc, 0, 1, 2, 3)
    assert len(proc.queue) == 3
    kernel.handle_syscall(proc, 1, 0x0, 0, flash_fn + 4, 6)
    assert len(proc.queue) == 0


def test_null_upcall_events_are_queued_then_discarded(kernel: Kernel) -> None:
    proc = _running(kernel)
    kernel.handle_syscall(proc, 2, 0x0, 0, 0, 0)  # enter the alarm grant, no subscribe
    kernel.capsules[0].schedule_upcall(proc, 0, 1, 2, 3)
    assert len(proc.queue) == 1
    kernel.handle_syscall(proc, 0, 1, 0, 0, 0)  # yield-wait
    assert proc.ready()
    assert kernel.next_delivery(proc) is None  # discarded: the process sleeps on
    assert proc.state is State.YIELDED and not proc.queue


@pytest.mark.parametrize("mpu", ["ideal", "riscv-pmp"])  # byte/word-granular breaks
def test_grant_allocation_moves_kernel_break_and_fails_with_nomem(mpu: str) -> None:
    kernel = build_kernel(parse_board(BOARD.format(mpu=mpu)))
    proc = _running(kernel)
    kbrk = proc.kernel_memory_break
    assert kernel.handle_syscall(proc, 2, 0x1, 1, 0, 0).reply[0] == 128  # console grant
    assert proc.kernel_memory_break < kbrk
    # grow the heap right up to the grant region: the next grant no longer fits
    target = proc.kernel_memory_break - 1
    while kernel.handle_syscall(proc, 5, 0, target, 0, 0).reply[0] != 128:
        target -= 4
    reply = kernel.handle_syscall(proc, 1, 0x40001, 0, 0, 0).reply
    assert reply is not None and reply[:2] == (2, 9)  # SubscribeFailure(NOMEM)
    kernel.ram.close()


def test_rearming_the_alarm_keeps_one_timer(kernel: Kernel) -> None:
    proc = _running(kernel)
    for _ in range(1000):
        assert kernel.handle_syscall(proc, 2, 0x0, 5, 1_000_000, 0).reply is not None
    assert len(kernel._timers) == 1
    kernel.handle_syscall(proc, 2, 0x0, 3, 0, 0)  # stop
    assert kernel._timers == []


def test_the_upcall_queue_holds_nine_and_the_tenth_is_dropped(kernel: Kernel) -> None:
    """Tock's queue is a 10-slot ring buffer whose is_full is head == (tail + 1) % len:
    it holds 9 tasks (release-2.2 kernel/src/collections/ring_buffer.rs)."""
    proc = _running(kernel)
    flash_fn = proc.flash_start + 0x100
    kernel.handle_syscall(proc, 1, 0x0, 0, flash_fn, 5)  # alarm upcall 0
    alarm = kernel.capsules[0]
    results = [alarm.schedule_upcall(proc, 0, i, 0, 0) for i in range(10)]
    assert results == ["Ok(())"] * 9 + ["Err(QueueFull)"]
    assert len(proc.queue) == 9
    assert proc.dropped_upcall_count == 1
