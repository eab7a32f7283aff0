"""The dashboard's memory of the board: every event received, and keyframes.

Events arrive from the daemon as a log per interval (tockd/records.py), are read back
into events at once and kept packed in batches of `BATCH` (one msgpack array each, with
the `seq` of its first and last event outside it): about 150 bytes an event, decoded
again only when a pane needs them (the newest batch for the live trace, or the ones
around the moment a user scrubs to). Keyframes are full `snapshot` replies. The
board right after any event is the nearest earlier keyframe with the events after it
folded in; that is time travel, and "live" is the newest keyframe.

Snapshots and events come on two connections, so a snapshot can overtake the events
before it: its board already counts syscalls the stream has not delivered yet. Such a
snapshot waits, and becomes a keyframe once the stream has reached its `seq`. Otherwise
the board at an event between the previous keyframe and it would be folded from the
events received so far and silently miss the rest (the dashboard would show a board
that never was, e.g. a few syscalls short for every process).
"""

from __future__ import annotations

import bisect
import gc
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgpack

from tockd.contract.control import Snapshot
from tockd.contract.events import Bare, ContextSwitch, Event, EventKind
from tockd.records import read_log
from tockd.trace import format_event
from tui.board import Board, ProcRow, board_from_snapshot
from tui.fold import apply
from tui.tracefilter import Matcher

#: events kept for scrubbing and the trace; older ones go, a keyframe at a time
HISTORY_LIMIT = 500_000
#: rates shown in a process's sparkline (one per keyframe)
SPARK_POINTS = 16
#: events in one kept batch: few enough to decode one just to show the trace's last lines
BATCH = 512
#: batches kept decoded at once
DECODED_BATCHES = 32
#: the furthest back a trace or timeslice search looks, in events
SCAN_LIMIT = 50_000
#: snapshots kept waiting for the stream to reach them; beyond, the oldest is let go
PENDING_LIMIT = 64


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


def _kseq(board: Board) -> int:
    return board.seq


def _valid(ev: Any) -> bool:
    return type(ev) is dict and type(ev.get("seq")) is int and type(ev.get("kind")) is str


