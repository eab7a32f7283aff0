"""Tock's syscall ABI numbers, in one place (TRD104; `kernel/src/syscall.rs`
and `kernel/src/errorcode.rs` at release-2.2; docs/conformance.md), and the tags of the
frames that carry them between an app process and the kernel.

Part of the contract (tockd/contract/__init__.py): imports only the standard library.
"""

from __future__ import annotations

from enum import IntEnum


class SyscallClass(IntEnum):
    """The syscall class number (the `svc` immediate on Cortex-M, a4 on RISC-V)."""

    YIELD = 0
    SUBSCRIBE = 1
    COMMAND = 2
    ALLOW_RW = 3
    ALLOW_RO = 4
    MEMOP = 5
    EXIT = 6
    ALLOW_USERSPACE_READABLE = 7


class YieldCall(IntEnum):
    """r0 of a yield."""

    NO_WAIT = 0
    WAIT = 1
    WAIT_FOR = 2


class ExitCall(IntEnum):
    """r0 of an exit."""

    TERMINATE = 0
    RESTART = 1


class ReturnVariant(IntEnum):
    """r0 of a syscall return (TRD104 §3.3)."""

    FAILURE = 0
    FAILURE_U32 = 1
    FAILURE_2_U32 = 2
    FAILURE_U64 = 3
    SUCCESS = 128
    SUCCESS_U32 = 129
    SUCCESS_2_U32 = 130
    SUCCESS_U64 = 131
    SUCCESS_3_U32 = 132
    SUCCESS_U32_U64 = 133


class ErrorCode(IntEnum):
    """Tock's ErrorCode (kernel/src/errorcode.rs). 0 means success in a StatusCode."""

    FAIL = 1
    BUSY = 2
    ALREADY = 3
    OFF = 4
    RESERVE = 5
    INVAL = 6
    SIZE = 7
    CANCEL = 8
    NOMEM = 9
    NOSUPPORT = 10
    NODEVICE = 11
    UNINSTALLED = 12
    NOACK = 13
    BADRVAL = 1024


class Memop(IntEnum):
    """r0 of a memop (kernel/src/memop.rs)."""

    BRK = 0
    SBRK = 1
    MEM_START = 2
    MEM_END = 3
    FLASH_START = 4
    FLASH_END = 5
    GRANT_START = 6
    FLASH_REGIONS = 7
    FLASH_REGION_START = 8
    FLASH_REGION_END = 9
    STACK_TOP_HINT = 10
    HEAP_START_HINT = 11


class DriverNum(IntEnum):
    """Driver numbers of the capsules tockd ships (capsules/core/src/driver.rs)."""

    ALARM = 0x00000
    CONSOLE = 0x00001
    LED = 0x00002
    BUTTON = 0x00003
    IPC = 0x10000
    RNG = 0x40001


# The per-process upcall queue: CALLBACK_LEN = 10 slots of a ring buffer whose `is_full`
# is `head == (tail + 1) % len` (kernel/src/collections/ring_buffer.rs, release-2.2): one
# slot stays empty, so it holds 9 tasks and the 10th enqueue fails.
UPCALL_QUEUE_LEN = 10
UPCALL_QUEUE_CAPACITY = UPCALL_QUEUE_LEN - 1

# Wire frame tags: app -> kernel frames are `[class, r0, r1, r2, r3]` (class 0..7) or a
# runtime report `[REPORT, kind, ...]`; kernel -> app frames start with a tag below.
FRAME_RETURN = 0  # [0, r0, r1, r2, r3]: the registers a syscall returns
FRAME_UPCALL = 1  # [1, fnptr, arg0, arg1, arg2, appdata]: run an upcall inside yield
FRAME_BOOT = 2  # [2, descriptor]: who you are, where your memory is (sent once, first)
FRAME_MPU = 3  # [3, [[start, end, perms], ...], n]: the MPU configuration, on context
# switch, after n page messages queued on the app's memory socket (tockd/memmap.py)
#: the most page fds one memory-socket message carries (SCM_MAX_FD is 253)
PAGE_FDS_MAX = 250
REPORT = 0xF0  # app -> kernel: [REPORT, kind, detail...], the runtime reporting a fault


class ReportKind(IntEnum):
    """What an app runtime reports about itself (its own fault)."""

    EXCEPTION = 1  # [REPORT, 1, text]: main() or an upcall raised
    MPU_FAULT = 2  # [REPORT, 2, address, length, access, text]: a checked access failed
