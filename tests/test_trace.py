"""Trace lines have exactly the shapes Tock prints (the seed's rot13 trace); the JSONL
file never holds a torn line."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tockd.trace import JsonlTrace, format_event


def ev(kind: str, **kw: object) -> dict[str, object]:
    return {"kind": kind, "pid": 1, **kw}


def test_lines_match_the_seed_trace() -> None:
    cases = [
        (
            ev("function_call", fnptr=0x88088, args=[0x88060, 0x40010000, 0x173C, 0x40010000]),
            "[1] function_call @0x88088(0x88060, 0x40010000, 0x173c, 0x40010000)",
        ),
        (
            ev("syscall", cls=5, args=[0, 0x40010A40, 0, 0], ret="Success"),
            "[1] memop(0, 0x40010a40) = Success",
        ),
        (
            ev("syscall", cls=5, args=[1, 0x1B4, 0, 0], ret="SuccessU32(1073777100)"),
            "[1] memop(1, 0x1b4) = SuccessU32(1073777100)",
        ),
        (
            ev(
                "syscall",
                cls=4,
                args=[0x10000, 0, 0x8AE5C, 0x19],
                ret="AllowReadOnlySuccess(0x0, 0)",
            ),
            "[1] read-only allow(0x10000, 0, @0x8ae5c, 0x19) = AllowReadOnlySuccess(0x0, 0)",
        ),
        (
            ev("syscall", cls=2, args=[0x10000, 1, 0, 0], ret="SuccessU32(0)"),
            "[1] cmd(0x10000, 1, 0x0, 0x0) = SuccessU32(0)",
        ),
        (
            ev("remove_pending_upcalls", driver=0x10000, subscribe=0, removed=0),
            "[1] remove_pending_upcalls[0x10000:0] = 0 upcall(s) removed",
        ),
        (
            ev(
                "syscall",
                cls=1,
                args=[0x10000, 0, 0x88108, 0x40010A00],
                ret="SubscribeSuccess(0x0, 0)",
            ),
            "[1] subscribe(0x10000, 0, @0x88108, 0x40010a00) = SubscribeSuccess(0x0, 0)",
        ),
        (
            ev(
                "syscall",
                cls=3,
                args=[0x10000, 0, 0x40010A00, 0x40],
                ret="AllowReadWriteSuccess(0x0, 0)",
            ),
            "[1] read-write allow(0x10000, 0, @0x40010a00, 0x40) = AllowReadWriteSuccess(0x0, 0)",
        ),
        (ev("syscall", cls=0, args=[1, 0, 0, 0]), "[1] yield. which: 1"),
        (
            ev(
                "schedule",
                driver=0x10000,
                subscribe=0,
                fnptr=0,
                args=[1, 0x40, 0x40010A00],
                appdata=0,
                result="Ok(())",
            ),
            "[1] schedule[0x10000:0] @0x0(0x1, 0x40, 0x40010a00, 0x0) = Ok(())",
        ),
        (
            ev("syscall", cls=6, args=[0, 0, 0, 0], ret="None"),
            "[1] exit(which: 0, completion_code: 0) = None",
        ),
        (ev("wait_for", null=True, args=[1, 2, 3]), "[1] Yield-WaitFor: [NU] (0x1, 0x2, 0x3)"),
        (
            ev("schedule_invalid", driver=1, subscribe=9),
            "[1] schedule[0x1:9] invalid subscribe_num",
        ),
    ]
    for event, line in cases:
        assert format_event(event) == line
    assert format_event(ev("fault", name="a", reason="bad frame", policy="stop")) == (
        "[1] Process a faulted and was stopped: bad frame"
    )
    assert format_event(ev("grant_alloc", driver=1)) is None


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
