"""The dashboard: a Textual app that is only a client of the daemon's control socket.

`TockdApp` is the app `tockd tui` runs. It is put together from four parts:

- tui/dashboard.py: its state, the link to the daemon (the event stream into the
  history, one snapshot per refresh when something happened, commands) and drawing;
- tui/keys.py: the table of keys, and the actions that send commands;
- tui/travel.py: the time-travel actions (back, forward, oldest, live);
- tui/panekeys.py: focus, zoom, the trace's scrolling and search, the process table's
  sort, and the compact layout of a small terminal.

This module adds the layout: which panes there are and where (tui/tockd.tcss styles
them), and what starts when the app is mounted.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.widgets import Footer, Header, Input

from tockd.tui.keys import KEYS, CommandKeys
from tockd.tui.panekeys import PaneControls
from tockd.tui.panes import (
    GrantsTable,
    IpcPane,
    MemoryPane,
    Palette,
    PastBanner,
    SchedulerPane,
    StatusLine,
)
from tockd.tui.proctable import ProcessRows, ProcessTable
from tockd.tui.tracepane import TracePane


class TockdApp(PaneControls, CommandKeys):
    """Live dashboard of one tockd daemon, attached to its control socket."""

    CSS_PATH: ClassVar[str | PurePath | list[str | PurePath] | None] = "tockd.tcss"
    TITLE: str | None = "tockd"
    BINDINGS: ClassVar[list[BindingType]] = KEYS

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
        self.start_work(self._follow_daemon, name="events", exclusive=True)
