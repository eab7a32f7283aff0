"""The dashboard: a Textual app that is only a client of the daemon's control socket.

Data flow: the daemon pushes events (coalesced into a few packed batches a second) on
one connection; they go into `History`. A refresh timer (4 Hz) does nothing unless
events arrived or a command was sent: then it asks for one `snapshot` (a keyframe) and
redraws the panes from the board at the viewed event, live or past. Nothing polls the
kernel: a quiet board gets one last keyframe (so rates fall to zero) and then no request
at all. Commands go out on the request connection; their results land in the status
line.
"""

from __future__ import annotations

import os
import time
from contextlib import aclosing
from pathlib import Path, PurePath
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.actions import SkipAction
from textual.app import App, ComposeResult, ScreenStackError
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widgets import Footer, Header, Input

from tui import render
from tui.board import Board
from tui.client import ControlConnection, ControlFailed, Disconnected
from tui.history import HISTORY_LIMIT, History
from tui.osstats import OsStats, cores_apart_from
from tui.panes import (
    GrantsTable,
    HelpScreen,
    IpcPane,
    MemoryPane,
    Palette,
    PastBanner,
    SchedulerPane,
    StatusLine,
    TracePane,
)
from tui.proctable import ProcessRows, ProcessTable
from tui.tracefilter import TraceFilter, describe_event

#: after the last event, one more keyframe this much later brings the rates down to 0
QUIET_S = 1.0


def _travel(key: str, action: str, description: str, show: bool = False) -> Binding:
    # priority: the process table would take Home/End for scrolling otherwise
    return Binding(key, action, description, show=show, priority=True)


