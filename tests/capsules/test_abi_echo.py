"""ABI echo driver (0xA0000, tockd's own): every TRD104 return variant, with the
values built from the command's arguments, as the kernel encodes them in r0..r3
(a u64 low word first, kernel/src/utilities/arch_helpers.rs, release-2.2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.capsules.rig import Rig, err, make_rig, ok
from tockd.capsules.abi_echo import DRIVER_NUM as ECHO
from tockd.kernel.abi import ErrorCode, ReturnVariant

u32 = st.integers(0, 0xFFFF_FFFF)
error_code = st.sampled_from([int(e) for e in ErrorCode])


def _expected(cmd: int, a0: int, a1: int) -> tuple[int, int, int, int]:
    """r0..r3 the docstring of tockd/capsules/abi_echo.py promises for command `cmd`."""
    code = a0 if a0 in {int(e) for e in ErrorCode} else int(ErrorCode.FAIL)
    v = ReturnVariant
    table = {
        1: (v.FAILURE, code, 0, 0),
        2: (v.FAILURE_U32, code, a1, 0),
        3: (v.FAILURE_2_U32, code, a1, a0 ^ a1),
        4: (v.FAILURE_U64, code, a0, a1),  # (a1 << 32) | a0, low word first
        5: (v.SUCCESS, 0, 0, 0),
        6: (v.SUCCESS_U32, a0, 0, 0),
        7: (v.SUCCESS_2_U32, a0, a1, 0),
        8: (v.SUCCESS_U64, a0, a1, 0),
        9: (v.SUCCESS_3_U32, a0, a1, a0 ^ a1),
        10: (v.SUCCESS_U32_U64, a0, a0, a1),
    }
    variant, r1, r2, r3 = table[cmd]
    return (int(variant), r1, r2, r3)


@pytest.fixture
def echo() -> Iterator[Rig]:
    with make_rig(abi_echo=True) as rig:
        yield rig


def test_command_0_says_the_driver_exists(echo: Rig) -> None:
    assert echo.command(echo.app(), ECHO, 0) == ok()


def test_the_driver_exists_only_when_the_board_asks(rig: Rig) -> None:
    assert rig.command(rig.app(), ECHO, 0) == err(ErrorCode.NODEVICE)


@pytest.mark.parametrize("cmd", [11, 12, 0xFFFF_FFFF])
def test_commands_past_10_are_nosupport(echo: Rig, cmd: int) -> None:
    assert echo.command(echo.app(), ECHO, cmd, 1, 2) == err(ErrorCode.NOSUPPORT)


@pytest.mark.parametrize("cmd", range(1, 11))
def test_each_command_gives_its_variant(echo: Rig, cmd: int) -> None:
    reply = echo.command(echo.app(), ECHO, cmd, int(ErrorCode.BUSY), 0x1234_5678)
    assert reply == _expected(cmd, int(ErrorCode.BUSY), 0x1234_5678)
    assert reply[0] == list(ReturnVariant)[cmd - 1]


def test_an_argument_that_is_no_error_code_fails_with_fail(echo: Rig) -> None:
    assert echo.command(echo.app(), ECHO, 1, 999) == err(ErrorCode.FAIL)


@given(st.integers(1, 10), st.one_of(error_code, u32), u32)
@settings(max_examples=200, deadline=None)
def test_every_variant_carries_any_values_intact(cmd: int, a0: int, a1: int) -> None:
    with make_rig(abi_echo=True) as rig:
        assert rig.command(rig.app(), ECHO, cmd, a0, a1) == _expected(cmd, a0, a1)


def test_the_echo_driver_uses_no_grant(echo: Rig) -> None:
    proc = echo.app()
    proc.adversity.add("grant_fail")
    assert echo.command(proc, ECHO, 6, 7) == ok(7)
    assert proc.grant_ptrs == {}
