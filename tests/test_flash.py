"""Flash is real, readable memory (tockd/kernel/flash.py): the TBF image the kernel
writes, read by the app (its own only, never written) and by the kernel; IPC discover
finds a name in flash as Tock 2.2 does."""

from __future__ import annotations

import errno
import mmap
import os
import struct

import pytest

from tests.harness import app, board_toml, run_board
from tockd.board import BoardError, build_kernel, parse_board
from tockd.kernel.flash import FlashError, build_image, checksum
from tockd.kernel.kernel import Kernel

ROT13 = "org.tockos.examples.rot13"
NOBODY = "org.tockos.examples.nobody"


def flash_of(text: str) -> dict[str, tuple[int, int]]:
    """name -> (flash_start, flash_end) of a board, without running it."""
    kernel = build_kernel(parse_board(text))
    try:
        return {p.name: (p.flash_start, p.flash_end) for p in kernel.processes}
    finally:
        kernel.ram.close()


# ---- the image ------------------------------------------------------------------------


def test_image_is_a_tbf_v2_header_tock_would_parse() -> None:
    """Base fields, checksum and TLVs as tock-tbf's parse.rs reads them (release-2.2)."""
    image = build_image(0x40000, 0x4000, "org.tockos.examples.hello", 4096, [b"abc", b"de"])
    data = image.data
    version, header_size, total, flags, check = struct.unpack_from("<HHIII", data)
    assert (version, total, flags) == (2, 0x4000, 1)
    assert header_size == 16 + 4 + 20 + 4 + 28  # base, Program TLV, PackageName padded
    assert check == checksum(data[:header_size])
    assert len(data) == 0x4000
    kind, length = struct.unpack_from("<HH", data, 16)
    init_fn, trailer, min_ram, binary_end, _ = struct.unpack_from("<5I", data, 20)
    assert (kind, length, min_ram) == (9, 20, 4096)
    assert header_size + trailer == image.protected == 0x80  # 72 rounded up to 0x40s
    assert init_fn + header_size == image.init == 0xC8  # `get_init_function_offset`
    kind, length = struct.unpack_from("<HH", data, 40)
    assert (kind, data[44 : 44 + length]) == (3, b"org.tockos.examples.hello")
    count, *pairs = struct.unpack_from("<5I", data, image.protected)
    assert count == 2
    assert [data[pairs[0] : pairs[0] + pairs[1]], data[pairs[2] : pairs[2] + pairs[3]]] == [
        b"abc",
        b"de",
    ]
    assert image.rodata == [(0x40000 + pairs[0], 3), (0x40000 + pairs[2], 2)]
    assert binary_end == image.binary_end == pairs[2] + 4


def test_short_name_keeps_start_where_it_was_and_a_long_one_moves_it() -> None:
    short = build_image(0, 0x1000, "x" * 20, 0, [])
    assert (short.header_size, short.protected, short.init) == (64, 0x40, 0x88)
    long = build_image(0, 0x1000, "x" * 90, 0, [])
    assert long.header_size == 16 + 24 + 4 + 92
    assert (long.protected, long.init) == (0xC0, 0xC0 + 0x48)


def test_image_that_does_not_fit_is_refused() -> None:
    with pytest.raises(FlashError, match="does not fit"):
        build_image(0, 256, "a", 0, [b"x" * 200])
    with pytest.raises(BoardError, match="does not fit"):
        build_kernel(parse_board(board_toml([app("apps_py.hello", flash=512, rodata=["y" * 600])])))


def test_board_rodata_must_be_strings() -> None:
    with pytest.raises(BoardError, match=r"rodata must be an array of strings"):
        parse_board(board_toml([app("apps_py.hello", rodata=[1])]))
    (spec,) = parse_board(board_toml([app("apps_py.hello", rodata=["é", ""])])).apps
    assert spec.rodata == [b"\xc3\xa9", b""], "UTF-8, no NUL added"


