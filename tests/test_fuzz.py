"""Fuzz: app processes send malformed and hostile frames to a live daemon.

Each hypothesis example is one live board: `apps` fuzz apps (tests/apps/fuzzer.py) send
a drawn list of frames, each app starting at its own rotation of the list, while
tests/apps/steady.py does real work and checks every answer. The fuzz apps have the
restart fault policy with no threshold, so a faulted app comes back and goes on with
the frame after the one that faulted it. Then:

- the daemon ran to the end and exited 0 (no panic, no exception, every app reaped);
- every offending frame faulted its app exactly once, in order, with the reason the
  model below predicts; no well-formed syscall faulted anything (hostile register
  values, huge allows, addresses outside RAM get error returns, as in Tock);
- the well-behaved app finished its work with no fault.

Frames that would block the sender for good are never drawn: yield-wait and
yield-wait-for (nothing may ever wake them), yield-no-wait (it sleeps when only null
upcalls are queued, as in Tock) and exit-terminate (not hostile, and it ends the run).
Each board runs in `tock` or `hardened` mode (drawn). The default run sends at least
2,000 frames (about 5 s); `-m slow` sends at least 100,000 (a few minutes). There is no
shrinking (each step would be a live board): a failure names the frame and its reason.
"""

from __future__ import annotations

import faulthandler
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.harness import Run, app, board_toml, run_board
from tockd.contract.wire import MAX_FRAME, FrameDecoder, WireError
from tockd.kernel.process import State

# a falsifying example is a list of hundreds of frames: let hypothesis print it
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

U32 = 0xFFFF_FFFF
RAM_BASE = 0x2000_0000
RAM_SIZE = 256 * 1024
FLASH = 0x0004_0000
REPORT = 0xF0
CRT0_SYSCALLS = 3  # brk, stack-top hint, heap-start hint: every incarnation makes them


@dataclass(frozen=True)
class Frame:
    """One frame a fuzz app sends and what the kernel must do with it."""

    data: bytes
    outcome: str  # "reply" | "restart" (exit-restart) | "fault"
    reason: str = ""  # a regex the fault reason must match
    pad: bool = False  # follow with bytes that end any decode in an error


# ---- the model: what the daemon must do with a frame -------------------------------------


def _is_syscall(obj: Any) -> bool:
    return (
        type(obj) is list
        and len(obj) == 5
        and all(type(v) is int and 0 <= v <= U32 for v in obj)
        and obj[0] <= 7
    )


def _blocks(regs: list[int]) -> bool:
    """Would this syscall leave the sender waiting for good (see the module doc)?"""
    cls, r0 = regs[0], regs[1]
    return (cls == 0 and r0 <= 2) or (cls == 6 and r0 == 0)


def _syscall_frame(regs: list[int]) -> Frame:
    data = msgpack.packb(regs)
    cls, r0 = regs[0], regs[1]
    if cls == 6 and r0 == 1:
        return Frame(data, "restart")
    return Frame(data, "reply")


def _object_frame(obj: Any) -> Frame:
    """A well-formed msgpack object that is not a syscall the model lets through."""
    data = msgpack.packb(obj, use_bin_type=True)
    if type(obj) is list and obj and obj[0] == REPORT:
        # the runtime's own report: the reason may quote the app's text, even an empty
        # or multi-line one (test_hostile.py::test_a_fault_report_cannot_forge_the_reason)
        return Frame(data, "fault", r"(?s).*")
    if _is_syscall(obj):
        return _syscall_frame(obj)
    return Frame(data, "fault", r"^bad syscall frame: ")


# ---- strategies ------------------------------------------------------------------------

EDGES = [
    0, 1, 2, 3, 4, 7, 8, 0xFF, 0x100, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, U32 - 1, U32,
    RAM_BASE - 1, RAM_BASE, RAM_BASE + RAM_SIZE - 1, RAM_BASE + RAM_SIZE, FLASH, FLASH - 1,
]  # fmt: skip
DRIVERS = [0x0, 0x1, 0x2, 0x3, 0x4, 0x10000, 0x40001, 0x8000_0000, U32]

