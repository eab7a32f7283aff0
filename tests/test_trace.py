"""The trace prints exactly release-2.2's line shapes, and the JSONL file never holds a
torn line.

`SITES` holds one regex per `debug!` site 2.2 prints with `trace_syscalls` (and the two
debug fault policies), each written from the site's format string and the Debug of the
types it prints; a line of `tockd run --trace` that matches none of them fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tockd.board import build_kernel, parse_board
from tockd.kernel.abi import ErrorCode, Memop
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import Process, State
from tockd.kernel.syscall import (
    failure_u64,
    success_addr,
    success_ptr,
    success_u32_u64,
    success_u64,
)
from tockd.kernel.upcall import UpcallResult
from tockd.records import ret_text
from tockd.trace import JsonlTrace, format_event

ROOT = Path(__file__).resolve().parent.parent

# ---- release-2.2's format strings, as regexes ------------------------------------------

PID = r"\[\d+\] "  # `[{:?}]` of a ProcessId: its identifier in decimal (process.rs:103)
H = r"0x[0-9a-f]+"  # `{:#x}`, and `{:?}` of a raw pointer
D = r"\d+"  # `{}` or `{:?}` of an integer
# `{:?}` of an ErrorCode (derived Debug, errorcode.rs:11)
E = (
    r"(?:FAIL|BUSY|ALREADY|OFF|RESERVE|INVAL|SIZE|CANCEL|NOMEM|NOSUPPORT|NODEVICE|"
    r"UNINSTALLED|NOACK)"
)
# `{:?}` of a SyscallReturn built from a CommandReturn (syscall_driver.rs: failure ..
# success_u32_u64): a 64-bit value prints whole, in decimal
COMMAND_RET = (
    rf"(?:Failure\({E}\)|FailureU32\({E}, {D}\)|FailureU32U32\({E}, {D}, {D}\)|"
    rf"FailureU64\({E}, {D}\)|Success|SuccessU32\({D}\)|SuccessU32U32\({D}, {D}\)|"
    rf"SuccessU32U32U32\({D}, {D}, {D}\)|SuccessU64\({D}\)|SuccessU32U64\({D}, {D}\))"
)
# a CapabilityPtr derives Debug around a `*const ()` (capability_ptr.rs:29)
CAP = rf"CapabilityPtr \{{ ptr: {H} \}}"
# what memop.rs returns, per op (release-2.2 kernel/src/memop.rs:45-160)
MEMOP_RET = {
    0: r"Success|Failure\(NOMEM\)",
    1: rf"SuccessPtr\({CAP}\)|Failure\(NOMEM\)",
    2: rf"SuccessPtr\({CAP}\)",
    3: rf"SuccessPtr\({CAP}\)",
    4: rf"SuccessPtr\({CAP}\)",
    5: rf"SuccessPtr\({CAP}\)",
    6: rf"SuccessAddr\({D}\)",
    7: rf"SuccessU32\({D}\)",
    8: rf"SuccessPtr\({CAP}\)|Failure\(FAIL\)",
    9: rf"SuccessPtr\({CAP}\)|Failure\(FAIL\)",
    10: r"Success",
    11: r"Success",
}
ANY_MEMOP_RET = "(?:" + "|".join(MEMOP_RET.values()) + r"|Failure\(NOSUPPORT\))"


def _allow_ret(name: str) -> str:
    return rf"(?:{name}Success\({H}, {D}\)|{name}Failure\({E}, {H}, {D}\))"


SITES: dict[str, str] = {
    # kernel/src/kernel.rs:612 "[{:?}] function_call @{:#x}({:#x}, {:#x}, {:#x}, {:#x})"
    "kernel.rs:612 function_call": rf"{PID}function_call @{H}\({H}, {H}, {H}, {H}\)",
    # kernel.rs:658 "[{:?}] Yield-WaitFor: [NU] ({:#x}, {:#x}, {:#x})"
    "kernel.rs:658 Yield-WaitFor null": rf"{PID}Yield-WaitFor: \[NU\] \({H}, {H}, {H}\)",
    # kernel.rs:674 "[{:?}] Yield-WaitFor [Suppressed function_call @{:#x}] ({:#x}, {:#x},
    # {:#x}, {:#x})"
    "kernel.rs:674 Yield-WaitFor suppressed": (
        rf"{PID}Yield-WaitFor \[Suppressed function_call @{H}\] \({H}, {H}, {H}, {H}\)"
    ),
    # kernel.rs:777 "[{:?}] Filtered: {:?} was rejected with {:?}" (tockd has no filter)
    "kernel.rs:777 Filtered": rf"{PID}Filtered: .+ was rejected with {E}",
    # kernel.rs:795 "[{:?}] memop({}, {:#x}) = {:?}"
    "kernel.rs:795 memop": rf"{PID}memop\({D}, {H}\) = {ANY_MEMOP_RET}",
    # kernel.rs:811 "[{:?}] yield. which: {}"
    "kernel.rs:811 yield": rf"{PID}yield\. which: {D}",
    # kernel.rs:989, 1133, 1338 "[{:?}] WARN driver #{:x} did not allocate grant"
    "kernel.rs:989 WARN grant": rf"{PID}WARN driver #[0-9a-f]+ did not allocate grant",
    # kernel.rs:993, 1137, 1342 "[{:?}] ERROR driver #{:x} allocated wrong grant counts"
    "kernel.rs:993 ERROR grant": rf"{PID}ERROR driver #[0-9a-f]+ allocated wrong grant counts",
    # kernel.rs:1024 "[{:?}] subscribe({:#x}, {}, @{:#x}, {:#x}) = {:?}"
    "kernel.rs:1024 subscribe": (
        rf"{PID}subscribe\({H}, {D}, @{H}, {H}\) = "
        rf"(?:SubscribeSuccess\({H}, {D}\)|SubscribeFailure\({E}, {H}, {D}\))"
    ),
    # kernel.rs:1051 "[{:?}] cmd({:#x}, {}, {:#x}, {:#x}) = {:?}"
    "kernel.rs:1051 cmd": rf"{PID}cmd\({H}, {D}, {H}, {H}\) = {COMMAND_RET}",
    # kernel.rs:1176 "[{:?}] read-write allow({:#x}, {}, @{:#x}, {}) = {:?}"
    "kernel.rs:1176 read-write allow": (
        rf"{PID}read-write allow\({H}, {D}, @{H}, {D}\) = {_allow_ret('AllowReadWrite')}"
    ),
    # kernel.rs:1256 "[{:?}] userspace readable allow({:#x}, {}, @{:#x}, {}) = {:?}"
    "kernel.rs:1256 userspace readable allow": (
        rf"{PID}userspace readable allow\({H}, {D}, @{H}, {D}\) = "
        rf"{_allow_ret('UserspaceReadableAllow')}"
    ),
    # kernel.rs:1381 "[{:?}] read-only allow({:#x}, {}, @{:#x}, {}) = {:?}"
    "kernel.rs:1381 read-only allow": (
        rf"{PID}read-only allow\({H}, {D}, @{H}, {D}\) = {_allow_ret('AllowReadOnly')}"
    ),
    # kernel.rs:1429 "[{:?}] exit(which: {}, completion_code: {}) = {:?}" of an
    # Option<SyscallReturn>: None, or Some(Failure(NOSUPPORT)) for an unknown `which`
    "kernel.rs:1429 exit": (
        rf"{PID}exit\(which: {D}, completion_code: {D}\) = (?:None|Some\(Failure\(NOSUPPORT\)\))"
    ),
    # process_standard.rs:569 "[{:?}] remove_pending_upcalls[{:#x}:{}] = {} upcall(s)
    # removed"
    "process_standard.rs:569 remove_pending_upcalls": (
        rf"{PID}remove_pending_upcalls\[{H}:{D}\] = {D} upcall\(s\) removed"
    ),
    # upcall.rs:174 "[{:?}] schedule[{:#x}:{}] @{:#x}({:#x}, {:#x}, {:#x}, {:#x}) = {:?}"
    # of a Result<(), UpcallError> (upcall.rs:37)
    "upcall.rs:174 schedule": (
        rf"{PID}schedule\[{H}:{D}\] @{H}\({H}, {H}, {H}, {H}\) = "
        r"(?:Ok\(\(\)\)|Err\((?:InvalidSubscribeNum|QueueFull|KernelError)\))"
    ),
    # capsules/system/src/process_policies.rs:40 "Process {} faulted and was stopped."
    "process_policies.rs:40 stopped": r"Process \S+ faulted and was stopped\.",
    # capsules/system/src/process_policies.rs:62 "Process {} faulted and will be restarted."
    "process_policies.rs:62 restarted": r"Process \S+ faulted and will be restarted\.",
}


def site_of(line: str) -> str | None:
    """The one 2.2 debug! site whose format `line` has, or None."""
    found = [name for name, shape in SITES.items() if re.fullmatch(shape, line)]
    assert len(found) <= 1, (line, found)
    return found[0] if found else None


# ---- the whole CLI, real processes -----------------------------------------------------

ROT13_APPS = ("org.tockos.examples.rot13", "org.tockos.examples.rot13_client")


def test_every_line_of_a_rot13_trace_has_a_release_2_2_shape() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "tockd.cli", "run", "configs/rot13.toml", "--trace"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    seen: dict[str, int] = {}
    console = []
    for line in r.stdout.splitlines():
        app = next((a for a in ROT13_APPS if line.startswith(f"[{a}] ")), None)
        if app is not None:  # an app's console output, which the daemon tags with its name
            console.append(line)
            continue
        site = site_of(line)
        assert site is not None, f"not a release-2.2 trace line: {line!r}"
        seen[site] = seen.get(site, 0) + 1
        if site == "kernel.rs:795 memop":  # and each op answers as memop.rs makes it
            m = re.match(rf"{PID}memop\((\d+), {H}\) = (.*)$", line)
            assert m is not None and re.fullmatch(MEMOP_RET[int(m[1])], m[2]), line
    assert len(console) == 4 and all("Uryyb Jbeyq!" in c or "Hello" in c for c in console)
    # the board makes every kind of call its trace should show, and ends in one exit
    expected = {
        "kernel.rs:612 function_call",
        "kernel.rs:795 memop",
        "kernel.rs:811 yield",
        "kernel.rs:1024 subscribe",
        "kernel.rs:1051 cmd",
        "kernel.rs:1176 read-write allow",
        "kernel.rs:1381 read-only allow",
        "kernel.rs:1429 exit",
        "process_standard.rs:569 remove_pending_upcalls",
        "upcall.rs:174 schedule",
    }
    assert expected <= set(seen), expected - set(seen)
    assert seen["kernel.rs:1429 exit"] == 1
    # the allow sizes are decimal: the client shares its 64-byte buffer
    assert re.search(r"read-write allow\(0x10000, 0, @0x[0-9a-f]+, 64\) = ", r.stdout)
    # and the rot13 exchange itself, as in Tock's report: discover finds the service at
    # index 0, the client's notify succeeds, the service is called with (client 1, 64, ptr)
    shapes = {
        "function_call": r"^\[\d+\] function_call @0x[0-9a-f]+\((0x[0-9a-f]+, ){3}0x[0-9a-f]+\)$",
        "memop": r"^\[\d+\] memop\(\d+, 0x[0-9a-f]+\) = Success$",
        "ro allow": r"^\[\d+\] read-only allow\(0x10000, 0, @0x[0-9a-f]+, \d+\) = "
        r"AllowReadOnlySuccess\(0x[0-9a-f]+, \d+\)$",
        "discover": r"^\[\d+\] cmd\(0x10000, 1, 0x0, 0x0\) = SuccessU32\(0\)$",
        "remove": r"^\[\d+\] remove_pending_upcalls\[0x10000:0\] = 0 upcall\(s\) removed$",
        "subscribe": r"^\[\d+\] subscribe\(0x10000, 0, @0x[0-9a-f]+, 0x0\) = "
        r"SubscribeSuccess\(0x0, 0\)$",
        "rw allow": r"^\[\d+\] read-write allow\(0x10000, 0, @0x[0-9a-f]+, 64\) = "
        r"AllowReadWriteSuccess\(0x0, 0\)$",
        "notify": r"^\[\d+\] cmd\(0x10000, 2, 0x0, 0x0\) = Success$",
        "yield": r"^\[\d+\] yield\. which: 1$",
        "schedule": r"^\[\d+\] schedule\[0x10000:0\] @0x[0-9a-f]+\(0x1, 0x40, 0x[0-9a-f]+, "
        r"0x0\) = Ok\(\(\)\)$",
    }
    lines = r.stdout.splitlines()
    for what, shape in shapes.items():
        assert any(re.match(shape, line) for line in lines), what


# ---- the real kernel, one shape at a time ----------------------------------------------

BOARD = """
[board]
mpu = "cortex-m"
abi_echo = true
[[apps]]
name = "a"
module = "apps_py.hello"
"""
ABI_ECHO = 0xA0000


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    k = build_kernel(parse_board(BOARD))
    yield k
    k.ram.close()


def _running(kernel: Kernel) -> Process:
    proc = kernel.processes[0]
    if proc.state is not State.RUNNING:
        kernel.next_delivery(proc)  # deliver _start
    proc.state = State.RUNNING
    return proc


def _lines(kernel: Kernel, proc: Process, *call: int) -> list[str]:
    """The trace lines one syscall of `proc` prints."""
    events: list[dict[str, Any]] = []
    remove = kernel.events.subscribe(events.append)
    try:
        if proc.state is not State.TERMINATED:
            proc.state = State.RUNNING
        kernel.handle_syscall(proc, *call)  # type: ignore[arg-type]
    finally:
        remove()
    return [line for e in events if (line := format_event(e)) is not None]


def test_memop_lines_are_what_memop_rs_returns_per_op(kernel: Kernel) -> None:
    proc = _running(kernel)
    p = proc.identifier
    old_break = proc.app_break
    cases = {
        (Memop.MEM_START, 0): f"SuccessPtr(CapabilityPtr {{ ptr: {proc.mem_start:#x} }})",
        (Memop.MEM_END, 0): f"SuccessPtr(CapabilityPtr {{ ptr: {proc.mem_end:#x} }})",
        (Memop.FLASH_START, 0): f"SuccessPtr(CapabilityPtr {{ ptr: {proc.flash_start:#x} }})",
        (Memop.FLASH_END, 0): f"SuccessPtr(CapabilityPtr {{ ptr: {proc.flash_end:#x} }})",
        (Memop.GRANT_START, 0): f"SuccessAddr({proc.kernel_memory_break})",
        (Memop.FLASH_REGIONS, 0): "SuccessU32(0)",
        (Memop.FLASH_REGION_START, 0): "Failure(FAIL)",
        (Memop.FLASH_REGION_END, 0): "Failure(FAIL)",
        (Memop.SBRK, 16): f"SuccessPtr(CapabilityPtr {{ ptr: {old_break:#x} }})",
        (Memop.BRK, proc.mem_end): "Failure(NOMEM)",
        (Memop.BRK, old_break): "Success",
        (Memop.STACK_TOP_HINT, proc.mem_start): "Success",
        (99, 0): "Failure(NOSUPPORT)",
    }
    for (op, arg), ret in cases.items():
        line = f"[{p}] memop({op}, {arg:#x}) = {ret}"
        assert _lines(kernel, proc, 5, op, arg, 0, 0) == [line]
        assert site_of(line) == "kernel.rs:795 memop"


def test_pointer_and_address_returns_go_out_as_success_u32() -> None:
    """arch_helpers.rs (release-2.2) maps SuccessPtr and SuccessAddr to SuccessU32 (129):
    the app sees the address in r1 whatever the trace calls it."""
    assert success_ptr(0x2000_0400).registers() == (129, 0x2000_0400, 0, 0)
    assert success_addr(0x2000_0400).registers() == (129, 0x2000_0400, 0, 0)
    assert success_ptr(0).debug() == "SuccessPtr(CapabilityPtr { ptr: 0x0 })"
    assert success_addr(0x2000_0400).debug() == "SuccessAddr(536871936)"
    # only the call tells a client which one the kernel returned
    assert ret_text((5, 6, 0, 0, 0), (129, 12, 0, 0)) == "SuccessAddr(12)"
    assert ret_text((5, 2, 0, 0, 0), (129, 12, 0, 0)) == "SuccessPtr(CapabilityPtr { ptr: 0xc })"
    assert ret_text((5, 7, 0, 0, 0), (129, 12, 0, 0)) == "SuccessU32(12)"
    assert ret_text((2, 6, 0, 0, 0), (129, 12, 0, 0)) == "SuccessU32(12)"  # a command


WIDE = 0x1_2345_6789  # 4886718345: a value with bits in both words


def test_64_bit_returns_print_whole_and_encode_low_word_first(kernel: Kernel) -> None:
    assert success_u64(WIDE).debug() == "SuccessU64(4886718345)"
    assert success_u64(WIDE).registers() == (131, 0x2345_6789, 1, 0)
    assert success_u32_u64(7, WIDE).debug() == "SuccessU32U64(7, 4886718345)"
    assert success_u32_u64(7, WIDE).registers() == (133, 7, 0x2345_6789, 1)
    assert failure_u64(ErrorCode.BUSY, WIDE).debug() == "FailureU64(BUSY, 4886718345)"
    assert failure_u64(ErrorCode.BUSY, WIDE).registers() == (3, 2, 0x2345_6789, 1)
    top = 2**64 - 1
    assert success_u64(top).debug() == f"SuccessU64({top})"
    # through the kernel: the ABI echo driver answers cmd 8, 10 and 4 with arg1:arg0
    proc = _running(kernel)
    p = proc.identifier
    lo, hi = WIDE & 0xFFFF_FFFF, WIDE >> 32
    assert _lines(kernel, proc, 2, ABI_ECHO, 8, lo, hi) == [
        f"[{p}] cmd(0xa0000, 8, {lo:#x}, {hi:#x}) = SuccessU64({WIDE})"
    ]
    assert _lines(kernel, proc, 2, ABI_ECHO, 10, lo, hi) == [
        f"[{p}] cmd(0xa0000, 10, {lo:#x}, {hi:#x}) = SuccessU32U64({lo}, {WIDE})"
    ]
    # cmd 4 takes its error code from arg0 (0x23456789 is none: FAIL)
    assert _lines(kernel, proc, 2, ABI_ECHO, 4, lo, hi) == [
        f"[{p}] cmd(0xa0000, 4, {lo:#x}, {hi:#x}) = FailureU64(FAIL, {WIDE})"
    ]


def test_allow_sizes_print_in_decimal(kernel: Kernel) -> None:
    proc = _running(kernel)
    p = proc.identifier
    buf = proc.mem_start + 0x100
    assert _lines(kernel, proc, 5, Memop.BRK, buf + 0x200, 0, 0)[0].endswith("= Success")
    ro, rw = _lines(kernel, proc, 4, 1, 1, buf, 25), _lines(kernel, proc, 3, 1, 1, buf, 100)
    assert ro == [f"[{p}] read-only allow(0x1, 1, @{buf:#x}, 25) = AllowReadOnlySuccess(0x0, 0)"]
    assert rw == [f"[{p}] read-write allow(0x1, 1, @{buf:#x}, 100) = AllowReadWriteSuccess(0x0, 0)"]
    again = _lines(kernel, proc, 4, 1, 1, 0, 0)
    assert again == [f"[{p}] read-only allow(0x1, 1, @0x0, 0) = AllowReadOnlySuccess({buf:#x}, 25)"]
    # a driver that does not exist: the buffer comes back, its size still in decimal
    missing = _lines(kernel, proc, 7, 0x77, 0, buf, 300)
    assert missing == [
        f"[{p}] userspace readable allow(0x77, 0, @{buf:#x}, 300) = "
        f"UserspaceReadableAllowFailure(NODEVICE, {buf:#x}, 300)"
    ]
    for line in (*ro, *rw, *again, *missing):
        assert site_of(line) is not None, line


def test_exit_prints_its_option_of_a_return(kernel: Kernel) -> None:
    proc = _running(kernel)
    p = proc.identifier
    bad = _lines(kernel, proc, 6, 2, 5, 0, 0)  # no such exit: the call returns
    assert bad == [f"[{p}] exit(which: 2, completion_code: 5) = Some(Failure(NOSUPPORT))"]
    done = _lines(kernel, proc, 6, 0, 3, 0, 0)  # exit-terminate never returns
    assert done == [f"[{p}] exit(which: 0, completion_code: 3) = None"]
    assert proc.state is State.TERMINATED
    assert all(site_of(line) == "kernel.rs:1429 exit" for line in (*bad, *done))


def test_an_invalid_subscribe_number_prints_nothing(kernel: Kernel) -> None:
    """grant.rs's schedule_upcall (release-2.2) returns InvalidSubscribeNum before an
    Upcall exists, so upcall.rs:174 never prints; a valid number prints its line."""
    proc = _running(kernel)
    alarm = kernel.capsules[0]
    assert _lines(kernel, proc, 2, 0x0, 0, 0, 0)  # the alarm's grant is allocated
    events: list[dict[str, Any]] = []
    remove = kernel.events.subscribe(events.append)
    try:
        assert alarm.schedule_upcall(proc, 99, 1, 2, 3) is UpcallResult.INVALID_SUBSCRIBE_NUM
        assert alarm.schedule_upcall(proc, 0, 1, 2, 3) is UpcallResult.OK
    finally:
        remove()
    assert [e["kind"] for e in events] == ["schedule_invalid", "schedule"]
    lines = [line for e in events if (line := format_event(e)) is not None]
    assert lines == [f"[{proc.identifier}] schedule[0x0:0] @0x0(0x1, 0x2, 0x3, 0x0) = Ok(())"]


def test_other_lines_have_their_2_2_shapes() -> None:
    def ev(kind: str, **kw: object) -> dict[str, object]:
        return {"kind": kind, "pid": 1, "name": "app", **kw}

    cases = [
        (
            ev("function_call", fnptr=0x88088, args=[0x88060, 0x40010000, 0x173C, 0x40010000]),
            "[1] function_call @0x88088(0x88060, 0x40010000, 0x173c, 0x40010000)",
        ),
        (ev("syscall", cls=0, args=[1, 0, 0, 0]), "[1] yield. which: 1"),
        (ev("wait_for", null=True, args=[1, 2, 3]), "[1] Yield-WaitFor: [NU] (0x1, 0x2, 0x3)"),
        (
            ev("wait_for", null=False, fnptr=0x40100, args=[1, 2, 3, 4]),
            "[1] Yield-WaitFor [Suppressed function_call @0x40100] (0x1, 0x2, 0x3, 0x4)",
        ),
        (
            ev("remove_pending_upcalls", driver=0x10000, subscribe=0, removed=2),
            "[1] remove_pending_upcalls[0x10000:0] = 2 upcall(s) removed",
        ),
        (
            ev("grant_failed", driver=0x40001, text="ignored"),
            "[1] WARN driver #40001 did not allocate grant",
        ),
        (
            ev("fault", reason="bad frame", policy="stop"),
            "Process app faulted and was stopped.",
        ),
        (
            ev("fault", reason="bad frame", policy="restart"),
            "Process app faulted and will be restarted.",
        ),
    ]
    for event, line in cases:
        assert format_event(event) == line
        assert site_of(line) is not None, line
    # 2.2 prints nothing of its own for these (a panic is the kernel's panic message)
    assert format_event(ev("fault", reason="x", policy="panic")) is None
    assert format_event(ev("grant_alloc", driver=1)) is None
    assert format_event(ev("schedule_invalid", driver=1, subscribe=9)) is None


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 5000), min_size=1, max_size=300),
    flushes=st.sets(st.integers(0, 299)),
)
def test_jsonl_lines_never_straddle_a_page_so_a_cut_write_leaves_whole_lines(
    lengths: list[int], flushes: set[int]
) -> None:
    """Cut the file at every page boundary, as SIGKILL can cut a write: every line that
    remains parses, and the events are a prefix of those written."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "events.jsonl")
        sink = JsonlTrace(path, interval_s=3600)
        for i, n in enumerate(lengths):
            sink({"seq": i + 1, "kind": "console", "text": "x" * n})
            if i in flushes:
                sink.flush()
        sink.close()
        data = Path(path).read_bytes()
    lines = data.split(b"\n")
    assert lines.pop() == b""
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, len(lengths) + 1))
    for cut in range(JsonlTrace.PAGE, len(data), JsonlTrace.PAGE):
        head = data[:cut]
        start = head.rfind(b"\n") + 1
        if start < cut:  # only a line longer than a page may be cut, and it began on a page
            assert start % JsonlTrace.PAGE == 0
            assert data.index(b"\n", cut) - start >= JsonlTrace.PAGE
        whole = head[:start].split(b"\n")[:-1]
        assert [json.loads(line)["seq"] for line in whole] == list(range(1, len(whole) + 1))


def test_jsonl_flushes_by_count_and_by_time(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlTrace(str(path), interval_s=3600)
    for i in range(JsonlTrace.BATCH_EVENTS - 1):
        sink({"seq": i + 1, "kind": "x"})
    assert path.read_bytes() == b""  # a batch is still pending
    sink({"seq": JsonlTrace.BATCH_EVENTS, "kind": "x"})
    assert path.read_bytes().count(b"\n") == JsonlTrace.BATCH_EVENTS
    sink.interval_s = 0
    sink({"seq": JsonlTrace.BATCH_EVENTS + 1, "kind": "x"})
    assert path.read_bytes().count(b"\n") == JsonlTrace.BATCH_EVENTS + 1
    sink.close()
    sink.close()  # idempotent: every exit path may call it
