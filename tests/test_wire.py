"""The wire decoder: arbitrary bytes give frames or a WireError, never anything else."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tockd.contract import wire

registers = st.integers(min_value=0, max_value=wire.U32_MAX)


@given(st.binary(max_size=4096), st.integers(min_value=1, max_value=64))
@settings(max_examples=400)
def test_arbitrary_bytes_never_crash_the_decoder(data: bytes, chunk: int) -> None:
    decoder = wire.FrameDecoder(max_frame=1024)
    try:
        for i in range(0, len(data), chunk):
            decoder.feed(data[i : i + chunk])
            for frame in decoder.frames():
                try:
                    wire.check_syscall(frame)
                except wire.WireError:
                    pass
    except wire.WireError:
        pass


@given(
    st.lists(st.tuples(st.integers(0, 7), registers, registers, registers, registers), max_size=20),
    st.integers(min_value=1, max_value=17),
)
def test_valid_syscalls_survive_any_chunking(calls: list[tuple[int, ...]], chunk: int) -> None:
    data = b"".join(wire.encode(list(c)) for c in calls)
    decoder = wire.FrameDecoder()
    got = []
    for i in range(0, len(data), chunk):
        decoder.feed(data[i : i + chunk])
        got.extend(wire.check_syscall(f) for f in decoder.frames())
    assert got == calls


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=5)
        | st.binary(max_size=5),
        lambda inner: st.lists(inner, max_size=6),
        max_leaves=12,
    )
)
def test_check_syscall_accepts_only_five_registers(obj: object) -> None:
    try:
        cls, *_ = wire.check_syscall(obj)
    except wire.WireError:
        return
    assert isinstance(obj, list) and len(obj) == 5 and 0 <= cls <= 7


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xc1", "malformed msgpack"),
        (b"\xdd" + (1 << 20).to_bytes(4, "big"), "exceeds max_array_len"),
        (b"\x91" * 3000 + b"\x00", "malformed msgpack"),
        (msgpack.packb("x" * 70000), "frame larger than"),
    ],
)
def test_hostile_frames_name_their_problem(data: bytes, reason: str) -> None:
    decoder = wire.FrameDecoder()

    def decode() -> None:
        decoder.feed(data)
        list(decoder.frames())

    with pytest.raises(wire.WireError, match=reason):
        decode()


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ([1, 2, 3], "list of 5 integers"),
        ([2, 1, 0, 0, "x"], "non-integer"),
        ([2, 1, 0, 0, -1], "not a 32-bit unsigned"),
        ([2, 1, 0, 0, 1 << 32], "not a 32-bit unsigned"),
        ([8, 0, 0, 0, 0], "unknown syscall class 8"),
        ([True, 0, 0, 0, 0], "non-integer"),
    ],
)
def test_check_syscall_reasons(frame: object, reason: str) -> None:
    with pytest.raises(wire.WireError, match=reason):
        wire.check_syscall(frame)


@given(st.binary(max_size=600), st.integers(min_value=1, max_value=40))
@settings(max_examples=400)
def test_decode_gives_what_feed_and_frames_give(data: bytes, chunk: int) -> None:
    """`decode` (the syscall hot path) is `feed` + `frames`: the same frames, and the same
    error at the same read (frames read together with a bad one may be lost: the peer
    is faulted anyway)."""

    def run(fast: bool) -> tuple[list[object], int, str | None]:
        decoder = wire.FrameDecoder(max_frame=256)
        got: list[object] = []
        for i in range(0, len(data), chunk):
            try:
                if fast:
                    got.extend(decoder.decode(data[i : i + chunk]))
                else:
                    decoder.feed(data[i : i + chunk])
                    got.extend(list(decoder.frames()))
            except wire.WireError as e:
                return got, i, str(e)
        return got, len(data), None

    assert repr(run(True)) == repr(run(False))  # (repr: a NaN in a frame equals itself)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xc1", "malformed msgpack"),
        (b"\xdd" + (1 << 20).to_bytes(4, "big"), "exceeds max_array_len"),
        (msgpack.packb("x" * 70000), "frame larger than"),
    ],
)
def test_decode_names_the_problem_too(data: bytes, reason: str) -> None:
    with pytest.raises(wire.WireError, match=reason):
        wire.FrameDecoder().decode(data)


def test_the_decoder_says_when_a_read_was_exactly_one_frame() -> None:
    d = wire.FrameDecoder()
    one, two = wire.encode([2, 1, 0, 0, 0]), wire.encode([2, 2, 0, 0, 0])
    assert d.decode(one) == [[2, 1, 0, 0, 0]] and d.exact
    assert d.decode(one[:3]) == [] and not d.exact
    assert d.decode(one[3:]) == [[2, 1, 0, 0, 0]] and not d.exact  # the end of a frame
    assert d.decode(one + two) == [[2, 1, 0, 0, 0], [2, 2, 0, 0, 0]] and not d.exact
    assert d.decode(one + two[:2]) == [[2, 1, 0, 0, 0]] and not d.exact
    assert d.decode(two[2:]) == [[2, 2, 0, 0, 0]] and not d.exact
    assert d.decode(two) == [[2, 2, 0, 0, 0]] and d.exact  # clean again
    d.feed(one[:2])
    assert list(d.frames()) == [] and not d.exact
    assert d.decode(one[2:]) == [[2, 1, 0, 0, 0]] and not d.exact  # fed, then completed
    assert d.decode(one) == [[2, 1, 0, 0, 0]] and d.exact
