"""Fixtures of the capsule unit tests (helpers are in rig.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.capsules.rig import Rig, make_rig


@pytest.fixture
def rig() -> Iterator[Rig]:
    """A two-app board of the default capsules, on a hand-moved clock."""
    with make_rig() as r:
        yield r
