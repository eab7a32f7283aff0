"""Button capsule (driver 0x3) through the kernel's syscalls, against
capsules/core/src/button.rs at release-2.2: per-process interrupt masks in the grant,
upcall 0 with (button, pressed, 0) to every process that enabled the button."""

from __future__ import annotations

import pytest

from tests.capsules.rig import APPDATA, Rig, err, make_rig, ok
from tockd.capsules.button import Button
from tockd.kernel.abi import DriverNum, ErrorCode
from tockd.kernel.process import State

BUTTON = int(DriverNum.BUTTON)
COUNT, ENABLE, DISABLE, READ = 0, 1, 2, 3
CHANGED = 0


def _button(rig: Rig) -> Button:
    capsule = rig.kernel.capsules[BUTTON]
    assert isinstance(capsule, Button)
    return capsule


def _seen(rig: Rig, index: int) -> list[tuple[int, int, int]]:
    proc = rig.kernel.processes[index]
    return [(t.arg0, t.arg1, t.arg2) for t in rig.upcalls(proc, BUTTON)]


@pytest.mark.parametrize("buttons", [1, 2, 5])
def test_command_0_is_the_number_of_buttons(buttons: int) -> None:
    """button.rs answers SuccessU32(pins.len()) (TRD104's Success waits for Tock 3.0)."""
    with make_rig(buttons=buttons) as rig:
        assert rig.command(rig.app(), BUTTON, COUNT) == ok(buttons)


def test_read_gives_the_button_state(rig: Rig) -> None:
    proc = rig.app()
    assert rig.command(proc, BUTTON, READ, 1) == ok(0)
    _button(rig).set_button(1, True)
    assert rig.command(proc, BUTTON, READ, 1) == ok(1)
    assert rig.command(proc, BUTTON, READ, 0) == ok(0)


@pytest.mark.parametrize("cmd", [ENABLE, DISABLE, READ])
@pytest.mark.parametrize("index", [2, 31, 0xFFFF_FFFF])
def test_a_button_that_does_not_exist_is_inval(rig: Rig, cmd: int, index: int) -> None:
    proc = rig.app()
    assert rig.command(proc, BUTTON, cmd, index) == err(ErrorCode.INVAL)
    assert rig.kernel.grant_numbers[BUTTON] not in proc.grant_ptrs


@pytest.mark.parametrize("cmd", [4, 0xFFFF_FFFF])
def test_unknown_commands_are_nosupport(rig: Rig, cmd: int) -> None:
    assert rig.command(rig.app(), BUTTON, cmd, 0) == err(ErrorCode.NOSUPPORT)


@pytest.mark.parametrize("cmd", [ENABLE, DISABLE])
def test_enable_and_disable_need_the_grant(rig: Rig, cmd: int) -> None:
    """button.rs enters the grant for 1 and 2 (its error becomes the failure); count
    and read need none."""
    proc = rig.app()
    proc.adversity.add("grant_fail")
    assert rig.command(proc, BUTTON, cmd, 0) == err(ErrorCode.NOMEM)
    proc.adversity.add("grant_fail")
    assert rig.command(proc, BUTTON, READ, 0) == ok(0)
    assert rig.command(proc, BUTTON, COUNT) == ok(2)


def test_the_enabled_mask_lives_in_the_grant(rig: Rig) -> None:
    proc = rig.app()
    spec = _button(rig).grant_spec
    assert rig.command(proc, BUTTON, ENABLE, 1) == ok()
    assert rig.state(proc, spec) == {"enabled": 0b10}
    rig.command(proc, BUTTON, ENABLE, 0)
    assert rig.state(proc, spec) == {"enabled": 0b11}
    assert rig.command(proc, BUTTON, DISABLE, 1) == ok()
    assert rig.state(proc, spec) == {"enabled": 0b01}


def test_a_change_reaches_exactly_the_processes_that_enabled_it(rig: Rig) -> None:
    a, b = rig.app(0), rig.app(1)
    fn = rig.subscribe(a, BUTTON, CHANGED)
    rig.subscribe(b, BUTTON, CHANGED)
    rig.command(a, BUTTON, ENABLE, 0)
    rig.command(b, BUTTON, ENABLE, 1)
    assert _button(rig).set_button(0, True) == 1
    assert _button(rig).set_button(0, False) == 1
    assert _seen(rig, 0) == [(0, 1, 0), (0, 0, 0)]
    assert _seen(rig, 1) == []
    [first, _] = rig.upcalls(a, BUTTON)
    assert (first.subscribe, first.fnptr, first.appdata) == (CHANGED, fn, APPDATA)
    assert _button(rig).set_button(1, True) == 1
    assert _seen(rig, 1) == [(1, 1, 0)]
    [event] = [e for e in rig.kinds("button") if e["button"] == 1]
    assert (event["pressed"], event["notified"]) == (True, 1)


def test_a_disabled_button_notifies_no_one(rig: Rig) -> None:
    proc = rig.app()
    rig.subscribe(proc, BUTTON, CHANGED)
    rig.command(proc, BUTTON, ENABLE, 0)
    rig.command(proc, BUTTON, DISABLE, 0)
    assert _button(rig).set_button(0, True) == 0
    assert _seen(rig, 0) == []


def test_a_dead_process_is_not_notified(rig: Rig) -> None:
    a, b = rig.app(0), rig.app(1)
    for p in (a, b):
        rig.command(p, BUTTON, ENABLE, 0)
    rig.kernel.terminate(a, 0)
    assert _button(rig).set_button(0, True) == 1
    assert not a.queue


def test_a_button_the_board_lacks_cannot_be_pressed(rig: Rig) -> None:
    with pytest.raises(ValueError, match="no button 2"):
        _button(rig).set_button(2, True)
    assert _button(rig).pressed == [False, False]


def test_a_forged_mask_faults_its_owner_and_the_others_still_hear(rig: Rig) -> None:
    """The kernel re-checks every value it reads back from a grant
    (tockd/kernel/grant.py): a mask bit beyond the board's buttons is forged, so its
    owner is faulted, and the other processes are still told."""
    a, b = rig.app(0), rig.app(1)
    for p in (a, b):
        rig.subscribe(p, BUTTON, CHANGED)
        rig.command(p, BUTTON, ENABLE, 0)
    address = a.grant_ptrs[rig.kernel.grant_numbers[BUTTON]]
    offset = _button(rig).grant_spec.state_offset
    rig.kernel.ram.pack("<I", address + offset, 0xFFFF)
    assert _button(rig).set_button(0, True) == 1
    assert a.state is State.FAULTED and "forged grant" in a.fault_reason
    assert _seen(rig, 1) == [(0, 1, 0)]
