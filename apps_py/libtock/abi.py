"""Tock's ABI numbers for apps: the same IntEnums the kernel uses, from the contract
(tockd/contract/abi.py), which loads no kernel code."""

from tockd.contract.abi import (
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
