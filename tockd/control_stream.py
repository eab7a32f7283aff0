"""Event subscription on the control socket: `{"op": "subscribe"}` and its two streams.

After the subscribe reply the connection only streams, until the client closes it:

- plain: one `{"event": {...}}` frame per event, optionally gathered for `interval_ms`
  after the first one so a dashboard gets a few large writes a second instead of one per
  scheduler round. A slow subscriber never blocks the kernel: events that do not fit its
  buffer are dropped (their `seq` shows the gap).
- packed (`"packed": true`): one `{"log": ...}` frame per interval (`_PackedLog`,
  `_gather`; tockd/records.py says what the entries are). A slow subscriber loses
  nothing until it is very far behind, and then it is told what it missed.

Tock has nothing like it (its process console prints; it does not stream): this is the
dashboard's and `tockd trace`'s window on the kernel's events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgpack
import trio

from tockd.contract import wire
from tockd.contract.control import error
from tockd.contract.events import Event

if TYPE_CHECKING:
    from tockd.daemon import Daemon

#: the longest a subscriber may ask events to gather before a batch is sent
MAX_INTERVAL_MS = 1000
#: buffer (and largest batch) of a plain subscriber that does not gather, in events
EACH_BUFFER = 4096
#: buffer (and largest batch) of a coalescing subscriber, in events
COALESCED_BUFFER = 65536
#: the shortest time a packed stream lets events gather (its `interval_ms` at 0)
PACKED_FLUSH_MS = 20
#: frames queued for a slow packed subscriber; while they are all queued, new events
#: wait in the log and go out in a later, larger frame (none is dropped)
PACKED_QUEUE = 16
#: the most log entries one frame of a packed stream may carry, and so the most a
#: subscriber that stopped reading makes the daemon hold; beyond, the log's events are
#: given up, and the next frame says so (see `_PackedLog.give_up`)
PACKED_MOST = 1 << 20
#: milliseconds in a second, for trio's sleeps
_MS = 1000

# a value msgpack cannot encode must not kill the daemon: its text is sent instead
_packer = msgpack.Packer(default=repr)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A validated subscribe request: `wanted` event kinds (None: all)."""

    wanted: set[str] | None
    interval_ms: int
    packed: bool


def parse_subscribe(req: dict[str, object]) -> Subscription:
    """The fields of a subscribe request, each checked like a syscall's arguments;
    ValueError names the first bad one."""
    kinds = req.get("kinds")
    if kinds is not None and (type(kinds) is not list or any(type(k) is not str for k in kinds)):
        raise ValueError("subscribe: 'kinds' must be a list of event kind names")
    interval = req.get("interval_ms", 0)
    if type(interval) is not int or not 0 <= interval <= MAX_INTERVAL_MS:
        raise ValueError(f"subscribe: 'interval_ms' must be an integer 0..{MAX_INTERVAL_MS}")
    packed = req.get("packed", False)
    if type(packed) is not bool:
        raise ValueError("subscribe: 'packed' is a bool")
    return Subscription(set(kinds) if kinds is not None else None, interval, packed)


async def stream_events(daemon: Daemon, stream: trio.SocketStream, req: dict[str, object]) -> None:
    """Answer a subscribe request, then stream events to the subscriber until it goes
    away (a bad request gets an error reply and no stream)."""
    try:
        sub = parse_subscribe(req)
    except ValueError as e:
        await stream.send_all(wire.encode(error(str(e))))
        return
    if sub.packed:
        await _stream_packed(daemon, stream, sub)
    else:
        await _stream_each(daemon, stream, sub)


# ---- the plain stream: one frame per event ---------------------------------------------


def _channel_sink(
    send: trio.MemorySendChannel[Event], wanted: set[str] | None
) -> Callable[[Event], None]:
    """A kernel event sink that queues the wanted events without ever blocking the
    kernel: an event that finds the queue full is dropped."""

    def sink(ev: Event) -> None:
        if wanted is None or ev["kind"] in wanted:
            try:
                send.send_nowait(ev)
            except trio.WouldBlock:
                pass  # dropped: the subscriber sees the gap in `seq`
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the subscriber is leaving; its sink is being removed

    return sink


async def _stream_each(daemon: Daemon, stream: trio.SocketStream, sub: Subscription) -> None:
    depth = EACH_BUFFER if sub.interval_ms == 0 else COALESCED_BUFFER
    send, recv = trio.open_memory_channel[Event](depth)
    remove = daemon.kernel.events.subscribe(_channel_sink(send, sub.wanted))
    try:
        await stream.send_all(wire.encode({"ok": True, "result": "subscribed"}))
        async for ev in recv:
            if sub.interval_ms:
                await trio.sleep(sub.interval_ms / _MS)
            batch = [ev, *_queued(recv, depth - 1)]
            await stream.send_all(b"".join([_packer.pack({"event": e}) for e in batch]))
    finally:
        # remove the sink before closing the channel, with no checkpoint in between: a
        # kernel event in that window would otherwise raise into the kernel loop
        remove()
        send.close()
        recv.close()


