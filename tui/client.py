"""An asyncio client of tockd's control socket (the dashboard's only way to the kernel).

Two connections serve the dashboard: one subscribed to the event stream (read-only,
coalesced by the daemon into a few batches a second), one for queries and commands.
The framing, the bounds and the reply check are the control protocol's
(tockd/contract/control.py), shared with the command line's blocking client; this
module brings only the asyncio I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from tockd.contract.control import (
    ControlFailed,
    Disconnected,
    OkReply,
    ReplyReader,
    check_reply,
    encode_request,
)

# the dashboard catches these by this module's names (tui/dashboard.py)
__all__ = ["ControlConnection", "ControlFailed", "Disconnected"]

#: bytes asked of the socket at once (and the stream reader's buffer limit)
_READ = 1 << 18


class ControlConnection:
    """One connection to the control socket. Requests are answered in order, so one
    request is in flight at a time (a lock serialises callers)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._replies = ReplyReader()
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> ControlConnection:
        try:
            reader, writer = await asyncio.open_unix_connection(str(path), limit=_READ)
        except OSError as e:
            raise Disconnected(f"cannot connect to {path}: {e.strerror or e}") from None
        return cls(reader, writer)

    async def _read_frames(self) -> list[object]:
        """Wait for at least one whole frame; return every frame received so far."""
        while not self._replies.has_frame():
            self._replies.feed(await self._read_some())
        return self._replies.take_all()

    async def _send(self, op: str, fields: dict[str, object]) -> None:
        try:
            self._writer.write(encode_request(op, **fields))
            await self._writer.drain()
        except OSError as e:
            raise Disconnected(f"control socket: {e.strerror or e}") from None

    async def request(self, op: str, **fields: object) -> Any:
        """Send `{"op": op, **fields}` and return the reply's result (a msgpack value
        shaped as the op's result in tockd/contract/control.py); raise ControlFailed
        with the daemon's reason on an error reply."""
        return (await self._exchange(op, fields))["result"]

    async def _exchange(self, op: str, fields: dict[str, object]) -> OkReply:
        """Send `{"op": op, **fields}` and return the whole reply, if it says ok."""
        async with self._lock:
            await self._send(op, fields)
            while not self._replies.has_frame():
                self._replies.feed(await self._read_some())
            reply = self._replies.take_one()
        return check_reply(op, reply)

    async def _read_some(self) -> bytes:
        try:
            return await self._reader.read(_READ)
        except OSError as e:
            raise Disconnected(f"control socket: {e.strerror or e}") from None

    async def subscribe(self, interval_ms: int = 100) -> int:
        """Turn this connection into a packed event stream (read-only from then on).
        Returns the seq of the last event before the stream (tockd/control_stream.py,
        the packed stream): the first frame carries the events after it."""
        await self.request("readonly")
        reply = await self._exchange("subscribe", {"interval_ms": interval_ms, "packed": True})
        after = reply.get("after")
        if after is None:
            raise Disconnected("subscribe: the daemon did not say where the stream starts")
        return after

    async def frames(self) -> AsyncGenerator[list[object], None]:
        """The stream's frames as they arrive (`{"log": ...}` maps), until the daemon
        goes away (Disconnected)."""
        while True:
            yield await self._read_frames()

    def close(self) -> None:
        """Close the connection (the transport finishes closing on the event loop)."""
        self._writer.close()
