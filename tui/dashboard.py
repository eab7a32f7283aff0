"""The dashboard's state, its link to the daemon, and its drawing.

Data flow: the daemon pushes events (coalesced into a few packed batches a second) on
one connection; they go into `History`. A refresh timer (4 Hz) does nothing unless
events arrived or a command was sent: then it asks for one `snapshot` (a keyframe) and
redraws the panes from the board at the viewed event, live or past. Nothing polls the
kernel: a quiet board gets one last keyframe (so rates fall to zero) and then no request
at all. Commands go out on the request connection; their results land in the status
line.

`Dashboard` is the Textual app without its keys: tui/keys.py (the key table and the
commands) and tui/travel.py (moving through the history) act on it, and tui/app.py puts
the three together with the layout.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Coroutine
from contextlib import aclosing
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import App, ScreenStackError
from textual.css.query import NoMatches
from textual.worker import Worker

from tockd.contract.events import Event, EventKind
from tockd.tui import render
from tockd.tui.board import Board
from tockd.tui.client import ControlConnection, ControlFailed, Disconnected
from tockd.tui.history import HISTORY_LIMIT, History
from tockd.tui.osstats import OsStats, cores_apart_from
from tockd.tui.panes import (
    GrantsTable,
    IpcPane,
    MemoryPane,
    Palette,
    PastBanner,
    SchedulerPane,
    StatusLine,
)
from tockd.tui.proctable import ProcessTable
from tockd.tui.replay import ReplayPane
from tockd.tui.tracefilter import describe_event
from tockd.tui.tracepane import TracePane

#: after the last event, one more keyframe this much later brings the rates down to 0
QUIET_S = 1.0


class Dashboard(App[None]):
    """Live dashboard of one tockd daemon, attached to its control socket."""

    def __init__(
        self,
        control: str | Path,
        *,
        redact: bool = False,
        refresh_hz: float = 4.0,
        interval_ms: int = 100,
        history_limit: int = HISTORY_LIMIT,
        resume_on_attach: bool = False,
        avoid_board_cpu: bool = False,
    ) -> None:
        """`control`: the daemon's control socket. `redact`: show placeholders for what
        differs between two runs of the same board (OS pids, CPU%, RSS, rates, clock), for
        screenshots and snapshot tests. `interval_ms`: how long the daemon gathers events
        before sending a batch. `resume_on_attach`: resume the scheduler once attached
        (`tockd run --tui` pauses the board until the dashboard is there).
        `avoid_board_cpu`: move this process off the core the board is pinned to, so
        drawing never takes CPU time from the kernel (this changes the whole process's
        affinity: the `tockd tui` command does it, tests do not)."""
        super().__init__()
        self.control = Path(control)
        self.redact = redact
        self.refresh_hz = refresh_hz
        self.interval_ms = interval_ms
        self.history = History(history_limit)
        self.resume_on_attach = resume_on_attach
        self.avoid_board_cpu = avoid_board_cpu
        #: the event being viewed; None: live
        self.viewing: int | None = None
        self.selected = 0
        self.connected = False
        self.disconnected: str | None = None
        self.snapshots = 0
        self._conn: ControlConnection | None = None
        self._snapshot_busy = False
        self._want_snapshot = False
        self._quiet_pending = False
        self._last_snapshot = 0.0
        self._seen = 0
        self._drawn: tuple[int, int | None, int, int] | None = None
        self._dirty = True
        self._styled = False
        self._os = OsStats()
        #: the replay pane, on a board that follows a schedule file (tui/replay.py)
        self._replay: ReplayPane | None = None

    # ---- the daemon -----------------------------------------------------------------

    async def _follow_daemon(self) -> None:
        """Subscribe, take the first keyframe, then feed events into the history until
        the daemon goes away."""
        stream: ControlConnection | None = None
        try:
            stream = await ControlConnection.open(self.control)
            self.history.follow(await stream.subscribe(self.interval_ms))
            self._conn = await ControlConnection.open(self.control)
            # the first snapshot may wait for the stream to reach it (History.add_snapshot)
            self._replay = await ReplayPane.attach(self, self._conn)
            first = await self._snapshot()
            self.connected = True
            self.query_one(StatusLine).say("attached; ? for help")
            self._move_off_the_board(first)
            if self.resume_on_attach and first is not None and first.sched.paused:
                await self._command("attached; ? for help; resume", "resume", {})
            async with aclosing(stream.frames()) as frames:
                async for batch in frames:
                    self.history.ingest(batch)
        except (Disconnected, ControlFailed) as e:
            self._lost(str(e))
        finally:
            self.connected = False
            for conn in (stream, self._conn):
                if conn is not None:
                    conn.close()

    def _move_off_the_board(self, board: Board | None) -> None:
        pid = board.info.get("daemon_pid") if board is not None else None
        if not self.avoid_board_cpu or type(pid) is not int:
            return
        cores = cores_apart_from(pid)
        if cores is not None:
            os.sched_setaffinity(0, cores)

    def _lost(self, reason: str) -> None:
        self.disconnected = reason
        self.connected = False
        self.query_one(StatusLine).say(
            f"disconnected: {reason}. The history stays: [ ] Home End to look back, q to quit",
            error=True,
        )
        self._dirty = True

    async def _snapshot(self) -> Board | None:
        """Ask for a snapshot and add it to the history; returns its board (it becomes
        a keyframe once the event stream has reached it), or None if there is none."""
        conn = self._conn
        if conn is None:
            return None
        self._snapshot_busy = True
        self._want_snapshot = False
        seen = self.history.received
        board = None
        try:
            snap = await conn.request("snapshot", mem="all")
            board = self.history.add_snapshot(snap)
            self.snapshots += 1
            if self._replay is not None:
                await self._replay.fetch(conn)
        except ControlFailed as e:
            self.query_one(StatusLine).say(str(e), error=True)
        except Disconnected as e:
            self._lost(str(e))
            return None
        finally:
            self._snapshot_busy = False
        self._quiet_pending = self._seen != seen
        self._seen = seen
        self._last_snapshot = time.monotonic()
        self._dirty = True
        return board

    async def _command(self, label: str, op: str, args: dict[str, Any]) -> Any:
        """Send one command; its result (or why it failed) goes to the status line, and
        the next refresh asks for a keyframe. Returns the result, None if it failed."""
        status = self.query_one(StatusLine)
        if self._conn is None or not self.connected:
            status.say(f"{label}: not connected to a daemon", error=True)
            return None
        try:
            result = await self._conn.request(op, **args)
        except ControlFailed as e:
            status.say(labelled(label, e.error), error=True)
            return None
        except Disconnected as e:
            self._lost(str(e))
            return None
        status.say(f"{label}: {_describe_result(op, result)}")
        self._want_snapshot = True
        return result

    def start_work(
        self,
        work: Callable[[], Coroutine[None, None, object]],
        *,
        group: str = "default",
        name: str = "",
        exclusive: bool = False,
    ) -> Worker[object]:
        """Run `work` in a Textual worker. Textual gets the coroutine function, never a
        coroutine: one made for a worker that never starts (the app quitting) would be
        left un-awaited, and warn into whatever runs next."""
        return self.run_worker(work, name=name, group=group, exclusive=exclusive)

    def _tick(self) -> None:
        """Coalesced refresh: at most one snapshot in flight, none while nothing happens."""
        h = self.history
        if self.connected and not self._snapshot_busy:
            fresh = h.received != self._seen
            quiet = self._quiet_pending and time.monotonic() - self._last_snapshot >= QUIET_S
            if fresh or quiet or self._want_snapshot:
                self._snapshot_busy = True
                self.start_work(self._snapshot, group="snapshot")
        drawn = (h.received, self.viewing, self.selected, len(h.keyframes))
        if self._dirty or drawn != self._drawn:
            self._dirty = False
            self._drawn = drawn
            try:
                self.redraw()
            except (NoMatches, ScreenStackError):
                pass  # a last tick while the app closes: its panes (or screen) are gone

    def _sample_os(self) -> None:
        board = self.history.live()
        if board is None or not self.connected:
            return
        pids = [p.os_pid for p in board.procs if p.os_pid is not None]
        self.history.set_os_stats(self._os.sample(pids))
        self._dirty = True

    # ---- drawing --------------------------------------------------------------------

    def board(self) -> Board | None:
        """The board the panes show: the newest keyframe, or as it was at the viewed
        event."""
        if self.viewing is None:
            return self.history.live()
        return self.history.board_at(self.viewing)

    def redraw(self) -> None:
        if not self._styled:
            render.use_styles(self.query_one(Palette).styles_by_role())
            self._styled = True
        board = self.board()
        past = self.viewing is not None
        self.screen.set_class(past, "past")
        self._draw_banner(board)
        if board is None:
            return
        if self.disconnected is not None and not past:
            board = board.ended("the daemon is gone")
        sub_title = f"board {board.name}" + ("" if self.redact else f" · {self.control}")
        if board.gone is not None:
            sub_title += f" · {board.gone}"
        if self.sub_title != sub_title:
            self.sub_title = sub_title
        windows = board.ipc["windows"] if board.ipc else None
        self.query_one(SchedulerPane).show(board, redact=self.redact)
        self.query_one(ProcessTable).show(board, self.history, redact=self.redact)
        self.query_one(GrantsTable).show(board)
        self.query_one(MemoryPane).show(board, self.selected, windows, redact=self.redact)
        upto = self.viewing if past else self.history.last_seq
        self.query_one(TracePane).show(board, self.history, upto or board.seq, past=past)
        self.query_one(IpcPane).show(board)
        if self._replay is not None:
            self._replay.show(self.history, upto or board.seq, past=past)

    def _draw_banner(self, board: Board | None) -> None:
        banner = self.query_one(PastBanner)
        h = self.history
        if self.viewing is None or board is None:
            banner.display = False
            return
        banner.display = True
        ev = h.event_at(self.viewing)
        what = _banner_event(ev)
        where = f"event {h.index_of(self.viewing)} of {h.positions()}"
        if not self.redact and h.keyframes:
            t = (board.t_us - h.keyframes[0].t_us) / 1e6
            where = f"event #{self.viewing} ({where}) · t = +{t:.6f} s"
        text = Text.assemble(("◀ VIEWING THE PAST ", "bold"), f"{where} · End: live · ")
        text.append(what, style="not bold")
        banner.set_text(text)


def _banner_event(ev: Event | None) -> str:
    """The viewed event in the past banner: its trace line, and a fault's reason (the
    trace line, as Tock prints it, does not say why)."""
    if ev is None:
        return "keyframe (no event)"
    if ev["kind"] == EventKind.FAULT:
        return f"{describe_event(ev)} Reason: {ev['reason']}"
    return describe_event(ev)


def labelled(label: str, text: str) -> str:
    """`label: text`, unless `text` already starts with the label (the daemon's own
    errors often name their command: no `step: step: ...`)."""
    return text if text.startswith(f"{label}:") else f"{label}: {text}"


def _describe_result(op: str, result: Any) -> str:
    if op in ("pause", "resume"):
        return "scheduler paused" if result else "scheduler running"
    if op == "step":
        return "one scheduling decision"
    if op == "button":
        return f"{result} process(es) notified"
    return str(result)
