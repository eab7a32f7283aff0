"""The text of a syscall return, as Tock's trace prints it: Rust's derived `{:?}` of
release-2.2's `SyscallReturn` (`kernel/src/syscall.rs`; docs/trace.md).

The kernel's own returns use it (tockd/kernel/syscall.py, tockd/kernel/kernel.py), and
so does a client that rebuilds a return's text from its registers (tockd/records.py, the
dashboard): it is part of the contract (tockd/contract/__init__.py), so a client loads
no kernel code and the kernel imports nothing above it. Imports only the standard
library and `tockd.contract.abi`.
"""

from __future__ import annotations

from collections.abc import Sequence

from tockd.contract.abi import ErrorCode, Memop, ReturnVariant, SyscallClass

_WORD_BITS = 32

# ---- Rust's derived Debug of release-2.2's SyscallReturn (kernel/src/syscall.rs:387) -----
#
# How a field of a return prints, one letter per Debug field. Each takes one register,
# except FIELD_U64, which takes two (low word, then high word, as arch_helpers.rs puts
# a u64 in registers on a 32-bit platform) and prints whole, as Debug prints a `u64`.
FIELD_PTR = "x"  # a raw pointer: `0x40010a00`, `0x0`
FIELD_DEC = "d"  # a u32 or usize: decimal
FIELD_ERR = "e"  # an ErrorCode: its name (errorcode.rs derives Debug)
FIELD_U64 = "q"  # a u64 in two registers: decimal, whole
# a CapabilityPtr derives Debug around a `*const ()` (utilities/capability_ptr.rs:29)
FIELD_CAP = "c"  # `CapabilityPtr { ptr: 0x40010a00 }`

_ERROR_NAMES = {int(e): e.name for e in ErrorCode}

# the Debug names of the three allow classes' returns, by syscall class
ALLOW_NAMES: dict[int, str] = {
    SyscallClass.ALLOW_RW: "AllowReadWrite",
    SyscallClass.ALLOW_RO: "AllowReadOnly",
    SyscallClass.ALLOW_USERSPACE_READABLE: "UserspaceReadableAllow",
}


def field_registers(fmt: str) -> int:
    """How many registers the fields `fmt` take."""
    return len(fmt) + fmt.count(FIELD_U64)


def debug_text(name: str, fmt: str, registers: Sequence[int]) -> str:
    """Rust's derived `{:?}` of a `SyscallReturn` variant `name` whose fields, printed as
    `fmt` says, are in `registers` (r1 onwards)."""
    if not fmt:
        return name
    parts: list[str] = []
    regs = iter(registers)
    for kind in fmt:
        value = next(regs)
        if kind == FIELD_U64:
            value |= next(regs) << _WORD_BITS
        parts.append(_field_text(kind, value))
    return f"{name}({', '.join(parts)})"


def _field_text(kind: str, value: int) -> str:
    if kind == FIELD_PTR:
        return f"{value:#x}"
    if kind == FIELD_CAP:
        return f"CapabilityPtr {{ ptr: {value:#x} }}"
    if kind == FIELD_ERR:
        return _ERROR_NAMES.get(value, str(value))
    return str(value)  # FIELD_DEC, FIELD_U64


# ---- a return's text from its call and registers -----------------------------------------

_D, _X, _E, _Q, _C = FIELD_DEC, FIELD_PTR, FIELD_ERR, FIELD_U64, FIELD_CAP

# Debug names and fields of the generic returns, as tockd/kernel/syscall.py builds them
# (release-2.2 kernel/src/syscall.rs: `u32`s decimal, a `u64` whole from two registers)
_GENERIC: dict[int, tuple[str, str]] = {
    ReturnVariant.FAILURE: ("Failure", _E),
    ReturnVariant.FAILURE_U32: ("FailureU32", _E + _D),
    ReturnVariant.FAILURE_2_U32: ("FailureU32U32", _E + _D + _D),
    ReturnVariant.FAILURE_U64: ("FailureU64", _E + _Q),
    ReturnVariant.SUCCESS: ("Success", ""),
    ReturnVariant.SUCCESS_U32: ("SuccessU32", _D),
    ReturnVariant.SUCCESS_2_U32: ("SuccessU32U32", _D + _D),
    ReturnVariant.SUCCESS_U64: ("SuccessU64", _Q),
    ReturnVariant.SUCCESS_3_U32: ("SuccessU32U32U32", _D * 3),
    ReturnVariant.SUCCESS_U32_U64: ("SuccessU32U64", _D + _Q),
}
# subscribe and the allows name their own two returns (and print the pointer in hex)
_OWN_NAMES = {SyscallClass.SUBSCRIBE: "Subscribe", **ALLOW_NAMES}
# What a memop's SuccessU32 on the wire was in the kernel: release-2.2 kernel/src/memop.rs
# returns SuccessPtr for sbrk (line 56), the memory and flash bounds (60-101) and a
# writeable region's bounds (116-143), SuccessAddr for the grant start (104) and
# SuccessU32 for the region count (107); arch_helpers.rs encodes all three as SuccessU32.
_SUCCESS_PTR = ("SuccessPtr", _C)
_MEMOP_U32: dict[int, tuple[str, str]] = {
    Memop.SBRK: _SUCCESS_PTR,
    Memop.MEM_START: _SUCCESS_PTR,
    Memop.MEM_END: _SUCCESS_PTR,
    Memop.FLASH_START: _SUCCESS_PTR,
    Memop.FLASH_END: _SUCCESS_PTR,
    Memop.GRANT_START: ("SuccessAddr", _D),
    Memop.FLASH_REGIONS: ("SuccessU32", _D),
    Memop.FLASH_REGION_START: _SUCCESS_PTR,
    Memop.FLASH_REGION_END: _SUCCESS_PTR,
}


def ret_text(call: Sequence[int], registers: Sequence[int] | None) -> str | None:
    """The trace text of a return (what `SyscallReturn.debug()` gives), from the call
    frame `[class, r0, r1, r2, r3]` and the return's registers; None for a yield, which
    returns nothing. The call is needed because the wire does not tell every variant
    apart: a memop's SuccessU32 may have been a SuccessPtr or a SuccessAddr."""
    cls = call[0]
    if registers is None:
        return "None" if cls == SyscallClass.EXIT else None
    variant, r1, r2, r3 = registers
    named = _name_and_fields(cls, call[1], variant)
    if named is None:
        return f"Unknown({variant}, {r1}, {r2}, {r3})"
    text = debug_text(*named, (r1, r2, r3))
    # 2.2 prints an exit's Option<SyscallReturn> (kernel.rs, the exit arm)
    return f"Some({text})" if cls == SyscallClass.EXIT else text


def _name_and_fields(cls: int, r0: int, variant: int) -> tuple[str, str] | None:
    own = _OWN_NAMES.get(cls)
    if own is not None and variant == ReturnVariant.SUCCESS_2_U32:
        return f"{own}Success", _X + _D
    if own is not None and variant == ReturnVariant.FAILURE_2_U32:
        return f"{own}Failure", _E + _X + _D
    if cls == SyscallClass.MEMOP and variant == ReturnVariant.SUCCESS_U32:
        return _MEMOP_U32.get(r0, _GENERIC[variant])
    return _GENERIC.get(variant)
