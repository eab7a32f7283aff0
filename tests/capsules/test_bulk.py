"""Bulk transfer driver (0xA0001, tockd's own): takes up to `arg0` bytes of read-only
allow 0 in place (1) or copied (2) and says how many; a buffer not in RAM is RESERVE."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.capsules.rig import Rig, err, make_rig, ok
from tockd.capsules.bulk import DRIVER_NUM as BULK
from tockd.kernel.abi import ErrorCode

IN_PLACE, COPIED = 1, 2
BUF = 0x100


@pytest.fixture
def bulk() -> Iterator[Rig]:
    with make_rig(bulk=True, rodata=("in flash",)) as rig:
        yield rig


def test_command_0_says_the_driver_exists(bulk: Rig) -> None:
    assert bulk.command(bulk.app(), BULK, 0) == ok()


def test_the_driver_exists_only_when_the_board_asks(rig: Rig) -> None:
    assert rig.command(rig.app(), BULK, 1, 8) == err(ErrorCode.NODEVICE)


@pytest.mark.parametrize("cmd", [3, 0xFFFF_FFFF])
def test_unknown_commands_are_nosupport(bulk: Rig, cmd: int) -> None:
    assert bulk.command(bulk.app(), BULK, cmd, 8) == err(ErrorCode.NOSUPPORT)


@pytest.mark.parametrize("cmd", [IN_PLACE, COPIED])
def test_a_transfer_whose_grant_cannot_be_allocated_is_nomem(bulk: Rig, cmd: int) -> None:
    proc = bulk.app()
    proc.adversity.add("grant_fail")
    assert bulk.command(proc, BULK, cmd, 8) == err(ErrorCode.NOMEM)


@pytest.mark.parametrize("cmd", [IN_PLACE, COPIED])
@pytest.mark.parametrize(("size", "want", "taken"), [(256, 100, 100), (256, 1000, 256)])
def test_a_transfer_takes_the_smaller_of_the_request_and_the_allow(
    bulk: Rig, cmd: int, size: int, want: int, taken: int
) -> None:
    proc = bulk.app()
    bulk.allow_ro(proc, BULK, 0, proc.mem_start + BUF, size)
    assert bulk.command(proc, BULK, cmd, want) == ok(taken)


@pytest.mark.parametrize("cmd", [IN_PLACE, COPIED])
def test_nothing_to_take_is_reserve(bulk: Rig, cmd: int) -> None:
    proc = bulk.app()
    assert bulk.command(proc, BULK, cmd, 64) == err(ErrorCode.RESERVE)  # no allow
    bulk.allow_ro(proc, BULK, 0, proc.mem_start + BUF, 64)
    assert bulk.command(proc, BULK, cmd, 0) == err(ErrorCode.RESERVE)  # nothing asked


def test_a_buffer_in_flash_is_reserve(bulk: Rig) -> None:
    """The driver streams RAM; flash is not RAM (its docstring), so nothing is read."""
    proc = bulk.app()
    [(address, length)] = bulk.kernel.flash.image_at(proc.flash_start).rodata
    bulk.allow_ro(proc, BULK, 0, address, length)
    assert bulk.command(proc, BULK, IN_PLACE, length) == err(ErrorCode.RESERVE)


def test_the_grant_has_one_read_only_allow_and_no_upcall(bulk: Rig) -> None:
    proc = bulk.app()
    buf = proc.mem_start + BUF
    assert bulk.syscall(proc, 4, BULK, 1, buf, 8)[:2] == (2, ErrorCode.NOSUPPORT)
    assert bulk.syscall(proc, 3, BULK, 0, buf, 8)[:2] == (2, ErrorCode.NOSUPPORT)
    fn = proc.flash_start + 0x100
    assert bulk.syscall(proc, 1, BULK, 0, fn, 0)[:2] == (2, ErrorCode.NOSUPPORT)