class TockdApp(App[None]):
    """Live dashboard of one tockd daemon, attached to its control socket."""

    CSS_PATH: ClassVar[str | PurePath | list[str | PurePath] | None] = "tockd.tcss"
    TITLE: str | None = "tockd"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause"),
        Binding("n", "step", "Step"),
        Binding("s", "stop", "Stop"),
        Binding("r", "restart", "Restart"),
        Binding("f", "fault", "Fault"),
        Binding("t", "terminate", "Terminate"),
        Binding("b", "button", "Button"),
        Binding("slash", "filter", "Filter"),
        _travel("left_square_bracket", "travel(-1)", "Back", show=True),
        _travel("right_square_bracket", "travel(1)", "Fwd"),
        _travel("left_curly_bracket", "keyframe(-1)", "Back a keyframe"),
        _travel("right_curly_bracket", "keyframe(1)", "Forward a keyframe"),
        _travel("home", "oldest", "Oldest"),
        _travel("end", "live", "Live", show=True),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

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

    # ---- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield PastBanner(id="past")
        yield SchedulerPane(id="scheduler")
        yield ProcessTable(id="processes")
        with Horizontal(id="lower"):
            yield MemoryPane(id="memory")
            yield GrantsTable(id="grants")
        with Horizontal(id="bottom"):
            yield TracePane(id="trace")
            yield IpcPane(id="ipc")
        yield StatusLine("connecting…", id="status")
        yield Footer()
        yield Palette()

    def on_mount(self) -> None:
        self.sub_title = "connecting" if self.redact else f"connecting to {self.control}"
        self.query_one("#trace-filter", Input).display = False
        self.query_one(ProcessRows).focus()
        self.set_interval(1 / self.refresh_hz, self._tick)
        if not self.redact:
            self.set_interval(1.0, self._sample_os)
        self.run_worker(self._follow_daemon(), name="events", exclusive=True)

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

    def _tick(self) -> None:
        """Coalesced refresh: at most one snapshot in flight, none while nothing happens."""
        h = self.history
        if self.connected and not self._snapshot_busy:
            fresh = h.received != self._seen
            quiet = self._quiet_pending and time.monotonic() - self._last_snapshot >= QUIET_S
            if fresh or quiet or self._want_snapshot:
                self._snapshot_busy = True
                self.run_worker(self._snapshot(), group="snapshot")
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
        sub_title = f"board {board.name}" + ("" if self.redact else f" · {self.control}")
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

    def _draw_banner(self, board: Board | None) -> None:
        banner = self.query_one(PastBanner)
        h = self.history
        if self.viewing is None or board is None:
            banner.display = False
            return
        banner.display = True
        ev = h.event_at(self.viewing)
        what = describe_event(ev) if ev is not None else "keyframe (no event)"
        where = f"event {h.index_of(self.viewing)} of {h.positions()}"
        if not self.redact and h.keyframes:
            t = (board.t_us - h.keyframes[0].t_us) / 1e6
            where = f"event #{self.viewing} ({where}) · t = +{t:.6f} s"
        text = Text.assemble(("◀ VIEWING THE PAST ", "bold"), f"{where} · End: live · ")
        text.append(what, style="not bold")
        banner.set_text(text)

    # ---- selection ------------------------------------------------------------------

    def on_process_rows_highlighted(self, message: ProcessRows.Highlighted) -> None:
        if message.index != self.selected:
            self.selected = message.index
            self._dirty = True
            self._tick()

    # ---- time travel ----------------------------------------------------------------

    def _travel_guard(self) -> int:
        last = self.history.last_seq
        if isinstance(self.focused, Input) or last is None:
            raise SkipAction()
        return self.viewing if self.viewing is not None else last

    def _view(self, seq: int | None) -> None:
        self.viewing = seq
        self._dirty = True
        self._tick()

    def action_travel(self, delta: int) -> None:
        self._view(self.history.step(self._travel_guard(), delta))

    def action_keyframe(self, delta: int) -> None:
        self._view(self.history.keyframe_step(self._travel_guard(), delta))

    def action_oldest(self) -> None:
        self._travel_guard()
        self._view(self.history.start_seq)

    def action_live(self) -> None:
        self._travel_guard()
        self._view(None)

    # ---- commands -------------------------------------------------------------------

    def _selected_row(self) -> tuple[int, str, str] | None:
        board = self.history.live()
        p = board.proc(self.selected) if board is not None else None
        if p is None:
            self.query_one(StatusLine).say("no process selected", error=True)
            return None
        return p.index, p.name, p.state

    def _send(self, label: str, op: str, **args: Any) -> None:
        self.run_worker(self._command(label, op, args), group="command")

    async def _command(self, label: str, op: str, args: dict[str, Any]) -> Any:
        status = self.query_one(StatusLine)
        if self._conn is None or not self.connected:
            status.say(f"{label}: not connected to a daemon", error=True)
            return None
        try:
            result = await self._conn.request(op, **args)
        except ControlFailed as e:
            status.say(f"{label}: {e.error}", error=True)
            return None
        except Disconnected as e:
            self._lost(str(e))
            return None
        status.say(f"{label}: {_describe_result(op, result)}")
        self._want_snapshot = True
        return result

    def action_pause(self) -> None:
        board = self.history.live()
        paused = board is not None and board.sched.paused
        self._send("resume" if paused else "pause", "resume" if paused else "pause")

    def action_step(self) -> None:
        self._send("step", "step", count=1)

    def action_stop(self) -> None:
        row = self._selected_row()
        if row is not None:
            op = "start" if row[2].startswith("Stopped") else "stop"
            self._send(f"{op} {row[1]}", op, name=row[0])

    def action_restart(self) -> None:
        self._process_command("restart")

    def action_fault(self) -> None:
        self._process_command("fault")

    def action_terminate(self) -> None:
        self._process_command("terminate")

    def _process_command(self, op: str) -> None:
        row = self._selected_row()
        if row is not None:
            self._send(f"{op} {row[1]}", op, name=row[0])

    def action_button(self) -> None:
        self.run_worker(self._press_button(0), group="command")

    async def _press_button(self, index: int) -> None:
        notified = await self._command(f"button {index}", "button", {"index": index})
        if notified is not None:
            await self._command(
                f"button {index} pressed ({notified} notified) and released",
                "button",
                {"index": index, "pressed": False},
            )

    def action_filter(self) -> None:
        box = self.query_one("#trace-filter", Input)
        box.value = self.query_one(TracePane).filter.describe()
        box.display = True
        box.focus()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if message.input.id != "trace-filter":
            return
        pane = self.query_one(TracePane)
        try:
            pane.filter = TraceFilter.parse(message.value)
        except ValueError as e:
            self.query_one(StatusLine).say(f"filter: {e}", error=True)
            return
        message.input.display = False
        self.query_one(ProcessRows).focus()
        what = pane.filter.describe() or "off"
        self.query_one(StatusLine).say(f"trace filter: {what}")
        self._dirty = True
        self._tick()

    def on_key(self, event: events.Key) -> None:
        box = self.query_one("#trace-filter", Input)
        if event.key == "escape" and box.has_focus:
            box.display = False
            self.query_one(ProcessRows).focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())


def _describe_result(op: str, result: Any) -> str:
    if op in ("pause", "resume"):
        return "scheduler paused" if result else "scheduler running"
    if op == "step":
        return "one scheduling decision"
    if op == "button":
        return f"{result} process(es) notified"
    return str(result)