class History:
    """Events (up to `limit`) and the keyframes to rebuild the board at any of them."""

    def __init__(self, limit: int = HISTORY_LIMIT) -> None:
        self.limit = limit
        self.batches: list[Batch] = []
        self.keyframes: list[Board] = []
        #: events the daemon dropped for us (holes in `seq`)
        self.missed = 0
        #: events received since the dashboard attached
        self.received = 0
        #: process names by index, as the stream last sent them (for syscall records)
        self.names: list[str] = []
        #: the seq the event stream has reached (events received, or known missed);
        #: None: not following a stream, so snapshots become keyframes at once
        self.stream_seq: int | None = None
        #: snapshots ahead of the stream, waiting to become keyframes (oldest first)
        self.pending: list[Board] = []
        #: the last seq counted as received or missed (None: no event yet, no stream)
        self._counted: int | None = None
        self._decoded: OrderedDict[int, list[Event]] = OrderedDict()

    # ---- input ----------------------------------------------------------------------

    def follow(self, after: int) -> None:
        """Follow a stream whose first event comes after seq `after` (the subscribe
        reply says which): from now on a snapshot waits until the stream reaches it, and
        an event the stream skips counts as missed from the first."""
        self.stream_seq = after
        if self._counted is None:
            self._counted = after
        self._release()

    def _reached(self, seq: int) -> None:
        """The stream has delivered (or lost) every event up to `seq`."""
        if self.stream_seq is not None and seq > self.stream_seq:
            self.stream_seq = seq
            self._release()

    def _release(self) -> None:
        """Turn the waiting snapshots the stream has now reached into keyframes."""
        reached = self.stream_seq
        if reached is None or not self.pending:
            return
        ready = [kf for kf in self.pending if kf.seq <= reached]
        if ready:
            self.pending = [kf for kf in self.pending if kf.seq > reached]
            for kf in ready:
                self._add_keyframe(kf)

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
        self._reached(last)

    def _append(self, batch: Batch) -> None:
        if self._counted is not None:
            self.missed += max(0, batch.first - self._counted - 1)
        self.missed += batch.last - batch.first + 1 - batch.count
        self._counted = batch.last
        self.batches.append(batch)
        self.received += batch.count
        if self._held() > self.limit + self.limit // 4:
            self._trim()
        self._reached(batch.last)

    def add_snapshot(self, snap: Snapshot) -> Board:
        """Add a keyframe from a `snapshot` reply, or, while the stream has not reached
        its `seq`, keep it waiting for the stream; returns its board."""
        kf = board_from_snapshot(snap)
        if self.stream_seq is not None and kf.seq > self.stream_seq:
            self.pending.append(kf)
            del self.pending[:-PENDING_LIMIT]
            return kf
        return self._add_keyframe(kf)

    def _add_keyframe(self, kf: Board) -> Board:
        """Make `kf`, whose events up to its `seq` are all in, the newest keyframe."""
        prev = self.keyframes[-1] if self.keyframes else None
        if prev is not None and kf.seq < prev.seq:
            return prev  # an answer overtaken by a newer one
        switch = self._last_context_switch(kf.seq, prev.seq if prev is not None else -1)
        if switch is not None:
            kf.sched.last_ran = switch.get("index")
            kf.sched.slice_us = switch.get("timeslice_us")
            kf.sched.slice_start_us = switch.get("t")
        elif prev is not None:
            kf.sched.last_ran = prev.sched.last_ran
            kf.sched.slice_us = prev.sched.slice_us
            kf.sched.slice_start_us = prev.sched.slice_start_us
        if prev is not None:
            kf.os_stats = dict(prev.os_stats)
            dt = (kf.t_us - prev.t_us) / 1e6
            if dt >= 0.05:
                kf.rates = {p.index: _rate(p, prev.proc(p.index), dt) for p in kf.procs}
            else:
                kf.rates = dict(prev.rates)
            if prev.seq == kf.seq and dt < 0.05:
                self.keyframes[-1] = kf
                return kf
        self.keyframes.append(kf)
        return kf

    def set_os_stats(self, stats: dict[int, tuple[float, int]]) -> None:
        if self.keyframes:
            self.keyframes[-1].os_stats = stats

    def _held(self) -> int:
        return self.batches[-1].ordinal + self.batches[-1].count - self.batches[0].ordinal

    def _trim(self) -> None:
        """Drop the oldest events down to about `limit`, starting again at a keyframe."""
        cut = self._seq_at(self._end() - self.limit)
        i = self._keyframe_index(cut) if cut is not None else -1
        if i < 0:
            return
        base = self.keyframes[i]
        del self.keyframes[:i]
        keep = 0
        while keep < len(self.batches) - 1 and self.batches[keep].last <= base.seq:
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

    # ---- positions ------------------------------------------------------------------

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

    @property
    def start_seq(self) -> int | None:
        """The earliest position that can be shown as a board: the first keyframe."""
        return self.keyframes[0].seq if self.keyframes else None

    @property
    def last_seq(self) -> int | None:
        """The newest position: the last event, or the last keyframe if later."""
        if not self.keyframes:
            return None
        last_event = self.batches[-1].last if self.batches else 0
        return max(self.keyframes[-1].seq, last_event)

    def positions(self) -> int:
        """How many events lie after the first keyframe."""
        start = self.start_seq
        return 0 if start is None else self._end() - self._count_le(start)

    def index_of(self, seq: int) -> int:
        """How many events after the first keyframe come at or before `seq`."""
        start = self.start_seq or 0
        return self._count_le(seq) - self._count_le(start)

    def step(self, seq: int, delta: int) -> int:
        """The position `delta` events away from `seq`, clamped to what can be shown."""
        start, last = self.start_seq, self.last_seq
        if start is None or last is None:
            return seq
        target = self._count_le(seq) - 1 + delta
        if target < self._count_le(start):
            return start
        found = self._seq_at(target)
        return last if found is None or target >= self._end() else found

    def keyframe_step(self, seq: int, delta: int) -> int:
        """The keyframe before (delta < 0) or after (delta > 0) `seq`."""
        if not self.keyframes:
            return seq
        if delta < 0:
            i = bisect.bisect_left(self.keyframes, seq, key=_kseq) - 1
            return self.keyframes[max(i, 0)].seq
        i = bisect.bisect_right(self.keyframes, seq, key=_kseq)
        if i < len(self.keyframes):
            return self.keyframes[i].seq
        return self.last_seq or seq

    def event_at(self, seq: int) -> Event | None:
        i = self._batch_index(seq)
        if i < 0:
            return None
        b = self.batches[i]
        k = b.count_le(seq) - 1
        if k < 0 or b.seq_of(k) != seq:
            return None
        return self._decode(b)[k]

    # ---- boards ---------------------------------------------------------------------

    def live(self) -> Board | None:
        """The newest keyframe: the board as the daemon last described it."""
        return self.keyframes[-1] if self.keyframes else None

    def board_at(self, seq: int | None = None) -> Board | None:
        """The board right after event `seq` (None: the newest event)."""
        if seq is None:
            seq = self.last_seq
            if seq is None:
                return None
        i = self._keyframe_index(seq)
        if i < 0:
            return None
        kf = self.keyframes[i]
        board = kf.copy()
        for ev in self.events_between(kf.seq, seq):
            try:
                apply(board, ev)
            except (KeyError, TypeError, ValueError, IndexError):
                pass  # a malformed event changes nothing (the next keyframe corrects)
        board.seq = seq
        return board

    def _keyframe_index(self, seq: int) -> int:
        return bisect.bisect_right(self.keyframes, seq, key=_kseq) - 1

    def _last_context_switch(self, seq: int, after: int) -> ContextSwitch | None:
        for ev in self.events_before(seq):
            if ev["seq"] <= after:
                return None
            if ev["kind"] == EventKind.CONTEXT_SWITCH:
                return ev
        return None

    def rate_series(self, index: int, seq: int, points: int = SPARK_POINTS) -> list[float]:
        """Syscall rates of process `index` at the last `points` keyframes up to `seq`."""
        i = self._keyframe_index(seq) + 1
        return [k.rates.get(index, 0.0) for k in self.keyframes[max(0, i - points) : i]]

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


def _rate(p: ProcRow, before: ProcRow | None, dt: float) -> float:
    if before is None or before.process_id != p.process_id:
        return p.syscalls / dt
    return max(0, p.syscalls - before.syscalls) / dt


def _unreadable(seq: int) -> Event:
    """The placeholder for event `seq` of a stream that could not be read."""
    return Bare(kind=EventKind.UNREADABLE, seq=seq)
