"""msgpack framing shared by the kernel and the app runtime: bounded, validated, sans-IO.

A frame is one msgpack array. The decoder is a bounded `Unpacker`: a peer that sends
more than its limit (`MAX_FRAME` bytes unless it was built with another, as the control
protocol's is) without completing a frame, or anything that is not a well-formed frame
of the protocol, raises `WireError` with the reason, which names that limit; the kernel
turns it into a fault of that one app.

Part of the contract (tockd/contract/__init__.py): imports only msgpack and the standard
library.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgpack

#: The largest frame a peer may send. Syscalls are five small integers; reports carry a
#: short text. Anything bigger is hostile.
MAX_FRAME = 64 * 1024
#: Registers are 32 bits wide.
U32_MAX = 0xFFFF_FFFF


class WireError(Exception):
    """A peer sent bytes that are not a valid frame; the message says why."""


class FrameDecoder:
    """Feed bytes, iterate complete frames. Raises WireError on malformed input."""

    __slots__ = ("_clean", "_fed", "_unpacker", "exact", "max_frame")

    def __init__(self, max_frame: int = MAX_FRAME, max_items: int = 64) -> None:
        #: the largest frame this decoder takes, in bytes (its errors name it)
        self.max_frame = max_frame
        self._fed = 0  # bytes fed so far, against the unpacker's tell()
        self._clean = True  # no part of a frame is waiting for more bytes
        #: the last `decode` was given exactly one whole frame (its bytes are that frame)
        self.exact = False
        self._unpacker = msgpack.Unpacker(
            raw=False,
            max_buffer_size=max_frame,
            max_array_len=max_items,
            max_map_len=max_items,
            strict_map_key=True,
            use_list=True,
        )

    @property
    def clean(self) -> bool:
        """No part of a frame is waiting for the rest (as far as `decode` can tell)."""
        return self._clean

    def feed(self, data: bytes) -> None:
        self.exact = self._clean = False
        try:
            self._unpacker.feed(data)
        except msgpack.BufferFull:
            raise self._too_large() from None
        self._fed += len(data)

    def decode(self, data: bytes) -> list[Any]:
        """Feed `data` and return every frame it completes: `feed` then `frames`, but in
        the usual case (one whole frame per read) without a generator or a
        StopIteration. Raises WireError (then the frames before the bad one in the same
        data are not returned: the peer is faulted anyway)."""
        unpacker = self._unpacker
        clean = self._clean
        self.exact = self._clean = False
        try:
            unpacker.feed(data)
        except msgpack.BufferFull:
            raise self._too_large() from None
        self._fed += len(data)
        try:
            frame = unpacker.unpack()
        except msgpack.OutOfData:
            return []
        except msgpack.BufferFull:
            raise self._too_large() from None
        except (ValueError, msgpack.StackError, msgpack.FormatError, TypeError) as e:
            raise WireError(f"malformed msgpack: {e}") from None
        if unpacker.tell() == self._fed:
            self.exact, self._clean = clean, True
            return [frame]
        return [frame, *self._frames(unpacker.tell())]

    def _too_large(self) -> WireError:
        return WireError(f"frame larger than {self.max_frame} bytes")

    def frames(self) -> Iterator[Any]:
        return self._frames(-1)

    def _frames(self, consumed: int) -> Iterator[Any]:
        # `consumed`: where the last whole frame ended (-1: not known). Once a frame is
        # only partly there, tell() has moved past its bytes, so it cannot say.
        while True:
            try:
                obj = next(self._unpacker)
            except StopIteration:
                self._clean = consumed == self._fed
                return
            except msgpack.BufferFull:
                raise self._too_large() from None
            except msgpack.OutOfData:
                return
            except (ValueError, msgpack.StackError, msgpack.FormatError, TypeError) as e:
                raise WireError(f"malformed msgpack: {e}") from None
            consumed = self._unpacker.tell()
            yield obj


_packer = msgpack.Packer()


def encode(frame: Any) -> bytes:
    """Encode one frame."""
    return _packer.pack(frame)


def check_syscall(frame: Any) -> tuple[int, int, int, int, int]:
    """Validate an app -> kernel syscall frame `[class, r0, r1, r2, r3]`.

    Every value must be an integer register value (0 <= v <= 2**32-1); the class must be
    0..7. Raises WireError naming what is wrong.
    """
    if type(frame) is not list or len(frame) != 5:
        raise WireError(f"syscall frame must be a list of 5 integers, got {_short(frame)}")
    for v in frame:
        if type(v) is not int:
            raise WireError(f"syscall frame holds a non-integer: {_short(frame)}")
        if v < 0 or v > U32_MAX:
            raise WireError(f"register value {v} is not a 32-bit unsigned integer")
    cls = frame[0]
    if cls > 7:
        raise WireError(f"unknown syscall class {cls}")
    return frame[0], frame[1], frame[2], frame[3], frame[4]


def _short(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."
