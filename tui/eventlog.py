"""The dashboard's events: the packed stream read back, and kept packed.

Events arrive from the daemon as a log per interval (tockd/records.py), are read back
into events at once and kept packed in batches of `BATCH` (one msgpack array each, with
the `seq` of its first and last event outside it): about 150 bytes an event, decoded
again only when a pane needs them (the newest batch for the live trace, or the ones
around the moment a user scrubs to). A few decoded batches are cached.

Every event has a `seq`, and an ordinal: how many events the dashboard received before
it. Seqs can have holes (events the daemon dropped for us, or did not send because we
did not ask for them), ordinals have none; positions are counted in ordinals. The
keyframes and the time travel built on these events are in tui/keyframes.py and
tui/history.py.
"""

from __future__ import annotations

import bisect
import gc
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgpack

from tockd.contract.events import Bare, Event, EventKind
from tockd.records import read_log
from tockd.trace import format_event
from tockd.tui.tracefilter import Matcher

#: events in one kept batch: few enough to decode one just to show the trace's last lines
BATCH = 512
#: batches kept decoded at once
DECODED_BATCHES = 32
#: the furthest back a trace or timeslice search looks, in events
SCAN_LIMIT = 50_000


@dataclass(eq=False)
class Batch:
    """Consecutive events of the stream (consecutive `seq` unless some were missed)."""

    first: int
    last: int
    count: int
    #: how many events the dashboard received before this batch
    ordinal: int
    raw: bytes | None
    #: the decoded events, kept for batches that arrived unpacked
    events: list[Event] | None = None
    #: every event's seq, when they are not simply first..last
    seqs: list[int] | None = None

    def seq_of(self, k: int) -> int:
        return self.first + k if self.seqs is None else self.seqs[k]

    def count_le(self, seq: int) -> int:
        """How many events of this batch have a seq <= `seq`."""
        if self.seqs is None:
            return max(0, min(self.count, seq - self.first + 1))
        return bisect.bisect_right(self.seqs, seq)


def _valid(ev: Any) -> bool:
    return type(ev) is dict and type(ev.get("seq")) is int and type(ev.get("kind")) is str


