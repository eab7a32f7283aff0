"""Tock's ABI numbers for apps: the same IntEnums the kernel uses (tockd/kernel/abi.py)."""

from tockd.kernel.abi import (
    DriverNum,
    ErrorCode,
    ExitCall,
    Memop,
    ReturnVariant,
    SyscallClass,
    YieldCall,
)

__all__ = [
    "DriverNum",
    "ErrorCode",
    "ExitCall",
    "Memop",
    "ReturnVariant",
    "SyscallClass",
    "YieldCall",
]
