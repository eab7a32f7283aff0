"""The schedulers keep time and order as release-2.2's kernel/src/scheduler/*.rs do.

Sans-IO: a real `Kernel` with real loaded processes, driven through `next()` /
`result()` / `continue_process()` as the daemon drives them, with the time used
given as numbers (so no test here depends on timing). Processes go to sleep and wake
through the kernel's own yield syscall and upcall queue. The end-to-end checks at
the bottom run real boards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import app, board_toml, run_board
from tockd.board import build_kernel, parse_board
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import Process, State, Task, TaskKind
from tockd.kernel.scheduler import (
    MLFQ,
    Cooperative,
    Priority,
    RoundRobin,
    Scheduler,
    StoppedReason,
    make_scheduler,
)

PREEMPTED = StoppedReason.KERNEL_PREEMPTION
YIELDED = StoppedReason.NO_WORK_LEFT
EXPIRED = StoppedReason.TIMESLICE_EXPIRED
SLICE = 10_000
YIELD_CLASS, YIELD_WAIT = 0, 1


class Clock:
    """The kernel clock, moved by hand (seconds)."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _board(n: int) -> str:
    apps = "".join(f'[[apps]]\nname = "p{i}"\nmodule = "apps_py.hello"\n' for i in range(n))
    return f'[board]\nmpu = "ideal"\n{apps}'


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kernel(clock: Clock) -> Iterator[Kernel]:
    k = build_kernel(parse_board(_board(3)))
    k.clock = clock
    yield k
    k.ram.close()


def sleep(kernel: Kernel, proc: Process) -> None:
    """Run `proc` to a yield-wait with nothing queued: it is no longer ready."""
    while proc.state is not State.RUNNING:
        assert kernel.next_delivery(proc) is not None
    proc.queue.clear()
    kernel.handle_syscall(proc, YIELD_CLASS, YIELD_WAIT, 0, 0, 0)
    assert not proc.ready()


def wake(kernel: Kernel, proc: Process) -> None:
    """Queue an upcall for `proc`, which makes it ready."""
    assert kernel.enqueue_task(proc, Task(TaskKind.FUNCTION_CALL, 0, 0, proc.flash_start))
    assert proc.ready()


def chosen(sched: Scheduler) -> tuple[int, int | None]:
    choice = sched.next()
    assert choice is not None
    return choice[0].index, choice[1]


# ---- round robin (kernel/src/scheduler/round_robin.rs) ------------------------------


def test_rr_first_run_gets_a_fresh_timeslice(kernel: Kernel) -> None:
    rr = RoundRobin(kernel, SLICE)
    assert chosen(rr) == (0, SLICE)


def test_rr_preemptions_subtract_from_what_is_left_not_from_the_full_slice(
    kernel: Kernel,
) -> None:
    rr = RoundRobin(kernel, SLICE)
    p0 = kernel.processes[0]
    assert chosen(rr) == (0, 10_000)
    rr.result(p0, PREEMPTED, 3_000)
    assert chosen(rr) == (0, 7_000)
    rr.result(p0, PREEMPTED, 4_000)
    # 10 - 3 - 4 ms (the full slice minus only this run would be 6 ms)
    assert chosen(rr) == (0, 3_000)


def test_rr_a_leftover_below_the_quanta_threshold_is_still_offered(kernel: Kernel) -> None:
    # Tock checks only `time_remaining > execution_time`; do_process then expires it
    rr = RoundRobin(kernel, SLICE)
    chosen(rr)
    rr.result(kernel.processes[0], PREEMPTED, 9_700)
    assert chosen(rr) == (0, 300)
    rr.result(kernel.processes[0], EXPIRED, 300)
    assert chosen(rr) == (1, SLICE)


@pytest.mark.parametrize("used", [10_000, 25_000])
def test_rr_a_preemption_that_used_everything_left_ends_the_turn(kernel: Kernel, used: int) -> None:
    rr = RoundRobin(kernel, SLICE)
    chosen(rr)
    rr.result(kernel.processes[0], PREEMPTED, used)  # 25 ms: the host clock overran
    assert chosen(rr) == (1, SLICE)
    assert rr.run_queue() == [1, 2, 0]


@pytest.mark.parametrize("reason", [YIELDED, EXPIRED, StoppedReason.STOPPED])
def test_rr_any_other_stop_rotates_and_the_next_run_is_fresh(
    kernel: Kernel, reason: StoppedReason
) -> None:
    rr = RoundRobin(kernel, SLICE)
    chosen(rr)
    rr.result(kernel.processes[0], PREEMPTED, 3_000)
    chosen(rr)
    rr.result(kernel.processes[0], reason, 2_000)
    assert chosen(rr) == (1, SLICE)
    assert rr.time_remaining_us == SLICE


