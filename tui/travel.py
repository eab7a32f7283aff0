"""Time travel: the keys that move the panes through the history, and back to live.

`[` and `]` step one event back or forward, `{` and `}` one keyframe, Home goes to the
oldest event kept and End back to live (their bindings are in tui/keys.py). Forward
never leaves the live view, and a step forward that reaches the newest event is live
again. The board at the viewed event is rebuilt by `History.board_at`; while the panes
show the past, the banner says so. None of these keys works while the trace filter box
has the focus.
"""

from __future__ import annotations

from textual.actions import SkipAction
from textual.widgets import Input

from tockd.tui.dashboard import Dashboard


class TravelControls(Dashboard):
    """The time-travel actions: each sets the viewed event and redraws at once."""

    def _travel_guard(self) -> int:
        last = self.history.last_seq
        if isinstance(self.focused, Input) or last is None:
            raise SkipAction()
        return self.viewing if self.viewing is not None else last

    def _view(self, seq: int | None) -> None:
        self.viewing = seq
        self._dirty = True
        self._tick()

    def _move(self, seq: int, delta: int) -> None:
        """View `seq`, reached by moving `delta`: forward from live, or forward onto
        the newest event, is live."""
        newest = self.history.last_seq
        if delta > 0 and (self.viewing is None or newest is None or seq >= newest):
            self._view(None)
        else:
            self._view(seq)

    def action_travel(self, delta: int) -> None:
        self._move(self.history.step(self._travel_guard(), delta), delta)

    def action_keyframe(self, delta: int) -> None:
        self._move(self.history.keyframe_step(self._travel_guard(), delta), delta)

    def action_oldest(self) -> None:
        self._travel_guard()
        self._view(self.history.start_seq)

    def action_live(self) -> None:
        self._travel_guard()
        self._view(None)
