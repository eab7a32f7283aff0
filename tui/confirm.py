"""Asking before an action that cannot be undone: fault (`f`) and terminate (`t`).

`Confirm` is a small modal with a question; `y` answers yes, `n` or Esc no, and no
other command key acts while it is up (the time-travel keys still move the view). The
answer goes to the callback given to `App.push_screen`.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Static


class Confirm(ModalScreen[bool]):
    """A yes/no question; dismissed with True for `y`, False for `n` or Esc."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > #confirm-body {
        width: auto;
        max-width: 90%;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 1 2;
    }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        text = Text(self.question, style="bold")  # a process name is text, not markup
        text.append("\n\ny: yes    n or Esc: no", style="not bold")
        yield Static(text, id="confirm-body")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