def test_rr_the_leftover_goes_to_whoever_runs_next(kernel: Kernel) -> None:
    # time_remaining belongs to the scheduler: if the preempted process is no longer
    # ready, the next ready one gets the rest of the slice
    rr = RoundRobin(kernel, SLICE)
    p0 = kernel.processes[0]
    chosen(rr)
    rr.result(p0, PREEMPTED, 6_000)
    sleep(kernel, p0)
    assert chosen(rr) == (1, 4_000)
    assert rr.run_queue() == [1, 2, 0]


def test_rr_passes_over_processes_that_are_not_ready_to_the_tail(kernel: Kernel) -> None:
    rr = RoundRobin(kernel, SLICE)
    p0, p1, p2 = kernel.processes
    sleep(kernel, p0)
    sleep(kernel, p1)
    assert chosen(rr) == (2, SLICE)
    assert rr.run_queue() == [2, 0, 1]
    sleep(kernel, p2)
    assert rr.next() is None
    assert rr.run_queue() == [2, 0, 1]  # a full turn leaves the order as it was
    wake(kernel, p1)
    assert chosen(rr) == (1, SLICE)


# ---- cooperative (kernel/src/scheduler/cooperative.rs) ------------------------------


def test_cooperative_has_no_timeslice_and_keeps_a_preempted_process(kernel: Kernel) -> None:
    coop = Cooperative(kernel)
    p0 = kernel.processes[0]
    assert chosen(coop) == (0, None)
    coop.result(p0, PREEMPTED, None)
    assert chosen(coop) == (0, None)
    coop.result(p0, YIELDED, None)
    assert chosen(coop) == (1, None)
    assert coop.run_queue() == [1, 2, 0]


# ---- priority (kernel/src/scheduler/priority.rs) ------------------------------------


def test_priority_runs_the_first_ready_process_without_a_timeslice(kernel: Kernel) -> None:
    prio = Priority(kernel)
    p0, p1, _ = kernel.processes
    sleep(kernel, p0)
    assert chosen(prio) == (1, None)
    assert prio.continue_process(p1)
    wake(kernel, p0)  # e.g. over IPC, from a syscall of p1
    assert not prio.continue_process(p1)
    prio.result(p1, PREEMPTED, None)
    assert chosen(prio) == (0, None)


def test_priority_a_lower_priority_process_waking_does_not_preempt(kernel: Kernel) -> None:
    prio = Priority(kernel)
    p0, p1, _ = kernel.processes
    sleep(kernel, p1)
    assert chosen(prio) == (0, None)
    wake(kernel, p1)
    assert prio.continue_process(p0)


def test_priority_with_nothing_running_every_process_may_continue(kernel: Kernel) -> None:
    # Tock's `running` is cleared by result(); continue_process then has no one to compare
    prio = Priority(kernel)
    p0, p1, _ = kernel.processes
    sleep(kernel, p0)
    chosen(prio)
    prio.result(p1, YIELDED, None)
    wake(kernel, p0)
    assert prio.continue_process(p1)


# ---- MLFQ (kernel/src/scheduler/mlfq.rs) --------------------------------------------


def test_mlfq_stores_the_time_left_as_2_2_does(kernel: Kernel) -> None:
    mlfq = MLFQ(kernel)
    p0, p1, p2 = kernel.processes
    sleep(kernel, p1)
    sleep(kernel, p2)
    assert chosen(mlfq) == (0, 10_000)
    mlfq.result(p0, YIELDED, 3_000)
    # us_used_this_queue = last_timeslice - execution_time = 7 ms; 10 - 7 = 3 ms
    assert mlfq.us_used_this_queue[0] == 7_000
    assert chosen(mlfq) == (0, 3_000)
    mlfq.result(p0, PREEMPTED, 1_000)
    assert mlfq.us_used_this_queue[0] == 2_000
    assert chosen(mlfq) == (0, 8_000)
    assert mlfq.level_of(p0) == 0


def test_mlfq_expiry_demotes_with_nothing_used_and_the_bottom_keeps_it(kernel: Kernel) -> None:
    mlfq = MLFQ(kernel)
    p0, p1, p2 = kernel.processes
    sleep(kernel, p1)
    sleep(kernel, p2)
    for level, slice_us in enumerate(MLFQ.TIMESLICES_US):
        assert chosen(mlfq) == (0, slice_us)
        mlfq.result(p0, EXPIRED, slice_us)
        assert mlfq.us_used_this_queue[0] == 0
        assert mlfq.level_of(p0) == min(level + 1, 2)
    assert chosen(mlfq) == (0, 50_000)


