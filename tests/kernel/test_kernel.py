"""The sans-IO kernel: arbitrary syscall registers never crash it, and Tock's rules hold."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tockd.board import build_kernel, parse_board
from tockd.kernel.abi import UPCALL_QUEUE_CAPACITY, ReturnVariant
from tockd.kernel.footprint import Footprint, conflicts
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import Process, State
from tockd.kernel.upcall import AGAIN, UpcallResult

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


def test_one_task_at_a_time_says_again_past_a_task_that_hands_nothing(kernel: Kernel) -> None:
    """The daemon takes one task per call (`one_task`), so the lab can end a step
    between a discarded null upcall and the upcall queued behind it; the result is the
    same as taking them in one call."""
    proc = _running(kernel)
    flash_fn = proc.flash_start + 0x100
    kernel.handle_syscall(proc, 2, 0x0, 0, 0, 0)  # enter the alarm grant, no subscribe
    alarm = kernel.capsules[0]
    alarm.schedule_upcall(proc, 0, 1, 2, 3)  # a null upcall: queued, then discarded
    kernel.handle_syscall(proc, 1, 0x0, 0, flash_fn, 5)  # now subscribed
    alarm.schedule_upcall(proc, 0, 4, 5, 6)
    kernel.handle_syscall(proc, 0, 1, 0, 0, 0)  # yield-wait
    assert kernel.next_delivery(proc, one_task=True) is AGAIN
    assert len(proc.queue) == 1 and proc.state is State.YIELDED
    assert kernel.next_delivery(proc, one_task=True) == ("upcall", (flash_fn, 4, 5, 6, 5))
    assert proc.state is State.RUNNING


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
    assert len(kernel.timers) == 1
    kernel.handle_syscall(proc, 2, 0x0, 3, 0, 0)  # stop
    assert len(kernel.timers) == 0


def test_the_upcall_queue_holds_nine_and_the_tenth_is_dropped(kernel: Kernel) -> None:
    """Tock's queue is a 10-slot ring buffer whose is_full is head == (tail + 1) % len:
    it holds 9 tasks (release-2.2 kernel/src/collections/ring_buffer.rs)."""
    proc = _running(kernel)
    flash_fn = proc.flash_start + 0x100
    kernel.handle_syscall(proc, 1, 0x0, 0, flash_fn, 5)  # alarm upcall 0
    alarm = kernel.capsules[0]
    results = [alarm.schedule_upcall(proc, 0, i, 0, 0) for i in range(10)]
    assert results == [UpcallResult.OK] * 9 + [UpcallResult.QUEUE_FULL]
    assert [r.debug() for r in results[-2:]] == ["Ok(())", "Err(QueueFull)"]
    assert len(proc.queue) == 9
    assert proc.dropped_upcall_count == 1


def _ready_both(kernel: Kernel) -> tuple[Process, Process]:
    a, b = kernel.processes[0], kernel.processes[1]
    for p in (a, b):
        kernel.next_delivery(p)  # deliver _start
        p.state = State.RUNNING
    return a, b


def test_an_ipc_task_queued_after_the_awaited_upcall_does_not_hide_it(kernel: Kernel) -> None:
    """release-2.2 kernel.rs: a YieldedFor process takes the awaited upcall from anywhere
    in its queue (`remove_upcall`); no flag that a later task could clear."""
    a, b = _ready_both(kernel)
    kernel.handle_syscall(a, 1, 0x0, 0, a.flash_start + 0x100, 0)  # alarm upcall 0
    kernel.handle_syscall(a, 0, 2, 0x0, 0, 0)  # yield-wait-for (alarm, 0)
    assert a.state is State.YIELDED_FOR and not a.ready()
    kernel.capsules[0].schedule_upcall(a, 0, 7, 8, 9)
    assert a.ready()
    assert kernel.handle_syscall(b, 2, 0x10000, 2, a.index, 0).reply is not None  # notify a
    assert [t.kind.value for t in a.queue] == ["FunctionCall", "IPC"]
    assert a.ready()
    assert kernel.next_delivery(a) == ("return", (7, 8, 9, 0))
    assert [t.kind.value for t in a.queue] == ["IPC"]  # 2.2 never serves IPC in YieldedFor


def test_a_yield_for_with_only_other_tasks_queued_sleeps(kernel: Kernel) -> None:
    a, b = _ready_both(kernel)
    kernel.handle_syscall(a, 0, 2, 0x0, 0, 0)
    kernel.handle_syscall(b, 2, 0x10000, 2, a.index, 0)
    assert not a.ready() and kernel.next_delivery(a) is None
    assert a.state is State.YIELDED_FOR and len(a.queue) == 1


def test_boot_of_a_terminated_process_counts_as_a_restart(kernel: Kernel) -> None:
    """release-2.2 process_standard.rs: start() is reset(), which raises restart_count."""
    a = _running(kernel)
    kernel.terminate(a, 0)
    assert kernel.start(a)
    assert a.restart_count == 1
    kernel.try_restart(a, None)
    assert a.restart_count == 2


def _grant_table(kernel: Kernel, proc: Process) -> list[tuple[int, ...]]:
    n = len(kernel.grant_numbers)
    table = proc.mem_end - 8 * n
    return [kernel.ram.unpack("<II", table + 8 * i) for i in range(n)]


def test_the_grant_table_holds_driver_zero_until_a_grant_is_allocated(kernel: Kernel) -> None:
    """2.2 process loading and terminate's grant_ptrs_reset write (0, null) entries;
    allocating a grant writes (driver_num, pointer)."""
    a = _running(kernel)
    assert set(_grant_table(kernel, a)) == {(0, 0)}
    kernel.handle_syscall(a, 1, 0x0, 0, 0, 0)  # subscribe: allocates the alarm grant
    entry = _grant_table(kernel, a)[kernel.grant_numbers[0x0]]
    assert entry == (0x0, a.kernel_memory_break)
    kernel.handle_syscall(a, 1, 0x1, 0, 0, 0)  # the console's
    assert _grant_table(kernel, a)[kernel.grant_numbers[0x1]] == (0x1, a.kernel_memory_break)
    kernel.terminate(a, 0)
    assert set(_grant_table(kernel, a)) == {(0, 0)}


def test_tock_mode_zeroes_no_memory_on_brk_or_restart(kernel: Kernel) -> None:
    """2.2 brk and reset leave memory as it was; only hardened zero_on_restart clears."""
    a = _running(kernel)
    kernel.handle_syscall(a, 1, 0x0, 0, a.flash_start + 0x100, 0x5EC)  # alarm grant
    grant = a.kernel_memory_break
    old_grant = kernel.ram.read(grant, 16)
    assert any(old_grant)
    kernel.ram.write(a.app_break, b"above the break")
    kernel.handle_syscall(a, 5, 0, a.app_break + 64, 0, 0)  # brk over it
    assert kernel.ram.read(a.app_break - 64, 15) == b"above the break"
    kernel.try_restart(a, None)
    assert kernel.ram.read(grant, 16) == old_grant  # the old grant, still there
    kernel.hardened["zero_on_restart"] = True
    kernel.try_restart(a, None)
    assert not any(kernel.ram.read(grant, 16))
    assert not any(kernel.ram.read(a.mem_start, a.kernel_memory_break - a.mem_start))


HARDENED_BOARD = """
[board]
mpu = "ideal"
kernel_mode = "hardened"
[[apps]]
name = "svc"
module = "apps_py.hello"
ipc_service = true
[[apps]]
name = "client"
module = "apps_py.hello"
[[apps]]
name = "other"
module = "apps_py.hello"
"""


def test_held_notifies_are_bounded_one_per_client() -> None:
    """Hardened queue_until_subscribed holds at most one notify per (service, client);
    a repeat from the same client merges into it and is recorded as lost."""
    kernel = build_kernel(parse_board(HARDENED_BOARD))
    events: list[dict[str, object]] = []
    kernel.events.subscribe(events.append)
    try:
        svc, client, other = kernel.processes
        for p in (svc, client, other):
            kernel.next_delivery(p)
            p.state = State.RUNNING
        for _ in range(5):
            kernel.handle_syscall(client, 2, 0x10000, 2, svc.index, 0)
        kernel.handle_syscall(other, 2, 0x10000, 2, svc.index, 0)
        kernel.handle_syscall(svc, 0, 1, 0, 0, 0)  # yield-wait: IPC tasks reach delivery
        assert kernel.next_delivery(svc) is None
        ipc = kernel.capsules[0x10000]
        assert [t.subscribe for t in ipc.parked[svc.identifier]] == [client.index, other.index]
        merged = [e for e in events if e["kind"] == "ipc_dropped"]
        assert len(merged) == 4 and all("merged" in str(e["reason"]) for e in merged)
        assert kernel.handle_syscall(client, 2, 0x10000, 4, 0, 0).reply == (129, 4, 0, 0)
        kernel.handle_syscall(svc, 1, 0x10000, svc.index, svc.flash_start + 0x100, 0)
        assert [t.kind.value for t in svc.queue] == ["IPC", "IPC"]
    finally:
        kernel.ram.close()


def test_the_hardened_grant_floor_holds_only_while_a_window_is_open() -> None:
    kernel = build_kernel(parse_board(HARDENED_BOARD))
    try:
        svc, client, _ = kernel.processes
        for p in kernel.processes:
            kernel.next_delivery(p)
            p.state = State.RUNNING
        kernel.handle_syscall(svc, 1, 0x10000, svc.index, svc.flash_start + 0x100, 0)
        kernel.handle_syscall(client, 5, 0, client.mem_start + 1024, 0, 0)  # brk
        buf = client.mem_start + 256
        assert kernel.handle_syscall(client, 3, 0x10000, svc.index, buf, 64).reply[0] == 130
        assert kernel.grant_floor(client) == 0  # allowed, but no one maps it yet
        kernel.handle_syscall(client, 2, 0x10000, 2, svc.index, 0)
        kernel.handle_syscall(svc, 0, 1, 0, 0, 0)
        assert kernel.next_delivery(svc) is not None  # the notify, window opened
        assert kernel.grant_floor(client) >= buf + 64
        kernel.try_restart(client, None)  # revokes the window
        assert kernel.grant_floor(client) == 0
    finally:
        kernel.ram.close()


def _recorded(kernel: Kernel, act: Callable[[], object]) -> Footprint:
    """What `act` touches, as the lab records it for one step."""
    fp: Footprint = {}
    kernel.footprint = fp
    try:
        act()
    finally:
        kernel.footprint = None
    return fp


def test_the_queue_footprints_commute_as_a_fifo_does(kernel: Kernel) -> None:
    """The kernel's own footprints of queueing, taking, purging and yielding
    (tockd/kernel/footprint.py): what commutes in a FIFO does, what does not conflicts."""
    proc = _running(kernel)
    flash_fn = proc.flash_start + 0x100
    kernel.handle_syscall(proc, 1, 0x0, 0, flash_fn, 5)  # alarm upcall 0
    alarm = kernel.capsules[0]
    asleep = _recorded(kernel, lambda: kernel.handle_syscall(proc, 0, 1, 0, 0, 0))
    assert not [r for r in asleep if r[0] in "qlu"]  # a yield that finds nothing
    first = _recorded(kernel, lambda: alarm.schedule_upcall(proc, 0, 1, 2, 3))
    second = _recorded(kernel, lambda: alarm.schedule_upcall(proc, 0, 4, 5, 6))
    take = _recorded(kernel, lambda: kernel.next_delivery(proc))  # takes the first
    assert conflicts(first, second)  # the process sees them in that order
    assert conflicts(first, take)  # the task taken is the one queued
    assert not conflicts(second, take)  # taking the head, queueing behind it
    other = _recorded(kernel, lambda: kernel.handle_syscall(proc, 1, 0x1, 1, flash_fn, 7))
    same = _recorded(kernel, lambda: kernel.handle_syscall(proc, 1, 0x0, 0, flash_fn, 8))
    assert not conflicts(second, other)  # a purge of another upcall
    assert conflicts(second, same) and not proc.queue  # the purge of this one
    for _ in range(UPCALL_QUEUE_CAPACITY - 1):
        alarm.schedule_upcall(proc, 0, 0, 0, 0)
    last = _recorded(kernel, lambda: alarm.schedule_upcall(proc, 0, 0, 0, 0))
    assert len(proc.queue) == UPCALL_QUEUE_CAPACITY
    assert conflicts(last, take)  # one short of full: it fits only because of the take
