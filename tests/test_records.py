"""Compact syscall records (the packed stream's form of syscall events) rebuild exactly
the event dicts the kernel gives its other sinks."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from tests.harness import app, board_toml
from tockd.board import parse_board
from tockd.daemon import Daemon
from tockd.kernel.abi import ErrorCode, Memop
from tockd.kernel.syscall import (
    SUCCESS,
    SyscallReturn,
    allow_failure,
    allow_success,
    failure,
    failure_2u32,
    failure_u32,
    failure_u64,
    subscribe_failure,
    subscribe_success,
    success_2u32,
    success_3u32,
    success_addr,
    success_ptr,
    success_u32,
    success_u32_u64,
    success_u64,
)
from tockd.lab.controlled import ControlledScheduler
from tockd.lab.strategy import RandomWalk
from tockd.records import read_log, ret_text

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
errors = st.sampled_from(list(ErrorCode))

generic = st.one_of(
    st.just(SUCCESS),
    st.builds(success_u32, u32),
    st.builds(success_2u32, u32, u32),
    st.builds(success_3u32, u32, u32, u32),
    st.builds(success_u64, u64),
    st.builds(success_u32_u64, u32, u64),
    st.builds(failure, errors),
    st.builds(failure_u32, errors, u32),
    st.builds(failure_2u32, errors, u32, u32),
    st.builds(failure_u64, errors, u64),
)


def _text(cls: int, rv: SyscallReturn, r0: int = 1) -> str | None:
    """What a client rebuilds from the registers of `rv`, returned to call `cls` (its r0,
    the driver or memop op, being `r0`)."""
    return ret_text((cls, r0, 0, 0, 0), rv.registers())


@given(rv=generic)
def test_generic_returns_read_back_as_the_kernel_prints_them(rv: SyscallReturn) -> None:
    assert _text(2, rv) == rv.debug()


@given(address=u32)
def test_memop_returns_read_back_by_op(address: int) -> None:
    """On the wire SuccessPtr, SuccessAddr and SuccessU32 are one variant: the op tells
    them apart, as memop.rs (release-2.2) returns them."""
    assert _text(5, success_ptr(address), Memop.SBRK) == success_ptr(address).debug()
    assert _text(5, success_ptr(address), Memop.MEM_END) == success_ptr(address).debug()
    assert _text(5, success_addr(address), Memop.GRANT_START) == success_addr(address).debug()
    assert _text(5, success_u32(address), Memop.FLASH_REGIONS) == success_u32(address).debug()
    assert _text(5, SUCCESS, Memop.BRK) == "Success"
    assert _text(5, failure(ErrorCode.NOMEM), Memop.SBRK) == "Failure(NOMEM)"


@given(fnptr=u32, data=u32, err=errors)
def test_subscribe_returns_read_back(fnptr: int, data: int, err: ErrorCode) -> None:
    for rv in (subscribe_success(fnptr, data), subscribe_failure(err, fnptr, data)):
        assert _text(1, rv) == rv.debug()


@given(cls=st.sampled_from([3, 4, 7]), ptr=u32, length=u32, err=errors)
def test_allow_returns_read_back(cls: int, ptr: int, length: int, err: ErrorCode) -> None:
    for rv in (allow_success(cls, ptr, length), allow_failure(cls, err, ptr, length)):
        assert _text(cls, rv) == rv.debug()


def test_a_log_reads_back_into_events_or_fails_clearly() -> None:
    entries: list[Any] = [(2, 0), (2, 1, 2, 3, 4), (0, 77, 0, 0, 0)]  # pid 2 (index 0) runs
    entries += [{"kind": "x", "seq": 8}, 9]  # an event, and one not asked for
    entries += [(5, 12), (0, 1, 0, 0, 0), None, (6, 0, 0, 0, 0), None]  # a yield, an exit
    events = read_log(7, msgpack.unpackb(msgpack.packb(entries)), ["only"])
    assert [e["seq"] for e in events] == [7, 8, 10, 11]
    assert events[0]["ret"].startswith("Unknown(77") and events[0]["name"] == "only"
    assert events[2]["name"] == "#12" and "ret" not in events[2]  # a yield
    assert events[3]["ret"] == "None" and "rv" not in events[3]  # an exit
    bad_logs = (
        [[1, 2, 3]],
        [[1, 2], [2, 1, 2, 3, 4]],
        [[2, 1, 2, 3, 4], [1]],
        [[2, 1, 2, 3, 4], [1, 128, 0, 0, 0]],
        [{"kind": "x"}],
        [b"\xc1"],
        5,
    )
    for bad in bad_logs:
        with pytest.raises(ValueError, match=r"log|entry|reply|seq"):
            read_log(0, bad, [])


async def _abi_run(*, dicts: bool, log: bool) -> tuple[list[Any], list[Any], list[str]]:
    """Run the ABI app with a dict sink and/or a log recorder; what each got. Under the
    controlled scheduler, in virtual time, a seed fixes every choice, so two runs make
    the same syscalls."""
    cfg = parse_board(board_toml([app("tests.apps.abi")], abi_echo=True))
    cfg.scheduler = "controlled"
    daemon = Daemon(cfg, quiet=True)
    daemon.scheduler = ControlledScheduler(daemon.kernel, RandomWalk(5))
    got_dicts: list[dict[str, Any]] = []
    got_log: list[bytes] = []
    if dicts:
        daemon.kernel.events.subscribe(got_dicts.append)
    if log:
        daemon.kernel.events.subscribe(
            lambda ev: got_log.append(msgpack.packb(ev["seq"])),
            syscalls=False,
            record=got_log.append,
        )
    with trio.fail_after(30):
        assert await daemon.run() == 0
    return got_dicts, got_log, [p.name for p in daemon.kernel.processes]


def _syscalls(events: list[dict[str, Any]], seq: bool = True) -> list[dict[str, Any]]:
    leave = {"t"} if seq else {"t", "seq"}
    return [
        {k: v for k, v in e.items() if k not in leave} for e in events if e["kind"] == "syscall"
    ]


async def test_a_log_beside_dict_sinks_tells_the_same_story() -> None:
    """The ABI app makes every syscall class and every return variant: a dict sink and
    a log on the same kernel (the kernel then writes every entry) see the same."""
    dicts, log, names = await _abi_run(dicts=True, log=True)
    rebuilt = read_log(1, [msgpack.unpackb(e) for e in log], names)
    syscalls = _syscalls(dicts)
    assert len(syscalls) > 50
    assert {e["cls"] for e in rebuilt} == set(range(8))
    assert {e["rv"][0] for e in rebuilt if "rv" in e} == {0, 1, 2, 3, 128, 129, 130, 131, 132, 133}
    assert _syscalls(rebuilt) == syscalls


async def test_a_lone_log_written_by_the_daemon_tells_the_same_story() -> None:
    """With the log alone, the daemon writes the entries of returning syscalls from the
    bytes it holds: the same events as a dict sink gets in a run of the same app."""
    dicts, _, _ = await _abi_run(dicts=True, log=False)
    _, log, names = await _abi_run(dicts=False, log=True)
    rebuilt = read_log(1, [msgpack.unpackb(e) for e in log], names)
    assert len(_syscalls(dicts)) > 50
    assert _syscalls(rebuilt) == _syscalls(dicts)
