"""LED capsule (driver 0x2) through the kernel's syscalls, against
capsules/core/src/led.rs at release-2.2."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.capsules.rig import Rig, err, make_rig, ok
from tockd.capsules.led import Led
from tockd.kernel.abi import DriverNum, ErrorCode

LED = int(DriverNum.LED)
COUNT, ON, OFF, TOGGLE, GET = 0, 1, 2, 3, 4


def _leds(rig: Rig) -> list[bool]:
    capsule = rig.kernel.capsules[LED]
    assert isinstance(capsule, Led)
    return capsule.leds


@pytest.mark.parametrize("leds", [1, 4, 7])
def test_command_0_is_the_number_of_leds(leds: int) -> None:
    """led.rs answers SuccessU32(NUM_LEDS), not TRD104's Success (kept until Tock 3.0,
    issue #3375)."""
    with make_rig(leds=leds) as rig:
        assert rig.command(rig.app(), LED, COUNT) == ok(leds)


def test_on_off_toggle_change_the_led_and_report_it(rig: Rig) -> None:
    proc = rig.app()
    assert rig.command(proc, LED, ON, 2) == ok()
    assert _leds(rig) == [False, False, True, False]
    assert rig.command(proc, LED, TOGGLE, 0) == ok()
    assert rig.command(proc, LED, TOGGLE, 2) == ok()
    assert _leds(rig) == [True, False, False, False]
    assert rig.command(proc, LED, OFF, 0) == ok()
    assert _leds(rig) == [False] * 4
    changes = [(e["led"], e["on"], e["index"]) for e in rig.kinds("led")]
    assert changes == [(2, True, 0), (0, True, 0), (2, False, 0), (0, False, 0)]


def test_get_reads_an_led(rig: Rig) -> None:
    """Departure: led.rs (2.2) has no command 4; tockd adds `get` so an app can read
    an LED back (Tock answers NOSUPPORT)."""
    proc = rig.app()
    rig.command(proc, LED, ON, 3)
    assert rig.command(proc, LED, GET, 3) == ok(1)
    assert rig.command(proc, LED, GET, 1) == ok(0)


def test_leds_are_shared_by_every_process(rig: Rig) -> None:
    a, b = rig.app(0), rig.app(1)
    rig.command(a, LED, ON, 1)
    assert rig.command(b, LED, GET, 1) == ok(1)


@pytest.mark.parametrize("cmd", [ON, OFF, TOGGLE, GET])
@pytest.mark.parametrize("index", [4, 5, 0xFFFF_FFFF])
def test_an_led_that_does_not_exist_is_inval(rig: Rig, cmd: int, index: int) -> None:
    assert rig.command(rig.app(), LED, cmd, index) == err(ErrorCode.INVAL)
    assert _leds(rig) == [False] * 4


@pytest.mark.parametrize("cmd", [5, 6, 0xFFFF_FFFF])
def test_unknown_commands_are_nosupport_even_with_a_bad_index(rig: Rig, cmd: int) -> None:
    assert rig.command(rig.app(), LED, cmd, 99) == err(ErrorCode.NOSUPPORT)


def test_the_led_driver_uses_no_grant(rig: Rig) -> None:
    """led.rs has no grant: its commands work even when no grant can be allocated,
    and subscribe or allow find nothing to store (UpcallCount<0>)."""
    proc = rig.app()
    proc.adversity.add("grant_fail")
    assert rig.command(proc, LED, ON, 0) == ok()
    assert proc.grant_ptrs == {}
    proc.adversity.clear()
    fn = proc.flash_start + 0x100
    assert rig.syscall(proc, 1, LED, 0, fn, 0)[:2] == (2, ErrorCode.NOSUPPORT)


@given(st.lists(st.tuples(st.sampled_from([ON, OFF, TOGGLE, GET]), st.integers(0, 5))))
@settings(max_examples=60, deadline=None)
def test_any_sequence_of_commands_matches_a_row_of_switches(
    calls: list[tuple[int, int]],
) -> None:
    with make_rig() as rig:
        proc = rig.app()
        model = [False] * 4
        for cmd, index in calls:
            reply = rig.command(proc, LED, cmd, index)
            if index >= len(model):
                assert reply == err(ErrorCode.INVAL)
                continue
            if cmd == GET:
                assert reply == ok(int(model[index]))
                continue
            model[index] = {ON: True, OFF: False, TOGGLE: not model[index]}[cmd]
            assert reply == ok()
        assert _leds(rig) == model
