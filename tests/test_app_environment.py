"""What an app inherits of the daemon's environment: nothing but locale and time zone."""

from __future__ import annotations

import pytest

from tests.harness import run_board
from tockd.experiment import apps_toml


async def test_an_app_sees_none_of_the_daemons_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOCKD_TEST_SECRET_TOKEN", "hunter2")
    text = apps_toml(
        [
            {
                "name": "probe",
                "module": "tests.apps.env_probe",
                "args": {"names": "TOCKD_TEST_SECRET_TOKEN,PYTHONHASHSEED,HOME"},
            }
        ],
        name="env",
        mpu="ideal",
    )
    run = await run_board(text)
    assert run.console["probe"] == "env: PYTHONHASHSEED\n"