def test_mlfq_boost_moves_only_the_head_of_each_lower_queue(kernel: Kernel, clock: Clock) -> None:
    mlfq = MLFQ(kernel)
    p0, p1, p2 = kernel.processes
    for proc in (p0, p1):  # both use up their slice in the top queue: queue 1 is [0, 1]
        assert chosen(mlfq) == (proc.index, 10_000)
        mlfq.result(proc, EXPIRED, 10_000)
    assert mlfq.queues == [[2], [0, 1], []]
    clock.t += 4.9
    chosen(mlfq)
    assert mlfq.queues == [[2], [0, 1], []]  # not yet 5 s
    clock.t += 0.1
    sleep(kernel, p2)
    assert chosen(mlfq) == (0, 10_000)
    # 0 joined the top queue's tail, then next() passed over 2 (asleep) to reach it
    assert mlfq.queues == [[0, 2], [1], []]
    assert mlfq.level_of(p1) == 1


def test_mlfq_boost_keeps_accounting_and_a_non_positive_slice_becomes_whole(
    kernel: Kernel, clock: Clock
) -> None:
    mlfq = MLFQ(kernel)
    p0, p1, p2 = kernel.processes
    sleep(kernel, p1)
    sleep(kernel, p2)
    for slice_us in (10_000, 20_000):
        assert chosen(mlfq) == (0, slice_us)
        mlfq.result(p0, EXPIRED, slice_us)
    assert chosen(mlfq) == (0, 50_000)
    mlfq.result(p0, YIELDED, 10_000)
    assert mlfq.us_used_this_queue[0] == 40_000
    clock.t += 5.0
    # redeemed to the top with 40 ms stored: 10 - 40 wraps in 2.2's u32; tockd gives 10
    assert chosen(mlfq) == (0, 10_000)
    assert mlfq.level_of(p0) == 0
    assert mlfq.us_used_this_queue[0] == 40_000


def test_mlfq_passes_over_processes_not_ready_to_the_tail_of_their_queue(
    kernel: Kernel,
) -> None:
    mlfq = MLFQ(kernel)
    p0, _, p2 = kernel.processes
    sleep(kernel, p0)
    assert chosen(mlfq) == (1, 10_000)
    assert mlfq.queues[0] == [1, 2, 0]
    sleep(kernel, kernel.processes[1])
    mlfq.result(kernel.processes[1], YIELDED, 500)
    assert mlfq.queues[0] == [2, 0, 1]
    wake(kernel, p0)
    assert chosen(mlfq) == (2, 10_000)
    mlfq.result(p2, YIELDED, 500)
    assert chosen(mlfq) == (0, 10_000)


def test_mlfq_a_result_for_a_process_it_did_not_choose_changes_nothing(kernel: Kernel) -> None:
    mlfq = MLFQ(kernel)
    chosen(mlfq)
    mlfq.result(kernel.processes[1], EXPIRED, 10_000)
    assert mlfq.queues == [[0, 1, 2], [], []]


def test_make_scheduler_knows_every_name(kernel: Kernel) -> None:
    assert isinstance(make_scheduler("round-robin", kernel, 7_000), RoundRobin)
    assert chosen(make_scheduler("round-robin", kernel, 7_000)) == (0, 7_000)
    assert isinstance(make_scheduler("mlfq", kernel, 7_000), MLFQ)
    with pytest.raises(ValueError, match="unknown scheduler"):
        make_scheduler("lottery", kernel, 7_000)


# ---- end to end: real boards --------------------------------------------------------


@pytest.mark.parametrize("scheduler", ["round-robin", "cooperative", "priority", "mlfq"])
async def test_a_board_runs_under_each_scheduler(scheduler: str) -> None:
    apps = [app("apps_py.hello", name="h1"), app("apps_py.hello", name="h2")]
    run = await run_board(board_toml(apps, scheduler=scheduler))
    assert run.daemon.scheduler.name == scheduler
    assert run.status == 0
    assert run.console == {"h1": "Hello World!\n", "h2": "Hello World!\n"}
    assert run.faults() == []


async def test_mlfq_board_demotes_a_busy_app_to_the_bottom_queue() -> None:
    apps = [app("tests.apps.busy", args={"ms": 300}), app("apps_py.hello", name="hello")]
    run = await run_board(board_toml(apps, scheduler="mlfq"))
    assert run.status == 0
    assert run.console["busy"] == "busy start\nbusy done\n"
    assert run.console["hello"] == "Hello World!\n"
    slices = {e["timeslice_us"] for e in run.of("context_switch", "busy")}
    assert 50_000 in slices  # it used up 10 and 20 ms slices and reached the bottom
    assert run.proc("busy").timeslice_expirations >= 2
