"""End to end: the real daemon, real app processes, every syscall class and variant."""

from __future__ import annotations

import pytest

from tests.harness import app, board_toml, run_board
from tockd.kernel.process import State


@pytest.mark.parametrize("mpu", ["ideal", "cortex-m", "riscv-pmp"])
async def test_every_syscall_class_and_return_variant(mpu: str) -> None:
    run = await run_board(board_toml([app("tests.apps.abi")], abi_echo=True, mpu=mpu))
    assert run.faults() == []
    assert run.console["abi"].endswith("ABI OK\n")
    assert run.status == 0
    classes = {e["cls"] for e in run.syscalls("abi")}
    assert classes == {0, 1, 2, 3, 4, 5, 6, 7}
    variants = {e["rv"][0] for e in run.syscalls("abi") if "rv" in e}
    assert variants == {0, 1, 2, 3, 128, 129, 130, 131, 132, 133}
    rets = [e["ret"] for e in run.syscalls("abi") if "ret" in e]
    for text in (
        "Failure(NODEVICE)",
        "Failure(NOSUPPORT)",
        "SubscribeSuccess(0x0, 0)",
        "AllowReadWriteFailure(INVAL,",
        "AllowReadOnlySuccess(0x0, 0)",
        "UserspaceReadableAllowFailure(NOSUPPORT,",
        "Failure(NOMEM)",
        "None",
        "Some(Failure(NOSUPPORT))",
        # 64-bit values whole, as release-2.2 prints a u64 (the echo's arg1:arg0)
        f"SuccessU64({0x22 << 32 | 0x11})",
        f"SuccessU32U64(5, {6 << 32 | 5})",
        f"FailureU64(BUSY, {3 << 32 | 2})",
    ):
        assert any(text in r for r in rets), text
    # memop answers as release-2.2's memop.rs does, though the wire says SuccessU32
    memops = {(e["args"][0], e["ret"]) for e in run.syscalls("abi", 5)}
    assert {ret.split("(")[0] for op, ret in memops if op in (1, 2, 3, 4, 5)} == {"SuccessPtr"}
    assert all(ret.startswith("SuccessAddr(") for op, ret in memops if op == 6)
    assert (7, "SuccessU32(0)") in memops
    # the wait-for delivered its upcall as a return value, not a function call
    assert run.of("wait_for", "abi")[0]["null"] is False
    assert run.proc("abi").state is State.TERMINATED
    assert run.proc("abi").completion_code == 0


async def test_upcall_queue_overflow_is_dropped_and_recorded() -> None:
    # an instant UART: every write-done upcall is due before the app yields
    run = await run_board(board_toml([app("tests.apps.overflow")], uart_baud=0))
    # Tock's 10-slot ring buffer holds 9 tasks: the 10th, 11th and 12th are dropped
    assert run.console["overflow"].endswith("received 9\n")
    dropped = run.of("upcall_dropped", "overflow")
    assert len(dropped) == 3
    assert all("QueueFull" in d["reason"] for d in dropped)
    assert run.proc("overflow").dropped_upcall_count == 3
    results = [e["result"] for e in run.of("schedule", "overflow")]
    assert results.count("Err(QueueFull)") == 3


async def test_exit_restart_gives_a_new_identifier_and_runs_again() -> None:
    run = await run_board(board_toml([app("tests.apps.restarter", args={"times": 3})]))
    assert run.console["restarter"] == "run 1\nrun 2\nrun 3\n"
    restarts = run.of("restart", "restarter")
    assert [r["restart_count"] for r in restarts] == [1, 2]
    pids = [r["pid"] for r in restarts]
    assert len(set(pids)) == 2 and all(r["old_pid"] != r["pid"] for r in restarts)
    assert len(run.of("spawn", "restarter")) == 3  # a fresh OS process each time
    proc = run.proc("restarter")
    assert proc.restart_count == 2 and proc.state is State.TERMINATED


async def test_restart_policy_with_threshold_then_stop() -> None:
    run = await run_board(
        board_toml([app("tests.apps.crasher", fault_policy="restart", restart_threshold=2)])
    )
    faults = run.of("fault", "crasher")
    assert [f["policy"] for f in faults] == ["restart", "restart", "restart", "stop"]
    assert all("ValueError: deliberate crash" in f["reason"] for f in faults)
    assert run.proc("crasher").state is State.FAULTED


async def test_panic_policy_stops_the_board_with_status_2() -> None:
    run = await run_board(
        board_toml([app("tests.apps.crasher", fault_policy="panic"), app("tests.apps.forever")])
    )
    assert run.status == 2
    assert run.daemon.kernel.panicked is not None


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("raise", "app raised ValueError: deliberate crash"),
        ("sigkill", "killed by SIGKILL"),
        ("exit", "exited with status 3 outside the syscall interface"),
        ("garbage", "bad frame: malformed msgpack"),
        ("oversized", "bad frame: frame larger than"),
        ("wrong_shape", "bad syscall frame: syscall frame must be a list of 5 integers"),
        ("bad_class", "bad syscall frame: unknown syscall class 9"),
        ("two_frames", "sent a frame before the previous syscall returned"),
        ("mpu", "MPU fault: write of 4 byte(s) at"),
    ],
)
async def test_a_broken_app_is_faulted_with_a_reason_and_others_go_on(
    how: str, reason: str
) -> None:
    run = await run_board(
        board_toml(
            [app("tests.apps.crasher", args={"how": how}), app("apps_py.hello", name="hello")]
        )
    )
    faults = run.faults("crasher")
    assert len(faults) == 1 and faults[0].startswith(reason), faults
    assert run.proc("crasher").state is State.FAULTED
    assert run.console["hello"] == "Hello World!\n"
    assert run.proc("hello").state is State.TERMINATED
    assert run.status == 0


async def test_a_yield_with_an_unknown_number_returns_to_the_process() -> None:
    """release-2.2 kernel.rs: a yield number other than 0, 1, 2 is no fault; the
    process simply goes on (TRD104 gives it no return value)."""
    run = await run_board(board_toml([app("tests.apps.crasher", args={"how": "bad_yield"})]))
    assert run.faults("crasher") == []
    assert run.console["crasher"] == "crasher bad_yield\nresumed after yield 7 with r0=0\n"
    assert run.proc("crasher").state is State.TERMINATED


async def test_busy_app_is_preempted_and_the_board_keeps_running() -> None:
    run = await run_board(
        board_toml(
            [app("tests.apps.busy", args={"ms": 400}), app("apps_py.hello", name="hello")],
            timeslice_us=10000,
        )
    )
    busy = run.proc("busy")
    assert busy.timeslice_expirations >= 5
    assert run.console["busy"] == "busy start\nbusy done\n"
    # hello ran to completion while busy was still computing
    order = [(e["name"], e["text"]) for e in run.of("console")]
    assert order.index(("hello", "Hello World!\n")) < order.index(("busy", "busy done\n"))