def _queued(recv: trio.MemoryReceiveChannel[Event], most: int) -> list[Event]:
    """Up to `most` events already waiting in the channel, without waiting for more."""
    batch: list[Event] = []
    while len(batch) < most:
        try:
            batch.append(recv.receive_nowait())
        except trio.WouldBlock:
            break
    return batch


# ---- the packed stream: one frame per interval -------------------------------------------


class _PackedLog:
    """The entries gathered for one packed subscriber since its last frame.

    The kernel's share is kept to the least: a syscall is two appends of bytes the
    daemon holds anyway, the call as the app sent it and the reply (no call of ours, no
    dict, nothing packed); another event is packed at once and only its bytes are kept
    (a dict held until the batch goes out would survive into the older GC generations,
    and the collector's work over them cost more than the packing); a frame is sent as
    the join of its entries. `after` is the seq of the last event before the log.
    """

    def __init__(self, daemon: Daemon, wanted: set[str] | None) -> None:
        self.daemon = daemon
        self.entries: list[bytes] = []
        append = self.entries.append  # bound once: the sink runs for every event
        pack = _packer.pack

        def sink(ev: Event) -> None:
            append(pack(ev) if wanted is None or ev["kind"] in wanted else pack(ev["seq"]))

        events = daemon.kernel.events
        with_syscalls = wanted is None or "syscall" in wanted
        self.remove = events.subscribe(
            sink, syscalls=False, record=append if with_syscalls else None
        )
        self.running()
        self.after = events.seq  # no checkpoint since the subscription

    def running(self) -> None:
        """Note which process runs, so the next frame reads on its own, even from the
        middle of a quantum."""
        proc = self.daemon.current
        if proc is not None:
            self.entries.append(_packer.pack((proc.identifier, proc.index)))

    def give_up(self, last: int) -> None:
        """Drop the log's events, up to seq `last`, keeping their place in the stream:
        one integer entry, the seq of the last event given up (tockd/records.py reads
        it as events not sent)."""
        del self.entries[:]
        self.entries.append(_packer.pack(last))
        self.running()

    def take(self) -> list[bytes]:
        """The entries so far; the log starts again (the same list: the sink holds it)."""
        entries = self.entries[:]
        del self.entries[:]
        self.running()
        return entries


def _log_frame(first: int, last: int, entries: list[bytes], names: list[str] | None) -> bytes:
    """One packed frame `{"log": {"first": SEQ, "last": SEQ, "entries": BIN}}`, with
    `"names"`, the process names by index, when they changed."""
    joined = _array_header(len(entries)) + b"".join(entries)
    body: dict[str, object] = {"first": first, "last": last, "entries": joined}
    if names is not None:
        body["names"] = names
    return _packer.pack({"log": body})


async def _gather(
    daemon: Daemon, log: _PackedLog, send: trio.MemorySendChannel[bytes], period: float
) -> None:
    """Every `period` s, queue a frame of the events since the last one. While
    `PACKED_QUEUE` frames wait for the subscriber, the log is not cut: its events go
    out in a later frame. Only a subscriber that stays behind until the log holds
    `PACKED_MOST` entries loses them, and the next frame still covers every seq, so it
    sees what it missed (a dashboard counts and shows it)."""
    kernel = daemon.kernel
    sent = log.after  # the last event in a frame sent (or before the log)
    sent_names: list[str] | None = None
    while True:
        await trio.sleep(period)
        last = kernel.events.seq
        if last == sent:
            continue
        if len(log.entries) > PACKED_MOST:
            log.give_up(last)  # more than a client could take
        if _queue_full(send):
            continue  # the subscriber is behind: its events wait in the log
        entries = log.take()
        names = [p.name for p in kernel.processes]
        frame = _log_frame(sent + 1, last, entries, names if names != sent_names else None)
        send.send_nowait(frame)  # there is room: checked above
        sent, sent_names = last, names


async def _stream_packed(daemon: Daemon, stream: trio.SocketStream, sub: Subscription) -> None:
    """The packed stream: every `interval_ms` (`PACKED_FLUSH_MS` at the least) one log
    frame. The subscribe reply's `"after"` is the seq of the last event before the
    first frame: with it a client knows where its stream starts, even on a board that
    is quiet for a while. A second task sends the frames, so a subscriber that falls
    behind never costs the kernel's time."""
    log = _PackedLog(daemon, sub.wanted)
    send, receive = trio.open_memory_channel[bytes](PACKED_QUEUE)
    period = max(sub.interval_ms, PACKED_FLUSH_MS) / _MS
    try:
        reply = {"ok": True, "result": "subscribed", "after": log.after}
        await stream.send_all(wire.encode(reply))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_gather, daemon, log, send, period)
            try:
                async for data in receive:
                    await stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass  # the subscriber left
            finally:
                nursery.cancel_scope.cancel()
    finally:
        log.remove()


def _queue_full(send: trio.MemorySendChannel[bytes]) -> bool:
    """Whether every place in a packed subscriber's frame queue is taken."""
    stats = send.statistics()
    return bool(stats.current_buffer_used >= stats.max_buffer_size)


def _array_header(n: int) -> bytes:
    """The msgpack header of an array of `n` items."""
    if n < 16:
        return bytes([0x90 | n])
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")
