"""Alarm capsule (driver 0x0) through the kernel's syscalls, against
capsules/core/src/alarm.rs at release-2.2: one alarm per process, ticks of a 1 MHz
clock that wrap at 2**32, upcall 0 with (now, reference + dt, 0)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.capsules.rig import APPDATA, START_TIME, TICKS_PER_SECOND, Rig, err, make_rig, ok
from tockd.capsules.alarm import FREQUENCY_HZ, Alarm
from tockd.kernel.abi import DriverNum, ErrorCode

ALARM = int(DriverNum.ALARM)
FREQUENCY, NOW, STOP, OLD_ABSOLUTE, RELATIVE, ABSOLUTE = 1, 2, 3, 4, 5, 6
FIRED = 0
U32 = 0xFFFF_FFFF
START_TICKS = int(START_TIME * TICKS_PER_SECOND)


def _alarm(rig: Rig) -> Alarm:
    capsule = rig.kernel.capsules[ALARM]
    assert isinstance(capsule, Alarm)
    return capsule


def _fired(rig: Rig, index: int = 0) -> list[tuple[int, int, int]]:
    proc = rig.kernel.processes[index]
    return [(t.arg0, t.arg1, t.arg2) for t in rig.upcalls(proc, ALARM)]


# ---- command numbers ---------------------------------------------------------------


def test_command_0_says_the_driver_exists(rig: Rig) -> None:
    assert rig.command(rig.app(), ALARM, 0) == ok()


def test_command_1_is_the_frequency(rig: Rig) -> None:
    assert FREQUENCY_HZ == TICKS_PER_SECOND
    assert rig.command(rig.app(), ALARM, FREQUENCY) == ok(1_000_000)


def test_command_2_is_now_in_ticks_of_the_kernel_clock(rig: Rig) -> None:
    proc = rig.app()
    assert rig.command(proc, ALARM, NOW) == ok(START_TICKS)
    rig.advance_ticks(1234)
    assert rig.command(proc, ALARM, NOW) == ok(START_TICKS + 1234)


def test_now_wraps_at_32_bits(rig: Rig) -> None:
    rig.clock.t = (1 << 32) / TICKS_PER_SECOND + 0.5
    assert rig.command(rig.app(), ALARM, NOW) == ok(500_000)


@pytest.mark.parametrize("cmd", [OLD_ABSOLUTE, 7, 0xFFFF_FFFF])
def test_command_4_and_unknown_commands_are_nosupport(rig: Rig, cmd: int) -> None:
    """alarm.rs: 4 (absolute expiration) was deprecated in 2.0: NOSUPPORT."""
    assert rig.command(rig.app(), ALARM, cmd) == err(ErrorCode.NOSUPPORT)


@pytest.mark.parametrize("cmd", [0, FREQUENCY, NOW, STOP, RELATIVE, ABSOLUTE, 9])
def test_every_command_enters_the_grant_so_none_works_without_one(rig: Rig, cmd: int) -> None:
    """alarm.rs runs every command inside `app_alarms.enter`: no grant, NOMEM."""
    proc = rig.app()
    proc.adversity.add("grant_fail")
    assert rig.command(proc, ALARM, cmd, 10, 10) == err(ErrorCode.NOMEM)


def test_stop_with_no_alarm_set_is_already(rig: Rig) -> None:
    assert rig.command(rig.app(), ALARM, STOP) == err(ErrorCode.ALREADY)


# ---- arming and firing -------------------------------------------------------------


def test_a_relative_alarm_fires_at_now_plus_dt_with_now_and_expiry(rig: Rig) -> None:
    proc = rig.app()
    fn = rig.subscribe(proc, ALARM, FIRED)
    assert rig.command(proc, ALARM, RELATIVE, 5000) == ok(START_TICKS + 5000)
    state = rig.state(proc, _alarm(rig).grant_spec)
    assert state == {"reference": START_TICKS, "dt": 5000, "armed": 1}
    rig.advance_ticks(4990)
    assert _fired(rig) == []
    rig.advance_ticks(20)
    [task] = rig.upcalls(proc, ALARM)
    assert (task.subscribe, task.fnptr, task.appdata) == (FIRED, fn, APPDATA)
    now = rig.command(proc, ALARM, NOW)[1]
    assert (task.arg1, task.arg2) == (START_TICKS + 5000, 0)
    assert START_TICKS + 5000 <= task.arg0 <= now
    assert rig.state(proc, _alarm(rig).grant_spec)["armed"] == 0


def test_an_absolute_alarm_counts_dt_from_its_reference(rig: Rig) -> None:
    proc = rig.app()
    rig.subscribe(proc, ALARM, FIRED)
    reference = START_TICKS - 1000  # the app read `now` a while ago
    assert rig.command(proc, ALARM, ABSOLUTE, reference, 3000) == ok(reference + 3000)
    rig.advance_ticks(1990)
    assert _fired(rig) == []
    rig.advance_ticks(20)
    assert [f[1] for f in _fired(rig)] == [reference + 3000]


def test_an_alarm_already_in_the_past_fires_at_once(rig: Rig) -> None:
    proc = rig.app()
    rig.subscribe(proc, ALARM, FIRED)
    assert rig.command(proc, ALARM, ABSOLUTE, START_TICKS - 500, 100) == ok(START_TICKS - 400)
    rig.kernel.run_due_timers()  # the clock has not moved
    assert _fired(rig) == [(START_TICKS, START_TICKS - 400, 0)]


@pytest.mark.parametrize("start", [START_TIME, 1.0, 3.3, 1234.567891])
@pytest.mark.parametrize("dt", [1, 7, 999, 1_000_001])
def test_an_alarm_fired_at_its_exact_deadline_reports_a_time_not_before_expiry(
    rig: Rig, start: float, dt: int
) -> None:
    """A controlled run jumps the clock to the kernel's next deadline exactly
    (tockd/lab/controlled.py). The upcall's `now` must then have reached
    reference + dt: alarm.rs fires only an expired alarm and reports that `now`."""
    rig.clock.t = start
    proc = rig.app()
    rig.subscribe(proc, ALARM, FIRED)
    expiry = rig.command(proc, ALARM, RELATIVE, dt)[1]
    deadline = rig.kernel.next_deadline()
    assert deadline is not None
    rig.clock.t = deadline
    rig.kernel.run_due_timers()
    [(when, at, _)] = _fired(rig)
    assert at == expiry
    assert (when - expiry) & U32 < 1 << 31, f"fired at {when}, before its expiry {expiry}"


def test_an_alarm_across_the_32_bit_wrap_fires_on_time(rig: Rig) -> None:
    """Ticks wrap at 2**32 (alarm.rs left-justifies them to wrap there): an expiry
    past the wrap is (reference + dt) mod 2**32 and is reached after dt ticks."""
    rig.clock.t = (1 << 32) / TICKS_PER_SECOND - 100e-6  # 100 ticks before the wrap
    proc = rig.app()
    rig.subscribe(proc, ALARM, FIRED)
    now = rig.command(proc, ALARM, NOW)[1]
    assert now > U32 - 200
    expiry = rig.command(proc, ALARM, ABSOLUTE, now, 300)[1]
    assert expiry == (now + 300) & U32 < 300
    rig.advance_ticks(290)
    assert _fired(rig) == []
    rig.advance_ticks(20)
    assert [f[1] for f in _fired(rig)] == [expiry]


def test_a_reference_far_behind_now_means_already_expired(rig: Rig) -> None:
    """alarm.rs counts elapsed ticks as now - reference (wrapping): a reference just
    below 2**32 seen at now = 1e8 is 1e8 + 100 ticks ago, so dt = 300 is long past."""
    proc = rig.app()
    rig.subscribe(proc, ALARM, FIRED)
    assert rig.command(proc, ALARM, ABSOLUTE, U32 - 99, 300) == ok(200)
    rig.kernel.run_due_timers()
    assert [f[1] for f in _fired(rig)] == [200]


def test_stop_cancels_the_alarm(rig: Rig) -> None:
    proc = rig.app()
    rig.subscribe(proc, ALARM, FIRED)
    rig.command(proc, ALARM, RELATIVE, 100)
    assert rig.command(proc, ALARM, STOP) == ok()
    assert rig.kernel.next_deadline() is None  # no kernel timer left behind
    rig.advance_ticks(1000)
    assert _fired(rig) == []
    assert rig.command(proc, ALARM, STOP) == err(ErrorCode.ALREADY)


def test_stop_after_the_alarm_fired_is_already(rig: Rig) -> None:
    proc = rig.app()
    rig.command(proc, ALARM, RELATIVE, 10)
    rig.advance_ticks(20)
    assert rig.command(proc, ALARM, STOP) == err(ErrorCode.ALREADY)


def test_rearming_replaces_the_alarm(rig: Rig) -> None:
    """One alarm per process (alarm.rs keeps one `expiration` in the grant)."""
    proc = rig.app()
    rig.subscribe(proc, ALARM, FIRED)
    rig.command(proc, ALARM, RELATIVE, 100)
    assert rig.command(proc, ALARM, RELATIVE, 1000) == ok(START_TICKS + 1000)
    rig.advance_ticks(500)
    assert _fired(rig) == []
    rig.advance_ticks(600)
    assert [f[1] for f in _fired(rig)] == [START_TICKS + 1000]


def test_each_process_has_its_own_alarm(rig: Rig) -> None:
    a, b = rig.app(0), rig.app(1)
    for p in (a, b):
        rig.subscribe(p, ALARM, FIRED)
    rig.command(a, ALARM, RELATIVE, 300)
    rig.command(b, ALARM, RELATIVE, 100)
    rig.advance_ticks(200)
    assert (_fired(rig, 0), [f[1] for f in _fired(rig, 1)]) == ([], [START_TICKS + 100])
    assert rig.command(b, ALARM, STOP) == err(ErrorCode.ALREADY)
    rig.advance_ticks(200)
    assert [f[1] for f in _fired(rig, 0)] == [START_TICKS + 300]


def test_an_alarm_without_a_callback_is_queued_as_a_null_upcall(rig: Rig) -> None:
    """Tock schedules the upcall whatever the app subscribed; a null one becomes a
    ReturnValue task, which only a yield-wait-for can take."""
    proc = rig.app()
    rig.command(proc, ALARM, RELATIVE, 10)
    rig.advance_ticks(20)
    [task] = proc.queue
    assert (task.kind.value, task.driver, task.subscribe) == ("ReturnValue", ALARM, FIRED)
    assert task.arg1 == START_TICKS + 10


def test_a_terminated_process_loses_its_alarm(rig: Rig) -> None:
    proc = rig.app()
    rig.subscribe(proc, ALARM, FIRED)
    rig.command(proc, ALARM, RELATIVE, 100)
    rig.kernel.terminate(proc, 0)
    assert rig.kernel.next_deadline() is None
    rig.kernel.start(proc)
    rig.advance_ticks(200)
    assert _fired(rig) == []


@given(
    dt=st.integers(0, 2_000_000),
    back=st.integers(0, 2_000_000),
    steps=st.lists(st.integers(0, 400_000), min_size=1, max_size=30),
    start=st.floats(1.0, 4000.0),
)
@settings(max_examples=100, deadline=None)
def test_the_alarm_never_fires_early_and_fires_once_due(
    dt: int, back: int, steps: list[int], start: float
) -> None:
    """Whatever the reference, dt and the clock's steps (a step of 0: jump to the
    kernel's next deadline, as a controlled run does): the upcall's `now` is never
    before reference + dt (as ticks count, modulo 2**32), and once the clock has
    passed the expiry the alarm has fired, exactly once."""
    with make_rig() as rig:
        rig.clock.t = start
        proc = rig.app()
        rig.subscribe(proc, ALARM, FIRED)
        now = rig.command(proc, ALARM, NOW)[1]
        reference = (now - back) & U32
        expiry = rig.command(proc, ALARM, ABSOLUTE, reference, dt)[1]
        assert expiry == (reference + dt) & U32
        for step in [*steps, dt + 1]:  # the last step is always past the expiry
            deadline = rig.kernel.next_deadline()
            if step == 0 and deadline is not None:
                rig.clock.t = max(rig.clock.t, deadline)
                rig.kernel.run_due_timers()
            else:
                rig.advance_ticks(step)
            fired = _fired(rig)
            if fired:
                (when, at, _) = fired[0]
                assert at == expiry
                assert (when - reference) & U32 >= dt, "the alarm fired early"
        now = rig.command(proc, ALARM, NOW)[1]
        assert (now - reference) & U32 >= dt
        assert len(_fired(rig)) == 1
