"""Tock's syscall ABI numbers, as the kernel names them: the contract's
(tockd/contract/abi.py), re-exported so the kernel and its capsules keep one import.

The numbers live in the contract, the leaf both the kernel and the app library
(`apps_py.libtock`) import, so an app never loads kernel code to learn them.
"""

from __future__ import annotations

from tockd.contract.abi import (
    FRAME_BOOT,
    FRAME_MPU,
    FRAME_RETURN,
    FRAME_UPCALL,
    PAGE_FDS_MAX,
    REPORT,
    UPCALL_QUEUE_CAPACITY,
    UPCALL_QUEUE_LEN,
    DriverNum,
    ErrorCode,
    ExitCall,
    Memop,
    ReportKind,
    ReturnVariant,
    SyscallClass,
    YieldCall,
)

__all__ = [
    "FRAME_BOOT",
    "FRAME_MPU",
    "FRAME_RETURN",
    "FRAME_UPCALL",
    "PAGE_FDS_MAX",
    "REPORT",
    "UPCALL_QUEUE_CAPACITY",
    "UPCALL_QUEUE_LEN",
    "DriverNum",
    "ErrorCode",
    "ExitCall",
    "Memop",
    "ReportKind",
    "ReturnVariant",
    "SyscallClass",
    "YieldCall",
]
