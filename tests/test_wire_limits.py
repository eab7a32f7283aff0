"""A decoder's errors name its own frame limit: 64 KiB for the app protocol, 16 MiB for
the control protocol, whatever a decoder was built with."""

from __future__ import annotations

from collections.abc import Callable

import msgpack
import pytest

from tockd.contract import control, wire


def with_feed(decoder: wire.FrameDecoder, data: bytes) -> None:
    decoder.feed(data)
    list(decoder.frames())


def with_decode(decoder: wire.FrameDecoder, data: bytes) -> None:
    decoder.decode(data)


def with_frames_in_two_reads(decoder: wire.FrameDecoder, data: bytes) -> None:
    """Half a frame, its frames taken, then the rest."""
    half = len(data) // 2
    decoder.feed(data[:half])
    list(decoder.frames())
    decoder.feed(data[half:])
    list(decoder.frames())


READS: list[Callable[[wire.FrameDecoder, bytes], None]] = [
    with_feed,
    with_decode,
    with_frames_in_two_reads,
]


@pytest.mark.parametrize("read", READS)
@pytest.mark.parametrize("limit", [wire.MAX_FRAME, 256, 1 << 20])
def test_an_oversized_frame_names_the_decoders_own_limit(
    read: Callable[[wire.FrameDecoder, bytes], None], limit: int
) -> None:
    decoder = wire.FrameDecoder(max_frame=limit)
    assert decoder.max_frame == limit
    with pytest.raises(wire.WireError, match=rf"^frame larger than {limit} bytes$"):
        read(decoder, msgpack.packb(b"x" * (limit + 10)))


def test_the_default_limit_is_64_kib() -> None:
    with pytest.raises(wire.WireError, match=r"^frame larger than 65536 bytes$"):
        wire.FrameDecoder().decode(msgpack.packb(b"x" * 70_000))


def test_the_control_protocol_names_its_16_mib_limit() -> None:
    reader = control.ReplyReader()
    # the start of a string longer than the limit: no frame, and too many bytes for one
    header = b"\xdb" + (control.MAX_FRAME + 1).to_bytes(4, "big")
    with pytest.raises(control.Disconnected, match=f"frame larger than {16 << 20} bytes"):
        reader.feed(header + b"x" * control.MAX_FRAME)