def test_flash_memfd_is_sealed_against_writes() -> None:
    """What an app is handed: Linux refuses to write it or map it writable shared."""
    image = build_image(0x40000, 0x1000, "sealed", 0, [b"abc"])
    fd = image.fd()
    assert os.pread(fd, 0x1000, 0) == image.data
    with pytest.raises(PermissionError):
        os.pwrite(fd, b"x", 0)
    with pytest.raises(PermissionError):
        mmap.mmap(fd, 0x1000, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    with pytest.raises(PermissionError):
        os.ftruncate(fd, 0)


def test_kernel_reads_a_process_flash_and_only_its_own() -> None:
    text = board_toml([app("apps_py.hello", rodata=[ROT13]), app("apps_py.hello", name="other")])
    kernel: Kernel = build_kernel(parse_board(text))
    try:
        hello, other = kernel.processes
        address, length = kernel.flash.image_at(hello.flash_start).rodata[0]
        assert kernel.read_flash(hello, address, length) == ROT13.encode()
        assert kernel.read_flash(hello, hello.flash_start, 2) == b"\x02\x00"
        with pytest.raises(FlashError, match="not in the flash of hello"):
            kernel.read_flash(hello, other.flash_start, 4)
        with pytest.raises(FlashError):
            kernel.read_flash(hello, hello.flash_end - 2, 4)
        assert hello.flash_protected == kernel.flash.image_at(hello.flash_start).protected
    finally:
        kernel.ram.close()


# ---- apps read their flash --------------------------------------------------------------


@pytest.mark.parametrize("mpu", ["ideal", "cortex-m", "riscv-pmp"])
async def test_app_reads_its_own_header_and_rodata(mpu: str) -> None:
    rodata = [ROT13, "héllo", "x"]
    apps = [app("tests.apps.flash_reader", name="reader", rodata=rodata, args={"how": "own"})]
    run = await run_board(board_toml(apps, mpu=mpu))
    assert run.faults() == []
    proc = run.proc("reader")
    image = run.daemon.kernel.flash.image_at(proc.flash_start)
    lines = run.console["reader"].splitlines()
    assert lines[1] == f"header {image.data[: image.header_size].hex()}"
    assert lines[2] == f"u8 [2, 0, {image.header_size}, 0]"  # version 2, header_size
    assert lines[3] == f"u32 {proc.flash_end - proc.flash_start:#x}"  # total_size
    assert lines[4] == "name reader"
    for i, text in enumerate(rodata):
        address, length = image.rodata[i]
        raw = text.encode()
        assert lines[5 + i] == f"rodata {i} {address:#x} {length} {raw!r} {raw!r}"
    assert lines[-1] == "not stopped"
    start = run.of("function_call", "reader")[0]  # `_start`, from the header, as Tock does
    assert start["fnptr"] == proc.flash_start + image.init
    assert start["args"][0] == proc.flash_start + image.protected


async def test_reading_another_apps_flash_faults_with_its_name() -> None:
    apps = [app("apps_py.hello", name="victim"), app("tests.apps.flash_reader", name="peek")]
    target = flash_of(board_toml([*apps]))["victim"][0] + 0x90
    apps[1]["args"] = {"how": "other", "addr": target}
    run = await run_board(board_toml(apps, mpu="cortex-m"))
    (fault,) = run.of("fault", "peek")
    assert fault["reason"] == f"MPU fault: read of 1 byte(s) at {target:#x} (flash of victim)"
    assert "not stopped" not in run.console["peek"]


async def test_writing_its_own_flash_faults() -> None:
    run = await run_board(board_toml([app("tests.apps.flash_reader", args={"how": "write"})]))
    start = run.proc("flash_reader").flash_start
    assert run.faults() == [f"MPU fault: write of 1 byte(s) at {start + 0x100:#x} (its own flash)"]


async def test_a_raw_store_to_flash_kills_the_app_and_changes_nothing() -> None:
    run = await run_board(board_toml([app("tests.apps.flash_reader", args={"how": "raw_write"})]))
    (reason,) = run.faults()
    assert "SIGSEGV" in reason
    proc = run.proc("flash_reader")
    assert run.daemon.kernel.read_flash(proc, proc.flash_start, 2) == b"\x02\x00"
    assert "not stopped" not in run.console["flash_reader"]


async def test_linux_refuses_to_make_the_flash_mapping_writable() -> None:
    run = await run_board(board_toml([app("tests.apps.flash_reader", args={"how": "remap"})]))
    assert run.faults() == []
    assert f"mprotect rw -1 errno {errno.EACCES}" in run.console["flash_reader"].splitlines()


# ---- IPC discover (kernel/src/ipc.rs, release-2.2) --------------------------------------


async def test_a_client_discovers_the_service_by_a_name_in_its_flash() -> None:
    apps = [
        app("apps_py.rot13_service", name=ROT13, ipc_service=True),
        app("tests.apps.flash_client", name="client", rodata=[ROT13, NOBODY]),
    ]
    service_flash = flash_of(board_toml([*apps]))[ROT13][0]
    apps[1]["args"] = {"other_flash": service_flash + 0x100}
    run = await run_board(board_toml(apps, mpu="cortex-m"))
    assert run.faults() == []
    assert run.console["client"].splitlines() == [
        "no allow: NODEVICE",  # an absent buffer is an empty slice: no name matches
        "empty allow: NODEVICE",
        "unknown name: NODEVICE",
        "allow header: INVAL",  # Tock's in_app_flash_memory starts past the header
        "allow other flash: INVAL",
        "service: 0",
        "answer: Uryyb Jbeyq!",
    ]
    discovers = [e["ret"] for e in run.syscalls("client", 2) if e["args"][:2] == [0x10000, 1]]
    assert discovers[-1] == "SuccessU32(0)"
