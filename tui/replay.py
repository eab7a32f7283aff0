"""The replay pane: where a stepped replay is in its schedule, and what the schedule gives.

While the board follows a schedule file (`tockd replay FILE --tui`, `tockd run BOARD
--schedule FILE`), the dashboard mounts this pane under the Scheduler pane; on any other
board the pane never appears. What it shows comes from the board's `replay` query
(`ReplayView` in tockd/contract/control.py), asked again after every keyframe, and from
the `decision` events of the history:

- the verdict: what `tockd replay FILE` gives (the file's recorded verdict and its first
  violation); once the run is over, this run's own verdict, the checks it violated, and
  its digest beside the recorded one (equal: this is the recorded run, event for event);
- `schedule decision k of N`: how many of the schedule's decisions the run has taken at the
  viewed event, and which ones are off the default path (the choices that make the run
  unusual: `tockd explore` shrinks a violation to as few of them as it can);
- live, the next decision: its options, the one the schedule takes (reversed), and
  whether that is the default; in the past, the last decision taken by then.

Every text that comes from the file or the board is shown literally (never as markup).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import App
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget

from tockd.contract import events as ev
from tockd.contract.control import ReplayDecision, ReplayView
from tockd.contract.events import EventKind
from tockd.tui.client import ControlConnection, ControlFailed
from tockd.tui.history import History
from tockd.tui.panes import TextView
from tockd.tui.render import st

#: how many events back the past view looks for the last decision
DECISION_SCAN = 50_000
#: below this many rows on the screen the pane would push the other panes off it: then
#: it hides, and a one-line summary goes into the Scheduler pane's bottom border
FULL_PANE_ROWS = 30


class ReplayPane(TextView):
    """The replay's verdict, progress through the schedule, and the next decision."""

    DEFAULT_CSS: ClassVar[str] = """
    ReplayPane {
        height: 5;
        border: round $primary;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    Screen.past ReplayPane { border: heavy $warning; }
    """

    def __init__(self, view: ReplayView) -> None:
        super().__init__(id="replay")
        self.view = view
        self.border_title = Content(f"Replay {view['file']}")  # literal, not markup
        self._texts: tuple[Text, str] = (Text(), "")
        self._summary: str | None = None

    @classmethod
    async def attach(cls, app: App[None], conn: ControlConnection) -> ReplayPane | None:
        """Ask the board whether it follows a schedule; if it does, mount the pane
        after the Scheduler pane and return it (None on any other board)."""
        try:
            view: ReplayView = await conn.request("replay")
        except ControlFailed:
            return None
        pane = cls(view)
        scheduler = app.query_one("#scheduler")
        parent = scheduler.parent
        assert isinstance(parent, Widget)  # the screen, or a container of the layout
        await parent.mount(pane, after=scheduler)
        return pane

    def on_mount(self) -> None:
        self.screen.screen_layout_refresh_signal.subscribe(self, self._fit)

    async def fetch(self, conn: ControlConnection) -> None:
        """Ask for the replay's state again (after a keyframe: the run has moved)."""
        self.view = await conn.request("replay")

    def show(self, history: History, seq: int, *, past: bool) -> None:
        """Draw the replay at event `seq`: live (the newest `replay` answer) or past
        (the decision events of the history up to `seq`)."""
        last = last_decision(history, seq) if past else None
        self._texts = (replay_text(self.view, last, past=past), summary(self.view, last, past))
        self._draw()

    def _fit(self, screen: Screen[object]) -> None:
        """After a layout: the whole pane if the screen has room for it, else the
        summary in the Scheduler pane's border."""
        full = screen.size.height >= FULL_PANE_ROWS
        if full != self.display:
            self.display = full
            self._draw()

    def _draw(self) -> None:
        full, line = self._texts
        if self.display:
            self.set_text(full)
        wanted = "" if self.display else line
        if wanted != self._summary:
            self._summary = wanted
            self.app.query_one("#scheduler").border_subtitle = Content(wanted)


def last_decision(history: History, seq: int) -> ev.Decision | None:
    """The newest `decision` event at or before `seq`, None if there is none."""
    for event in history.events_before(seq, DECISION_SCAN):
        if event["kind"] == EventKind.DECISION:
            return event
    return None


def summary(view: ReplayView, last: ev.Decision | None, past: bool) -> str:
    """One line for a small screen: where the run is, the next decision, the verdict,
    the decisions off the default path."""
    taken = (last["step"] if last is not None else 0) if past else view["taken"]
    parts = [f"replay {taken}/{view['total']}"]
    upcoming = view["next"] if not past else None
    if upcoming is not None:
        chosen = upcoming["options"][upcoming["choice"]]
        off = "" if upcoming["choice"] == upcoming["default"] else " (OFF default)"
        parts.append(f"next {upcoming['kind']}: ▸{chosen}{off}")
    outcome = view["outcome"] if not past else None
    if outcome is None:
        parts.append(f"tockd replay: {view['recorded_verdict']}")
    else:
        same = outcome["digest"] == view["recorded_digest"]
        parts.append(f"this run: {outcome['verdict']}" + (" = recorded" if same else ""))
    off_default = ", ".join(f"#{n}" for n in view["off_default"])
    parts.append(f"off default: {off_default or 'none'}")
    return " · ".join(parts)