u32 = st.one_of(st.sampled_from(EDGES), st.integers(0, U32))
small = st.one_of(st.integers(0, 8), u32)
address = st.one_of(
    st.sampled_from(EDGES),
    st.integers(RAM_BASE - 64, RAM_BASE + RAM_SIZE + 64),
    st.integers(FLASH, FLASH + 0x20000),
    st.integers(0, U32),
)
size = st.one_of(st.integers(0, 300), st.sampled_from([0x1000, RAM_SIZE, 0x8000_0000, U32]), u32)
driver = st.one_of(st.sampled_from(DRIVERS), u32)


def _regs(*parts: st.SearchStrategy[int]) -> st.SearchStrategy[list[int]]:
    return st.tuples(*parts).map(list)


command = _regs(st.just(2), driver, small, u32, u32)
subscribe = _regs(st.just(1), driver, small, address, u32)
allow = _regs(st.sampled_from([3, 4, 7]), driver, small, address, size)
memop = _regs(st.just(5), st.one_of(st.integers(0, 12), u32), address, u32, u32)
exit_other = _regs(st.just(6), st.integers(2, U32), u32, u32, u32)
exit_restart = _regs(st.just(6), st.just(1), u32, u32, u32)
bad_yield = _regs(st.just(0), st.integers(3, U32), u32, u32, u32)
hostile_syscall = st.one_of(command, subscribe, allow, memop, exit_other).map(_syscall_frame)

scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.text(max_size=12),
    st.binary(max_size=12),
)
wide_int = st.one_of(st.integers(-2, 9), st.integers(U32 - 1, U32 + 2), u32)
wrong_shape = st.one_of(
    st.recursive(
        scalar,
        lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=8,
    ),
    st.lists(st.one_of(wide_int, scalar), min_size=5, max_size=5),  # nearly a syscall
    st.lists(wide_int, min_size=0, max_size=9),
    st.tuples(st.integers(8, U32 + 1), u32, u32, u32, u32).map(list),  # no such class
).filter(lambda obj: not (_is_syscall(obj) and _blocks(obj)))
report = st.tuples(
    st.just(REPORT), st.one_of(st.integers(0, 3), scalar), st.lists(scalar, max_size=5)
).map(lambda t: [t[0], t[1], *t[2]])
ext = st.tuples(st.integers(-128, 127), st.binary(max_size=16)).map(  # -1 is a Timestamp
    lambda t: b"\xc7" + bytes([len(t[1]), t[0] & 0xFF]) + t[1]
)


def _syscall_then_stall(data: bytes) -> bool:
    """Would the kernel's first read (64 KiB) of `data` + padding hold one complete
    syscall and then an unfinished object? Then the kernel rightly runs that syscall
    (which may be a yield-wait or an exit) before the padding faults the app: not
    garbage, so such draws are left out."""
    decoder = FrameDecoder()
    try:
        decoder.feed((data + b"\xc1" * MAX_FRAME)[:MAX_FRAME])
        frames = list(decoder.frames())
    except WireError:
        return False
    return len(frames) == 1 and _is_syscall(frames[0])


# Random bytes fault their sender, with a reason that depends on what a prefix of them
# decodes to (complete objects, then an error or an object larger than 64 KiB): any
# reason is right, an answer never is.
garbage = (
    st.one_of(
        st.binary(min_size=1, max_size=40),
        st.integers(1, 3000).map(lambda n: b"\x91" * n),  # nesting deeper than the decoder allows
        st.sampled_from(
            [b"\xc1", b"\xdb\xff\xff\xff\xff", b"\xdd\x00\x01\x00\x00", b"\xc6\x7f\0\0\0"]
        ),
    )
    .filter(lambda data: not _syscall_then_stall(data))
    .map(lambda data: Frame(data, "fault", r".", pad=True))
)
pipelined = (
    st.tuples(hostile_syscall, hostile_syscall)
    .filter(lambda t: t[0].outcome == t[1].outcome == "reply")
    .map(
        lambda t: Frame(
            t[0].data + t[1].data, "fault", r"^sent a frame before the previous syscall returned$"
        )
    )
)
offender = st.one_of(
    bad_yield.map(_syscall_frame),
    wrong_shape.map(_object_frame),
    report.map(_object_frame),
    ext.map(lambda data: Frame(data, "fault", r"^bad (syscall )?frame: ")),
    garbage,
    pipelined,
)


