"""Syscall return values: the kernel-internal variants and their TRD104 register encoding.

`SyscallReturn` mirrors release-2.2's `SyscallReturn` enum (`kernel/src/syscall.rs`): a
Debug name and the text of its fields (what the syscall trace prints, e.g.
`SubscribeSuccess(0x0, 0)`), the TRD104 variant number that goes in r0, and the values
for r1..r3 as a 32-bit platform encodes them (`kernel/src/utilities/arch_helpers.rs`,
release-2.2):

- subscribe and allow have their own names but share the generic encodings (130 for
  success, 2 for failure);
- `SuccessPtr` (a `CapabilityPtr`) and `SuccessAddr` (a `usize`) have no TRD104 variant
  of their own: both go out as `SuccessU32` (129). Only the trace tells them apart;
- a 64-bit value is split low word first (`u64_to_be_u32s`, then `*a1 = lsb; *a2 = msb`),
  but the trace prints it whole, as Rust's derived Debug prints a `u64`.

The trace text is Rust's derived `{:?}` of the enum, which `tockd.contract.returns.debug_text`
writes from a return's fields (one FIELD_* letter each).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# the Debug formatting is part of the contract: a client rebuilds return texts with it
# without loading kernel code (tests/tui/test_boundary.py)
from tockd.contract.returns import (
    ALLOW_NAMES,
    FIELD_CAP,
    FIELD_DEC,
    FIELD_ERR,
    FIELD_PTR,
    FIELD_U64,
    debug_text,
    field_registers,
)
from tockd.kernel.abi import ErrorCode, ReturnVariant

_U32 = 0xFFFF_FFFF
_WORD_BITS = 32


@dataclass(frozen=True, slots=True)
class SyscallReturn:
    """A syscall's result: `name` for the trace, `variant` for r0, `values` for r1..r3.

    `fmt` says how the trace prints the fields, one FIELD_* letter each; a 64-bit field
    takes two of `values` (low word, high word), as it takes two registers.
    """

    name: str
    variant: ReturnVariant
    values: tuple[int, ...] = ()
    fmt: str = ""
    _registers: tuple[int, int, int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if field_registers(self.fmt) != len(self.values):
            raise ValueError(f"{self.name}: fields {self.fmt!r} do not fit {self.values!r}")
        v = (*self.values, 0, 0, 0)
        registers = (int(self.variant), v[0] & _U32, v[1] & _U32, v[2] & _U32)
        object.__setattr__(self, "_registers", registers)

    def registers(self) -> tuple[int, int, int, int]:
        """r0..r3 as TRD104 encodes this return (one tuple per return value, so a
        constant return such as `SUCCESS` always gives the same tuple)."""
        return self._registers

    @property
    def is_success(self) -> bool:
        return self.variant >= ReturnVariant.SUCCESS

    def debug(self) -> str:
        """Rust `{:?}` of the return, as release-2.2's syscall trace prints it."""
        return debug_text(self.name, self.fmt, self._registers[1:])


def _split_u64(v: int) -> tuple[int, int]:
    """(low word, high word) of a u64, the order arch_helpers.rs puts them in registers."""
    return v & _U32, (v >> _WORD_BITS) & _U32


SUCCESS = SyscallReturn("Success", ReturnVariant.SUCCESS)

_D, _X, _E, _Q, _C = FIELD_DEC, FIELD_PTR, FIELD_ERR, FIELD_U64, FIELD_CAP


def success_u32(v: int) -> SyscallReturn:
    return SyscallReturn("SuccessU32", ReturnVariant.SUCCESS_U32, (v,), _D)


def success_2u32(a: int, b: int) -> SyscallReturn:
    return SyscallReturn("SuccessU32U32", ReturnVariant.SUCCESS_2_U32, (a, b), _D + _D)


def success_3u32(a: int, b: int, c: int) -> SyscallReturn:
    return SyscallReturn("SuccessU32U32U32", ReturnVariant.SUCCESS_3_U32, (a, b, c), _D * 3)


def success_u64(v: int) -> SyscallReturn:
    return SyscallReturn("SuccessU64", ReturnVariant.SUCCESS_U64, _split_u64(v), _Q)


def success_u32_u64(a: int, b: int) -> SyscallReturn:
    return SyscallReturn(
        "SuccessU32U64", ReturnVariant.SUCCESS_U32_U64, (a, *_split_u64(b)), _D + _Q
    )


def success_ptr(address: int) -> SyscallReturn:
    """`SuccessPtr(CapabilityPtr)`: an address that grants the process access (memop's
    memory and flash bounds, sbrk's old break). Encoded as SuccessU32 on a 32-bit
    platform (arch_helpers.rs, release-2.2)."""
    return SyscallReturn("SuccessPtr", ReturnVariant.SUCCESS_U32, (address,), _C)


def success_addr(address: int) -> SyscallReturn:
    """`SuccessAddr(usize)`: an address that grants nothing (memop's grant start).
    Encoded as SuccessU32; its Debug is a plain decimal usize."""
    return SyscallReturn("SuccessAddr", ReturnVariant.SUCCESS_U32, (address,), _D)


def failure(err: ErrorCode) -> SyscallReturn:
    return SyscallReturn("Failure", ReturnVariant.FAILURE, (int(err),), _E)


def failure_u32(err: ErrorCode, v: int) -> SyscallReturn:
    return SyscallReturn("FailureU32", ReturnVariant.FAILURE_U32, (int(err), v), _E + _D)


def failure_2u32(err: ErrorCode, a: int, b: int) -> SyscallReturn:
    return SyscallReturn(
        "FailureU32U32", ReturnVariant.FAILURE_2_U32, (int(err), a, b), _E + _D + _D
    )


def failure_u64(err: ErrorCode, v: int) -> SyscallReturn:
    return SyscallReturn(
        "FailureU64", ReturnVariant.FAILURE_U64, (int(err), *_split_u64(v)), _E + _Q
    )


def subscribe_success(fnptr: int, appdata: int) -> SyscallReturn:
    return SyscallReturn("SubscribeSuccess", ReturnVariant.SUCCESS_2_U32, (fnptr, appdata), _X + _D)


def subscribe_failure(err: ErrorCode, fnptr: int, appdata: int) -> SyscallReturn:
    return SyscallReturn(
        "SubscribeFailure", ReturnVariant.FAILURE_2_U32, (int(err), fnptr, appdata), _E + _X + _D
    )


def allow_success(cls: int, ptr: int, length: int) -> SyscallReturn:
    """Success of allow class `cls` (3, 4 or 7), returning the previous buffer."""
    return SyscallReturn(
        f"{ALLOW_NAMES[cls]}Success", ReturnVariant.SUCCESS_2_U32, (ptr, length), _X + _D
    )


def allow_failure(cls: int, err: ErrorCode, ptr: int, length: int) -> SyscallReturn:
    """Failure of allow class `cls`, echoing the buffer that was passed in."""
    return SyscallReturn(
        f"{ALLOW_NAMES[cls]}Failure",
        ReturnVariant.FAILURE_2_U32,
        (int(err), ptr, length),
        _E + _X + _D,
    )