def replay_text(view: ReplayView, last: ev.Decision | None, *, past: bool) -> Text:
    """Three lines: the verdict; the progress and the decisions off the default path;
    the next decision (live) or the last one taken (past)."""
    text = verdict_line(view, past=past)
    text.append("\n")
    text.append_text(progress_line(view, last, past=past))
    text.append("\n")
    if view["divergence"] and not past:
        text.append(f"left the schedule at {view['divergence']}", style=st("dropped"))
    elif past:
        text.append_text(taken_line(view, last))
    else:
        text.append_text(next_line(view))
    return text


def verdict_line(view: ReplayView, *, past: bool) -> Text:
    """This run's verdict and digest once it is over (live), else what `tockd replay`
    gives; then the first violation (last: a long one is cut at the pane's edge)."""
    outcome = view["outcome"] if not past else None
    if outcome is None:
        text = Text("tockd replay gives: ")
        checks = ", ".join(view["properties"])
        _verdict(text, view["recorded_verdict"], f"(checked: {checks})")
        _first(text, view["recorded_violations"])
        return text
    text = Text("this run: ")
    _verdict(text, outcome["verdict"], "of " + ", ".join(outcome["violated"]))
    text.append(f" · digest {outcome['digest']} ")
    if outcome["digest"] == view["recorded_digest"]:
        text.append("= recorded", style=st("ready"))
    else:
        text.append(f"≠ recorded {view['recorded_digest']}", style=st("dropped"))
    _first(text, outcome["violations"])
    return text


def _verdict(text: Text, verdict: str, detail: str) -> None:
    ok = verdict == "ok"
    text.append(verdict, style=st("ready") if ok else st("dropped"))
    if not ok:
        text.append(f" {detail}")


def _first(text: Text, violations: list[str]) -> None:
    if violations:
        many = f"{len(violations)} violations" if len(violations) > 1 else "1 violation"
        text.append(f" · {many}: {violations[0]}")


def progress_line(view: ReplayView, last: ev.Decision | None, *, past: bool) -> Text:
    """`schedule decision k of N`, the decisions off the default path, a changed board."""
    taken = (last["step"] if last is not None else 0) if past else view["taken"]
    text = Text(f"schedule decision {taken} of {view['total']}", style="bold")
    off = view["off_default"]
    text.append(f" · off the default path: {view['essential']}")
    if off:
        more = "…" if view["essential"] > len(off) else ""
        text.append(" (" + ", ".join(f"#{n}" for n in off) + more + ")", style=st("dropped"))
    if view["board_changed"]:
        text.append(" · the board file changed since it was recorded", style=st("dropped"))
    return text


def next_line(view: ReplayView) -> Text:
    decision = view["next"]
    if decision is None:
        return Text(f"all {view['total']} decisions taken", style="dim")
    return decision_text("next", decision, view["total"])


def taken_line(view: ReplayView, last: ev.Decision | None) -> Text:
    if last is None:
        return Text("no decision taken yet", style="dim")
    step, listed = last["step"], view["off_default"]
    # the view lists only the first off-default decisions: past those, who knows
    known = view["essential"] == len(listed) or (listed and step <= listed[-1])
    decision: ReplayDecision = {
        "step": step,
        "kind": str(last["decision"]),
        "options": list(last["options"]),
        "choice": last["choice"],
        "default": -1 if step in listed else last["choice"],
    }
    return decision_text("last", decision, view["total"], known=bool(known))


def decision_text(label: str, d: ReplayDecision, total: int, *, known: bool = True) -> Text:
    """`next #6 of 11, switch: ▸continue 0 | preempt 1 · the default`: the options,
    the one the schedule takes marked, and whether it is the default choice (if
    `known`; a default of -1: off the default path, which one is not known)."""
    text = Text(f"{label} #{d['step']} of {total}, {d['kind']}: ")
    for i, option in enumerate(d["options"]):
        text.append(" | " if i else "")
        taken = i == d["choice"]
        text.append(f"▸{option}" if taken else option, style=st("highlight") if taken else "")
    if not known:
        return text
    if d["choice"] == d["default"]:
        text.append(" · the default", style="dim")
    elif 0 <= d["default"] < len(d["options"]):
        text.append(
            f" · OFF the default path (default: {d['options'][d['default']]})",
            style=st("dropped"),
        )
    else:
        text.append(" · OFF the default path", style=st("dropped"))
    return text


__all__ = ["ReplayPane", "last_decision", "replay_text"]