@st.composite
def frame(draw: st.DrawFn) -> Frame:
    """About one frame in twelve offends (each offence costs a restart: a new process)."""
    kind = draw(st.integers(0, 11))  # shrinks towards a well-formed hostile syscall
    if kind == 11:
        return draw(offender)
    if kind == 10:
        return _syscall_frame(draw(exit_restart))
    return draw(hostile_syscall)


# ---- running one example ----------------------------------------------------------------


@dataclass
class Tally:
    frames: int = 0
    offences: int = 0
    boards: int = 0


def _board(frames: list[Frame], tmp: Path, apps: int, mode: str) -> tuple[str, list[list[Frame]]]:
    done = tmp / "done"
    done.mkdir()
    plans, specs = [], []
    for k in range(apps):
        start = k * len(frames) // apps
        plan = frames[start:] + frames[:start]
        path = tmp / f"frames{k}.msgpack"
        path.write_bytes(msgpack.packb([[f.data, f.pad] for f in plan]))
        args = {"frames": str(path), "cursor": str(tmp / f"cursor{k}"), "done": str(done / str(k))}
        # the fuzzer keeps its place in a file across its restarts: it needs files
        specs.append(
            app(
                "tests.apps.fuzzer",
                name=f"fuzz{k}",
                fault_policy="restart",
                args=args,
                sandbox={"landlock": False},
            )
        )
        plans.append(plan)
    specs.append(
        app(
            "tests.apps.steady",
            args={"until_dir": str(done), "until_count": apps},
            sandbox={"landlock": False},  # it watches the fuzzers' files
        )
    )
    return board_toml(specs, ram_size=RAM_SIZE, kernel_mode=mode), plans


def _check(run: Run, plans: list[list[Frame]]) -> None:
    assert run.status == 0
    for k, plan in enumerate(plans):
        name = f"fuzz{k}"
        offences = [f for f in plan if f.outcome == "fault"]
        faults = run.of("fault", name)
        reasons = [e["reason"] for e in faults]
        assert len(faults) == len(offences), (len(faults), len(offences), reasons[:20])
        for f, e in zip(offences, faults, strict=True):
            assert re.match(f.reason, e["reason"]), (f, e["reason"])
            assert e["policy"] == "restart"
        restarts = len(offences) + sum(f.outcome == "restart" for f in plan)
        assert len(run.of("restart", name)) == restarts
        replies = sum(f.outcome != "fault" for f in plan)
        assert len(run.syscalls(name)) == replies + CRT0_SYSCALLS * (1 + restarts) + 1
        proc = run.proc(name)
        assert proc.state is State.TERMINATED and proc.completion_code == 0
    assert run.faults("steady") == []
    assert re.fullmatch(r"steady done [1-9]\d*\n", run.console["steady"])
    assert run.proc("steady").state is State.TERMINATED


def _fuzz(tmp_path: Path, *, apps: int, min_frames: int, examples: int, target: int) -> Tally:
    """Run boards of hypothesis-drawn frames until `target` frames have been sent.

    No shrinking: every step of it would be a live board. A failure names the frame and
    the reason it got."""
    tally = Tally()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )
    @given(
        frames=st.lists(frame(), min_size=min_frames, max_size=2 * min_frames),
        mode=st.sampled_from(["tock", "hardened"]),
    )
    def example(frames: list[Frame], mode: str) -> None:
        tmp = tmp_path / f"board{tally.boards}"
        tmp.mkdir()
        tally.boards += 1
        text, plans = _board(frames, tmp, apps, mode)
        _check(trio.run(functools.partial(run_board, text, timeout=300)), plans)
        tally.frames += sum(len(p) for p in plans)
        tally.offences += sum(f.outcome == "fault" for p in plans for f in p)

    while tally.frames < target:
        example()
    return tally


def test_hostile_frames_fault_only_their_sender(tmp_path: Path) -> None:
    tally = _fuzz(tmp_path, apps=3, min_frames=300, examples=3, target=2_000)
    assert tally.offences > 0, tally


@pytest.mark.slow
def test_100k_hostile_frames(tmp_path: Path) -> None:
    # each board has its own timeout; pytest's whole-test faulthandler_timeout would only
    # dump the stacks of a healthy run that takes a few minutes
    faulthandler.cancel_dump_traceback_later()
    tally = _fuzz(tmp_path, apps=4, min_frames=300, examples=25, target=100_000)
    assert tally.offences > 2_000, tally
