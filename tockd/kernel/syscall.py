"""Syscall return values: the kernel-internal variants and their TRD104 register encoding.

`SyscallReturn` mirrors Tock's `SyscallReturn` enum: a Debug name (what the syscall trace
prints, e.g. `SubscribeSuccess(0x0, 0)`), the TRD104 variant number that goes in r0, and
the values for r1..r3. Subscribe and allow have their own names but share the generic
encodings (130 for success, 2 for failure), exactly as in `utilities/arch_helpers.rs`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tockd.kernel.abi import ErrorCode, ReturnVariant

_U32 = 0xFFFF_FFFF


@dataclass(frozen=True, slots=True)
class SyscallReturn:
    """A syscall's result: `name` for the trace, `variant` for r0, `values` for r1..r3.

    `fmt` says how the trace prints each value: "x" = pointer (`0x…`), "d" = decimal,
    "e" = an ErrorCode name.
    """

    name: str
    variant: ReturnVariant
    values: tuple[int, ...] = ()
    fmt: str = ""
    _registers: tuple[int, int, int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
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
        """Rust `{:?}` of the return, as Tock's syscall trace prints it."""
        if not self.values:
            return self.name
        parts = []
        for value, kind in zip(self.values, self.fmt, strict=True):
            if kind == "x":
                parts.append(f"{value:#x}")
            elif kind == "e":
                parts.append(ErrorCode(value).name)
            else:
                parts.append(str(value))
        return f"{self.name}({', '.join(parts)})"


SUCCESS = SyscallReturn("Success", ReturnVariant.SUCCESS)


def success_u32(v: int) -> SyscallReturn:
    return SyscallReturn("SuccessU32", ReturnVariant.SUCCESS_U32, (v,), "d")


def success_2u32(a: int, b: int) -> SyscallReturn:
    return SyscallReturn("SuccessU32U32", ReturnVariant.SUCCESS_2_U32, (a, b), "dd")


def success_3u32(a: int, b: int, c: int) -> SyscallReturn:
    return SyscallReturn("SuccessU32U32U32", ReturnVariant.SUCCESS_3_U32, (a, b, c), "ddd")


def success_u64(v: int) -> SyscallReturn:
    return SyscallReturn(
        "SuccessU64", ReturnVariant.SUCCESS_U64, (v & _U32, (v >> 32) & _U32), "dd"
    )


def success_u32_u64(a: int, b: int) -> SyscallReturn:
    return SyscallReturn(
        "SuccessU32U64", ReturnVariant.SUCCESS_U32_U64, (a, b & _U32, (b >> 32) & _U32), "ddd"
    )


def failure(err: ErrorCode) -> SyscallReturn:
    return SyscallReturn("Failure", ReturnVariant.FAILURE, (int(err),), "e")


def failure_u32(err: ErrorCode, v: int) -> SyscallReturn:
    return SyscallReturn("FailureU32", ReturnVariant.FAILURE_U32, (int(err), v), "ed")


def failure_2u32(err: ErrorCode, a: int, b: int) -> SyscallReturn:
    return SyscallReturn("FailureU32U32", ReturnVariant.FAILURE_2_U32, (int(err), a, b), "edd")


def failure_u64(err: ErrorCode, v: int) -> SyscallReturn:
    return SyscallReturn(
        "FailureU64", ReturnVariant.FAILURE_U64, (int(err), v & _U32, (v >> 32) & _U32), "edd"
    )


def subscribe_success(fnptr: int, appdata: int) -> SyscallReturn:
    return SyscallReturn("SubscribeSuccess", ReturnVariant.SUCCESS_2_U32, (fnptr, appdata), "xd")


def subscribe_failure(err: ErrorCode, fnptr: int, appdata: int) -> SyscallReturn:
    return SyscallReturn(
        "SubscribeFailure", ReturnVariant.FAILURE_2_U32, (int(err), fnptr, appdata), "exd"
    )


_ALLOW_NAMES = {
    3: "AllowReadWrite",
    4: "AllowReadOnly",
    7: "UserspaceReadableAllow",
}


def allow_success(cls: int, ptr: int, length: int) -> SyscallReturn:
    """Success of allow class `cls` (3, 4 or 7), returning the previous buffer."""
    return SyscallReturn(
        f"{_ALLOW_NAMES[cls]}Success", ReturnVariant.SUCCESS_2_U32, (ptr, length), "xd"
    )


def allow_failure(cls: int, err: ErrorCode, ptr: int, length: int) -> SyscallReturn:
    """Failure of allow class `cls`, echoing the buffer that was passed in."""
    return SyscallReturn(
        f"{_ALLOW_NAMES[cls]}Failure", ReturnVariant.FAILURE_2_U32, (int(err), ptr, length), "exd"
    )
