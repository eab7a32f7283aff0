"""tui.fold's rule tables, rule by rule, on a plain-data board.

tests/tui/test_model.py checks the fold against a real kernel; these pin down the
dispatch itself: which table a kind goes to, what happens to an event naming no
process, and the rules whose effect reaches past their own row.
"""

from __future__ import annotations

from tockd.tui.board import Board, MemMap, ProcRow, Sched
from tockd.tui.fold import IPC_DRIVER, PROCESS_RULES, SCHEDULER_RULES, apply


def _board() -> Board:
    procs = [ProcRow(i, f"app{i}", 10 + i, 1000 + i, "Yielded") for i in range(3)]
    mem = {0: MemMap(0, 0, 0, 0x2000, 0x3000, 0x2400, 0x2F00, 0, "cortex-m", [], [])}
    sched = Sched("RoundRobin", False, None, [0, 1, 2], 0, 10_000)
    return Board(0, 0, "test", {}, sched, procs, {0x1: "console"}, mem=mem)


def test_the_tables_do_not_share_a_kind() -> None:
    assert not set(SCHEDULER_RULES) & set(PROCESS_RULES)


def test_an_unknown_kind_moves_only_the_clock() -> None:
    board, before = _board(), _board()
    apply(board, {"kind": "no_such_kind", "index": 0, "seq": 7, "t": 99})
    assert (board.seq, board.t_us) == (7, 99)
    board.seq, board.t_us = before.seq, before.t_us
    assert board == before


def test_a_process_event_naming_no_row_changes_no_row() -> None:
    for index in (3, -1, None, True):  # out of range, absent, a bool is not an index
        board = _board()
        apply(board, {"kind": "syscall", "index": index, "cls": 2, "args": [0]})
        assert board.procs == _board().procs
        assert board.sched.decisions == 0


def test_pausing_takes_the_running_process_off_the_cpu() -> None:
    board = _board()
    apply(board, {"kind": "context_switch", "index": 1, "t": 5, "timeslice_us": 10_000})
    assert board.sched.current == 1 and board.procs[1].current
    apply(board, {"kind": "paused"})
    assert board.sched.paused
    assert board.sched.current is None and not board.procs[1].current
    apply(board, {"kind": "resumed_scheduler"})
    assert not board.sched.paused


def test_a_yield_for_names_the_upcall_and_an_exit_keeps_the_state() -> None:
    board = _board()
    apply(board, {"kind": "syscall", "index": 0, "cls": 0, "args": [2, 0x10000, 3]})
    row = board.procs[0]
    assert row.state == "YieldedFor(UpcallId { driver_num: 0x10000, subscribe_num: 3 })"
    assert row.last_syscall == "Yield { which: 2 }"
    apply(board, {"kind": "syscall", "index": 0, "cls": 6, "args": [0, 0]})
    assert row.state.startswith("YieldedFor(")
    assert row.syscalls == 2 and board.sched.decisions == 2


def test_an_ipc_notify_queues_on_its_target_not_its_sender() -> None:
    board = _board()
    apply(board, {"kind": "ipc_notify", "index": 0, "target": 2, "result": "Success"})
    assert board.procs[2].queue == 1 and board.procs[2].ready
    assert board.procs[0].queue == 0
    # its delivery pops the task and schedules the upcall: the queue holds one upcall
    apply(board, {"kind": "schedule", "index": 2, "driver": IPC_DRIVER, "result": "Ok(())"})
    assert board.procs[2].queue == 1


def test_grants_and_breaks_reach_the_memory_map() -> None:
    board = _board()
    apply(
        board,
        {"kind": "grant_alloc", "index": 0, "driver": 1, "address": 0x2E00, "size": 0x100},
    )
    row, mem = board.procs[0], board.mem[0]
    assert [g.capsule for g in row.grants] == ["console"]
    assert row.kernel_memory_break == mem.kernel_memory_break == 0x2E00
    apply(board, {"kind": "mpu_change", "index": 0})  # no app_break: nothing moves
    assert mem.app_break == 0x2400
    apply(board, {"kind": "mpu_change", "index": 0, "app_break": 0x2800})
    assert row.app_break == mem.app_break == 0x2800
    apply(board, {"kind": "terminated", "index": 0, "completion_code": 0})
    assert row.grants == [] and mem.grants == [] and row.state == "Terminated"
