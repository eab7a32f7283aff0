"""The keys that act on one pane, and the layout that follows the terminal's size.

- Tab and shift+Tab move the focus through the panes (processes, trace, memory map,
  grants, IPC); `z` zooms the focused pane to the whole screen and back (Escape also
  brings it back); Tab while zoomed zooms the next pane.
- Home and End: while the trace has the focus they scroll it to its oldest or newest
  line; pressed at that end, they travel in time as they do everywhere else
  (tui/travel.py).
- ctrl+f searches the trace, F3 and shift+F3 go to the match before and after
  (tui/search.py; the trace pane keeps the search).
- `>` and `<` sort the process table by the next or previous column, `I` reverses the
  order (htop's keys); a click on a column's header sorts by it.

The layout is htop's: the process table first, then the trace. Below `COMPACT` (width
or height) the screen takes the class `compact` (tui/tockd.tcss): the header goes, the
scheduler loses its frame, and under the process table one pane at a time shows, the
one the focus was in last (the trace first).
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.actions import SkipAction
from textual.dom import DOMNode
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Footer, Input

from tockd.tui.panes import StatusLine
from tockd.tui.proctable import ProcessRows, ProcessTable
from tockd.tui.tracepane import TracePane
from tockd.tui.travel import TravelControls

#: the panes (their ids), in the order Tab goes through them
PANES = ("processes", "trace", "memory", "grants", "ipc")
#: the widget that takes the focus in each pane (the others take it themselves)
FOCUS = {"processes": "#process-rows"}
#: the compact layout below this width or this height
COMPACT = Size(100, 32)


class PaneControls(TravelControls):
    """Focus, zoom, the trace's scrolling and search, the sort, and the layout."""

    #: besides the zoomed pane, what stays on the screen
    ALLOW_IN_MAXIMIZED_VIEW: ClassVar[str] = "Header, #past, #status, Footer"
    #: every screen (the help too) takes the class `-short` on a short terminal
    VERTICAL_BREAKPOINTS: list[tuple[int, str]] | None = [(0, "-short"), (COMPACT.height, "-tall")]

    #: the pane shown under the process table in the compact layout
    detail = "trace"

    def on_mount(self) -> None:
        for pane in PANES[2:]:
            self.query_one(f"#{pane}").can_focus = True
        self.query_one(Footer).compact = True  # room for Quit on 80 columns
        self._lay_out(self.size)

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out(event.size)

    def _lay_out(self, size: Size) -> None:
        """The classes for this size and the pane shown below the process table; the
        next refresh redraws the panes for their new sizes."""
        self._dirty = True
        compact = size.width < COMPACT.width or size.height < COMPACT.height
        main = self.screen_stack[0]
        main.set_class(compact, "compact")
        for pane in PANES[1:]:
            main.set_class(pane == self.detail, f"show-{pane}")

    # ---- focus and zoom -------------------------------------------------------------

    def _pane_of(self, node: DOMNode | None) -> str | None:
        """The pane `node` is in (its id), if any."""
        while node is not None:
            if node.id in PANES:
                return node.id
            node = node.parent
        return None

    def _main_screen(self) -> Screen[object]:
        """The dashboard's screen, or SkipAction when the help is over it."""
        if self.screen is not self.screen_stack[0]:
            raise SkipAction()
        return self.screen

    def action_next_pane(self, delta: int) -> None:
        self._main_screen()
        if isinstance(self.focused, Input):
            raise SkipAction()
        here = self._pane_of(self.focused) or PANES[0]
        self.focus_pane(PANES[(PANES.index(here) + delta) % len(PANES)])

    def focus_pane(self, pane: str) -> None:
        """Give `pane` the focus (showing it first, in the compact layout)."""
        if pane != PANES[0]:
            self.detail = pane
            self._lay_out(self.size)
        self.query_one(FOCUS.get(pane, f"#{pane}")).focus()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """A pane took the focus (Tab, a click, a key that opens a box in it): show it
        in the compact layout, and move the zoom to it if another pane is zoomed."""
        pane = self._pane_of(event.widget)
        if pane is None:
            return
        if pane != PANES[0] and pane != self.detail:
            self.detail = pane
            self._lay_out(self.size)
        screen = self.screen
        if screen.maximized is not None and screen.maximized.id != pane:
            screen.maximized = self.query_one(f"#{pane}")

    def action_zoom(self) -> None:
        screen = self._main_screen()
        self._dirty = True  # the next refresh draws the panes for their new sizes
        if screen.maximized is not None:
            screen.minimize()
            return
        pane = self._pane_of(self.focused)
        if pane is None:
            raise SkipAction()
        screen.maximized = self.query_one(f"#{pane}")

    @property
    def escape_to_minimize(self) -> bool:
        """Escape leaves the zoom, unless it closes a search or filter box first."""
        return not isinstance(self.focused, Input) and super().escape_to_minimize

    # ---- the trace: Home, End, search -----------------------------------------------

    def _focused_trace(self) -> TracePane | None:
        return self.focused if isinstance(self.focused, TracePane) else None

    def action_oldest(self) -> None:
        self._main_screen()  # over the help, Home scrolls the help
        trace = self._focused_trace()
        if trace is None or not trace.to_oldest_line():
            super().action_oldest()

    def action_live(self) -> None:
        self._main_screen()
        trace = self._focused_trace()
        if trace is None or not trace.to_newest_line():
            super().action_live()

    def action_find(self) -> None:
        self._main_screen()
        self.query_one(TracePane).open_search()

    def action_find_match(self, older: bool) -> None:
        self._main_screen()
        self.query_one(TracePane).find(older=older)

    # ---- the process table's sort ---------------------------------------------------

    def _say(self, text: str) -> None:
        self.query_one(StatusLine).say(text)

    def action_sort(self, delta: int) -> None:
        self._say(self.query_one(ProcessTable).cycle_sort(delta))

    def action_reverse_sort(self) -> None:
        self._say(self.query_one(ProcessTable).reverse_sort())

    def on_process_rows_sort_chosen(self, message: ProcessRows.SortChosen) -> None:
        self._say(self.query_one(ProcessTable).sort_by(message.column))
