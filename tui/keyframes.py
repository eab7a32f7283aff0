"""The dashboard's keyframes: full `snapshot` replies, lined up with the event stream.

A keyframe is the board as the daemon described it right after one event; the board at
any other event is folded from the keyframe before it (tui/history.py). Each keyframe
also carries what one snapshot cannot say: who ran last and for how long (from the last
context switch before it), the syscall rates since the keyframe before, and the OS
figures sampled for the processes. Old events go a keyframe at a time, so the oldest
event kept always has a keyframe to start from.

Snapshots and events come on two connections, so a snapshot can overtake the events
before it: its board already counts syscalls the stream has not delivered yet. Such a
snapshot waits, and becomes a keyframe once the stream has reached its `seq`. Otherwise
the board at an event between the previous keyframe and it would be folded from the
events received so far and silently miss the rest (the dashboard would show a board
that never was, e.g. a few syscalls short for every process).
"""

from __future__ import annotations

import bisect

from tockd.contract.control import Snapshot
from tockd.contract.events import ContextSwitch, EventKind
from tockd.tui.board import Board, ProcRow, board_from_snapshot
from tockd.tui.eventlog import Batch, EventLog

#: rates shown in a process's sparkline (one per keyframe)
SPARK_POINTS = 16
#: snapshots kept waiting for the stream to reach them; beyond, the oldest is let go
PENDING_LIMIT = 64


def keyframe_seq(board: Board) -> int:
    """The key that keeps keyframes in order: the seq of the event each follows."""
    return board.seq


class Keyframes(EventLog):
    """Events (up to about `limit`) and the keyframes among them."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.keyframes: list[Board] = []
        #: the seq the event stream has reached (events received, or known missed);
        #: None: not following a stream, so snapshots become keyframes at once
        self.stream_seq: int | None = None
        #: snapshots ahead of the stream, waiting to become keyframes (oldest first)
        self.pending: list[Board] = []

    # ---- the stream reaching the snapshots ------------------------------------------

    def follow(self, after: int) -> None:
        """Follow a stream whose first event comes after seq `after` (the subscribe
        reply says which): from now on a snapshot waits until the stream reaches it, and
        an event the stream skips counts as missed from the first."""
        self.stream_seq = after
        super().follow(after)
        self._release()

    def _frame_end(self, last: int) -> None:
        super()._frame_end(last)
        self._reached(last)

    def _append(self, batch: Batch) -> None:
        super()._append(batch)
        if self._held() > self.limit + self.limit // 4:
            self._trim()
        self._reached(batch.last)

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

    def _trim(self) -> None:
        """Drop the oldest events down to about `limit`, starting again at a keyframe."""
        cut = self._seq_at(self._end() - self.limit)
        i = self._keyframe_index(cut) if cut is not None else -1
        if i < 0:
            return
        base = self.keyframes[i]
        del self.keyframes[:i]
        self._drop_through(base.seq)

    # ---- keyframes ------------------------------------------------------------------

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

    def _last_context_switch(self, seq: int, after: int) -> ContextSwitch | None:
        for ev in self.events_before(seq):
            if ev["seq"] <= after:
                return None
            if ev["kind"] == EventKind.CONTEXT_SWITCH:
                return ev
        return None

    def set_os_stats(self, stats: dict[int, tuple[float, int]]) -> None:
        if self.keyframes:
            self.keyframes[-1].os_stats = stats

    def live(self) -> Board | None:
        """The newest keyframe: the board as the daemon last described it."""
        return self.keyframes[-1] if self.keyframes else None

    def _keyframe_index(self, seq: int) -> int:
        return bisect.bisect_right(self.keyframes, seq, key=keyframe_seq) - 1

    def rate_series(self, index: int, seq: int, points: int = SPARK_POINTS) -> list[float]:
        """Syscall rates of process `index` at the last `points` keyframes up to `seq`."""
        i = self._keyframe_index(seq) + 1
        return [k.rates.get(index, 0.0) for k in self.keyframes[max(0, i - points) : i]]


def _rate(p: ProcRow, before: ProcRow | None, dt: float) -> float:
    if before is None or before.process_id != p.process_id:
        return p.syscalls / dt
    return max(0, p.syscalls - before.syscalls) / dt
