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

The trace text is Rust's derived `{:?}` of the enum: fields in parentheses, integers in
decimal (`u32`, `u64`, `usize`), raw pointers as `0x…`, an `ErrorCode` by name, and a
`CapabilityPtr` (a struct deriving Debug around a `*const ()`, release-2.2
`kernel/src/utilities/capability_ptr.rs`) as `CapabilityPtr { ptr: 0x… }`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tockd.kernel.abi import ErrorCode, ReturnVariant

_U32 = 0xFFFF_FFFF
_WORD_BITS = 32

# How a field of a return prints (one letter per Debug field, in `SyscallReturn.fmt`).
# Each takes one register, except FIELD_U64, which takes two (low word, then high word).
FIELD_PTR = "x"  # a raw pointer: `0x40010a00`, `0x0`
FIELD_DEC = "d"  # a u32 or usize: decimal
FIELD_ERR = "e"  # an ErrorCode: its name
FIELD_U64 = "q"  # a u64 in two registers: decimal, whole
FIELD_CAP = "c"  # a CapabilityPtr: `CapabilityPtr { ptr: 0x40010a00 }`

_ERROR_NAMES = {int(e): e.name for e in ErrorCode}


def field_registers(fmt: str) -> int:
    """How many registers the fields `fmt` take."""
    return len(fmt) + fmt.count(FIELD_U64)


def debug_text(name: str, fmt: str, registers: Sequence[int]) -> str:
    """Rust's derived `{:?}` of a `SyscallReturn` variant `name` whose fields, printed as
    `fmt` says, are in `registers` (r1 onwards). Shared by the kernel's own returns and by
    clients that rebuild the text from the registers alone (tockd/records.py)."""
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


# the Debug names of the three allow classes' returns, by syscall class
ALLOW_NAMES = {
    3: "AllowReadWrite",
    4: "AllowReadOnly",
    7: "UserspaceReadableAllow",
}


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
