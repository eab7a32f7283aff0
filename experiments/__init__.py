"""One module per known Tock IPC flaw; each defines EXPERIMENT (a tockd.experiment.Experiment).

`catalogue` is registered as a `tockd.experiments` entry point (pyproject.toml): tockd
finds the experiments through it and never imports this package by name.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tockd.experiment import Experiment


def catalogue() -> list[Experiment]:
    """Every module here that defines EXPERIMENT, in file order."""
    from tockd.experiment import Experiment

    found: list[Experiment] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        exp = getattr(module, "EXPERIMENT", None)
        if isinstance(exp, Experiment):
            found.append(exp)
    return found