class EventLog:
    """The events received, oldest first, in batches; and what was missed."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        #: events the daemon dropped for us (holes in `seq`)
        self.missed = 0
        #: events received since the dashboard attached
        self.received = 0
        #: process names by index, as the stream last sent them (for syscall records)
        self.names: list[str] = []
        #: the last seq counted as received or missed (None: no event yet, no stream)
        self._counted: int | None = None
        self._decoded: OrderedDict[int, list[Event]] = OrderedDict()

    # ---- input ----------------------------------------------------------------------

    def follow(self, after: int) -> None:
        """Follow a stream whose first event comes after seq `after`: an event the
        stream skips counts as missed from the first."""
        if self._counted is None:
            self._counted = after

    def ingest(self, frames: Iterable[Any]) -> None:
        """Frames of a subscription: `{"log": ...}` (the packed stream) or single
        `{"event": ...}` maps. Anything else is ignored; a malformed log is kept as
        unreadable events, so its place in the history shows."""
        singles: list[Event] = []
        for frame in frames:
            if type(frame) is not dict:
                continue
            log = frame.get("log")
            if type(log) is dict:
                names = log.get("names")
                if type(names) is list and all(type(x) is str for x in names):
                    self.names = names
                first, last, entries = (log.get(k) for k in ("first", "last", "entries"))
                if type(first) is int and type(last) is int and type(entries) is bytes:
                    self.add_log(first, last, entries)
                    self._frame_end(last)
            elif "event" in frame:
                singles.append(frame["event"])
        if singles:
            self.add_events(singles)

    def add_log(self, first: int, last: int, entries: bytes) -> None:
        """A frame of the packed stream: its events, seq `first`..`last`, read back
        (tockd/records.py) and kept packed in batches of `BATCH` events."""
        if last < first or (self.batches and first <= self.batches[-1].last):
            return
        gc.disable()  # thousands of new dicts, no cycles: see _decode
        try:
            events = read_log(first, msgpack.unpackb(entries), self.names)
        except (ValueError, msgpack.UnpackException):
            events = [_unreadable(s) for s in range(first, last + 1)]
        finally:
            gc.enable()
        events = [e for e in events if first <= e["seq"] <= last]
        for i in range(0, len(events), BATCH):
            chunk = events[i : i + BATCH]
            self.add_packed(chunk[0]["seq"], chunk[-1]["seq"], len(chunk), msgpack.packb(chunk))

    def add_packed(self, first: int, last: int, count: int, raw: bytes) -> None:
        """A batch of `count` events, seq `first`..`last`, as one packed msgpack array."""
        if count <= 0 or last < first or (self.batches and first <= self.batches[-1].last):
            return
        batch = Batch(first, last, count, self.received, raw)
        if last - first + 1 != count:
            batch.seqs = [int(e["seq"]) for e in self._decode(batch)]
        self._append(batch)

    def add_events(self, events: Iterable[Event]) -> None:
        """Events already decoded (the unpacked stream, or tests)."""
        kept: list[Event] = []
        last = self.batches[-1].last if self.batches else -1
        for ev in events:
            if _valid(ev) and ev["seq"] > last:
                kept.append(ev)
                last = ev["seq"]
        if not kept:
            return
        seqs = [int(e["seq"]) for e in kept]
        batch = Batch(seqs[0], seqs[-1], len(kept), self.received, None, events=kept)
        if seqs[-1] - seqs[0] + 1 != len(kept):
            batch.seqs = seqs
        self._append(batch)

    def _frame_end(self, last: int) -> None:
        """A frame of the stream covered every seq up to `last`: those it carried no
        event for (not asked for, or given up by the daemon) are missed."""
        if self._counted is not None and last > self._counted:
            self.missed += last - self._counted
            self._counted = last

    def _append(self, batch: Batch) -> None:
        if self._counted is not None:
            self.missed += max(0, batch.first - self._counted - 1)
        self.missed += batch.last - batch.first + 1 - batch.count
        self._counted = batch.last
        self.batches.append(batch)
        self.received += batch.count

    def _held(self) -> int:
        return self.batches[-1].ordinal + self.batches[-1].count - self.batches[0].ordinal

    def _drop_through(self, seq: int) -> None:
        """Drop the oldest batches whose events all come at or before `seq` (never the
        newest batch)."""
        keep = 0
        while keep < len(self.batches) - 1 and self.batches[keep].last <= seq:
            keep += 1
        for b in self.batches[:keep]:
            self._decoded.pop(b.ordinal, None)
        del self.batches[:keep]

    # ---- decoding -------------------------------------------------------------------

    def _decode(self, batch: Batch) -> list[Event]:
        if batch.events is not None:
            return batch.events
        cached = self._decoded.get(batch.ordinal)
        if cached is not None:
            self._decoded.move_to_end(batch.ordinal)
            return cached
        assert batch.raw is not None
        # thousands of new dicts would set off the cyclic GC over the whole heap, which
        # makes decoding three times slower; they hold no cycles
        gc.disable()
        try:
            events = msgpack.unpackb(batch.raw, raw=False, strict_map_key=True)
        except (ValueError, msgpack.ExtraData, msgpack.StackError, msgpack.FormatError):
            events = None
        finally:
            gc.enable()
        if (
            type(events) is not list
            or len(events) != batch.count
            or not all(_valid(e) for e in events)
        ):
            # a malformed batch: keep the positions, show what happened
            events = [_unreadable(batch.first + k) for k in range(batch.count)]
        self._decoded[batch.ordinal] = events
        if len(self._decoded) > DECODED_BATCHES:
            self._decoded.popitem(last=False)
        return events

    def _batch_index(self, seq: int) -> int:
        """Index of the last batch whose first event is at or before `seq` (-1: none)."""
        return bisect.bisect_right(self.batches, seq, key=lambda b: b.first) - 1

    def events_between(self, after: int, upto: int) -> Iterator[Event]:
        """Events with `after` < seq <= `upto`, oldest first."""
        i = max(0, self._batch_index(after))
        for b in self.batches[i:]:
            if b.first > upto:
                return
            if b.last <= after:
                continue
            events = self._decode(b)
            yield from events[b.count_le(after) : b.count_le(upto)]

    def events_before(self, seq: int, limit: int = SCAN_LIMIT) -> Iterator[Event]:
        """Events at or before `seq`, newest first, at most `limit` of them."""
        i = self._batch_index(seq)
        seen = 0
        while i >= 0 and seen < limit:
            b = self.batches[i]
            events = self._decode(b)
            for k in range(b.count_le(seq) - 1, -1, -1):
                yield events[k]
                seen += 1
                if seen >= limit:
                    return
            i -= 1

    def event_at(self, seq: int) -> Event | None:
        i = self._batch_index(seq)
        if i < 0:
            return None
        b = self.batches[i]
        k = b.count_le(seq) - 1
        if k < 0 or b.seq_of(k) != seq:
            return None
        return self._decode(b)[k]

    def trace_before(
        self, seq: int, count: int, matcher: Matcher, scan: int = SCAN_LIMIT
    ) -> Iterator[tuple[Event, str]]:
        """Up to `count` trace lines at or before `seq` that `matcher` keeps, newest
        first; looks at most `scan` events back, so a rare filter stays cheap."""
        found = 0
        for ev in self.events_before(seq, scan):
            if not matcher(ev):
                continue
            line = format_event(ev)
            if line is None:
                continue
            yield ev, line
            found += 1
            if found >= count:
                return

    # ---- ordinals -------------------------------------------------------------------

    def _end(self) -> int:
        return self.batches[-1].ordinal + self.batches[-1].count if self.batches else 0

    def _count_le(self, seq: int) -> int:
        """Ordinal just past the last event with seq <= `seq`."""
        i = self._batch_index(seq)
        if i < 0:
            return self.batches[0].ordinal if self.batches else 0
        b = self.batches[i]
        return b.ordinal + b.count_le(seq)

    def _seq_at(self, ordinal: int) -> int | None:
        i = bisect.bisect_right(self.batches, ordinal, key=lambda b: b.ordinal) - 1
        if i < 0:
            return None
        b = self.batches[i]
        k = ordinal - b.ordinal
        return b.seq_of(k) if 0 <= k < b.count else None


def _unreadable(seq: int) -> Event:
    """The placeholder for event `seq` of a stream that could not be read."""
    return Bare(kind=EventKind.UNREADABLE, seq=seq)
