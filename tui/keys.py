"""The dashboard's keys: the table of bindings, and the actions that send commands.

Every key the dashboard answers is in `KEYS`; the footer shows the main ones (an
80-column terminal has no room for all of them: `?` lists every key). The
commands act on the daemon through the request connection (`Dashboard._command`): the
scheduler (pause or resume, step one decision), the selected process (stop or start,
restart, fault, terminate) and button 0; `/` edits the trace filter, `?` shows the
help, `w` writes a screenshot (tui/screenshot.py). Fault and terminate ask first
(tui/confirm.py). The time-travel keys' actions are in tui/travel.py; those of the
panes (Tab, the zoom, the trace's search, the process table's sort) in tui/panekeys.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import events
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input

from tockd.tui.confirm import Confirm
from tockd.tui.dashboard import Dashboard
from tockd.tui.panes import HelpScreen, StatusLine
from tockd.tui.proctable import ProcessRows
from tockd.tui.screenshot import SCREENSHOT_DIR_ENV, write_screenshot
from tockd.tui.tracefilter import TraceFilter
from tockd.tui.tracepane import TracePane


def _travel(key: str, action: str, description: str, show: bool = False) -> Binding:
    # priority: the process table would take Home/End for scrolling otherwise
    return Binding(key, action, description, show=show, priority=True)


KEYS: list[BindingType] = [
    Binding("p", "pause", "Pause"),
    Binding("n", "step", "Step"),
    Binding("s", "stop", "Stop", show=False),
    Binding("r", "restart", "Restart", show=False),
    Binding("f", "fault", "Fault", show=False),
    Binding("t", "terminate", "Terminate", show=False),
    Binding("b", "button", "Button", show=False),
    Binding("slash", "filter", "Filter"),
    _travel("left_square_bracket", "travel(-1)", "Back", show=True),
    _travel("right_square_bracket", "travel(1)", "Fwd"),
    _travel("left_curly_bracket", "keyframe(-1)", "Back a keyframe"),
    _travel("right_curly_bracket", "keyframe(1)", "Forward a keyframe"),
    _travel("home", "oldest", "Oldest"),
    _travel("end", "live", "Live"),
    Binding("w", "screenshot", "Screenshot", show=False),
    Binding("question_mark", "help", "Help"),
    Binding("q", "quit", "Quit"),
    # the panes: focus, zoom, the trace's search, the process table's sort (tui/panekeys.py)
    Binding("tab", "next_pane(1)", "Next pane", show=False, priority=True),
    Binding("shift+tab", "next_pane(-1)", "Previous pane", show=False, priority=True),
    Binding("z", "zoom", "Zoom"),
    Binding("ctrl+f", "find", "Find"),
    Binding("f3", "find_match(True)", "Older match", show=False),
    Binding("shift+f3", "find_match(False)", "Newer match", show=False),
    Binding("greater_than_sign", "sort(1)", "Sort"),
    Binding("less_than_sign", "sort(-1)", "Sort back", show=False),
    Binding("I", "reverse_sort", "Reverse sort", show=False),
]


#: (op, state) -> why the op has nothing to do on a process in that state
ALREADY: dict[tuple[str, str], str] = {
    ("terminate", "Terminated"): "is already terminated",
    ("fault", "Terminated"): "has terminated: nothing to fault",
    ("fault", "Faulted"): "has faulted already",
}


class CommandKeys(Dashboard):
    """The command keys, the trace filter box, the help, and the selected process."""

    # ---- selection ------------------------------------------------------------------

    def on_process_rows_highlighted(self, message: ProcessRows.Highlighted) -> None:
        if message.index != self.selected:
            self.selected = message.index
            self._dirty = True
            self._tick()

    # ---- commands -------------------------------------------------------------------

    def _selected_row(self) -> tuple[int, str, str] | None:
        board = self.history.live()
        p = board.proc(self.selected) if board is not None else None
        if p is None:
            self.query_one(StatusLine).say("no process selected", error=True)
            return None
        return p.index, p.name, p.state

    def _send(self, label: str, op: str, **args: Any) -> None:
        self.start_work(partial(self._command, label, op, args), group="command")

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
        self._confirmed("fault", "Fault {}? Its fault policy applies.")

    def action_terminate(self) -> None:
        self._confirmed("terminate", "Terminate {}?")

    def _process_command(self, op: str) -> None:
        row = self._selected_row()
        if row is not None:
            self._send(f"{op} {row[1]}", op, name=row[0])

    def _confirmed(self, op: str, question: str) -> None:
        """`op` on the selected process once the user says yes; nothing to ask when
        the process has ended already (`ALREADY`)."""
        row = self._selected_row()
        if row is None:
            return
        index, name, state = row
        already = ALREADY.get((op, state.split("(", 1)[0]))
        if already is not None:
            self.query_one(StatusLine).say(f"{op} {name}: {name} {already}", error=True)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._send(f"{op} {name}", op, name=index)
            else:
                self.query_one(StatusLine).say(f"{op} {name}: cancelled")

        self.push_screen(Confirm(question.format(name)), answered)

    def action_button(self) -> None:
        self.start_work(partial(self._press_button, 0), group="command")

    async def _press_button(self, index: int) -> None:
        notified = await self._command(f"button {index}", "button", {"index": index})
        if notified is not None:
            await self._command(
                f"button {index} pressed ({notified} notified) and released",
                "button",
                {"index": index, "pressed": False},
            )

    # ---- the trace filter and the help ----------------------------------------------

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

    # ---- screenshots ----------------------------------------------------------------

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """`w`: an SVG of the screen (tui/screenshot.py); the status line says where."""
        status = self.query_one(StatusLine)
        try:
            written = write_screenshot(self, Path(path) if path else None, filename)
        except OSError as e:
            status.say(f"screenshot: {e}", error=True)
            return
        status.say(f"screenshot written to {written}")
        self.notify(str(written), title="Screenshot written", markup=False)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's palette commands, its Screenshot writing where `w` does."""
        for command in super().get_system_commands(screen):
            if command.title == "Screenshot":
                command = SystemCommand(
                    "Screenshot",
                    f"Save an SVG of the screen in ${SCREENSHOT_DIR_ENV} or the current "
                    "directory (w)",
                    # once the palette has closed, so it is not in the picture
                    lambda: self.call_after_refresh(self.action_screenshot),
                )
            yield command
