"""An asyncio client of tockd's control socket (the dashboard's only way to the kernel).

Two connections serve the dashboard: one subscribed to the event stream (read-only,
coalesced by the daemon into a few batches a second), one for queries and commands.
Frames are msgpack maps, decoded with the same bounded decoder the kernel uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from tockd.contract import wire

#: largest single frame accepted from the daemon (a snapshot of a big board)
MAX_FRAME = 16 << 20
#: largest array or map in a frame (the process list of a big board)
MAX_ITEMS = 1 << 16
_READ = 1 << 18


class ControlFailed(Exception):
    """The daemon answered a request with an error; the message is the daemon's."""

    def __init__(self, op: str, error: str) -> None:
        super().__init__(f"{op}: {error}")
        self.op = op
        self.error = error


class Disconnected(Exception):
    """The daemon closed the control connection (it stopped, or was killed)."""


class ControlConnection:
    """One connection to the control socket. Requests are answered in order, so one
    request is in flight at a time (a lock serialises callers)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._decoder = wire.FrameDecoder(max_frame=MAX_FRAME, max_items=MAX_ITEMS)
        self._frames: list[Any] = []
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> ControlConnection:
        try:
            reader, writer = await asyncio.open_unix_connection(str(path), limit=_READ)
        except OSError as e:
            raise Disconnected(f"cannot connect to {path}: {e.strerror or e}") from None
        return cls(reader, writer)

    async def _read_frames(self) -> list[Any]:
        """Wait for at least one whole frame; return every frame received so far."""
        while not self._frames:
            try:
                data = await self._reader.read(_READ)
            except OSError as e:
                raise Disconnected(f"control socket: {e.strerror or e}") from None
            if not data:
                raise Disconnected("the daemon closed the control connection")
            try:
                self._decoder.feed(data)
                self._frames.extend(self._decoder.frames())
            except wire.WireError as e:
                raise Disconnected(f"the daemon sent a bad frame: {e}") from None
        frames, self._frames = self._frames, []
        return frames

    async def _send(self, frame: Any) -> None:
        try:
            self._writer.write(wire.encode(frame))
            await self._writer.drain()
        except OSError as e:
            raise Disconnected(f"control socket: {e.strerror or e}") from None

    async def request(self, op: str, **args: Any) -> Any:
        """Send `{"op": op, **args}` and return the reply's result; raise ControlFailed
        with the daemon's reason on an error reply."""
        return (await self._exchange(op, **args)).get("result")

    async def _exchange(self, op: str, **args: Any) -> dict[str, Any]:
        """Send `{"op": op, **args}` and return the whole reply, if it says ok."""
        async with self._lock:
            await self._send({"op": op, **args})
            frames = await self._read_frames()
            reply, rest = frames[0], frames[1:]
            self._frames[:0] = rest
        if type(reply) is not dict:
            raise Disconnected(f"{op}: the daemon answered with {type(reply).__name__}")
        if not reply.get("ok"):
            raise ControlFailed(op, str(reply.get("error")))
        return reply

    async def subscribe(self, interval_ms: int = 100) -> int:
        """Turn this connection into a packed event stream (read-only from then on).
        Returns the seq of the last event before the stream (tockd/control.py
        `_stream_packed`): the first frame carries the events after it."""
        await self.request("readonly")
        reply = await self._exchange("subscribe", interval_ms=interval_ms, packed=True)
        after = reply.get("after")
        if type(after) is not int:
            raise Disconnected("subscribe: the daemon did not say where the stream starts")
        return after

    async def frames(self) -> AsyncGenerator[list[Any], None]:
        """The stream's frames as they arrive (`{"batch": ...}` maps), until the daemon
        goes away (Disconnected)."""
        while True:
            yield await self._read_frames()

    def close(self) -> None:
        """Close the connection (the transport finishes closing on the event loop)."""
        self._writer.close()
