"""A tiny classic-BPF assembler for seccomp filters.

A filter is a list of `Rule`s (a syscall by name, tests of its arguments, an action),
assembled for one `Machine` into the bytes seccomp(2) loads: a wrong architecture or
ABI is killed first, then each rule in order, then a default action. seccomp_rules.py
holds the rules, seccomp.py this machine's syscall table and the loading.

Written here rather than taken from libseccomp, so the runtime stays stdlib + msgpack:
libseccomp's own Python bindings are not published on PyPI, and the ctypes wrapper
`pyseccomp` (last release 2021) would add a system library dependency for little.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from apps_py.libtock.sandbox_error import SandboxError

# seccomp return actions (linux/seccomp.h)
RET_KILL_PROCESS = 0x8000_0000
RET_ERRNO = 0x0005_0000
RET_ALLOW = 0x7FFF_0000

# classic BPF opcodes (linux/filter.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
_NR_OFFSET = 0
_ARCH_OFFSET = 4
_ARGS_OFFSET = 16


@dataclass(frozen=True)
class Machine:
    """What a seccomp filter must know about one architecture."""

    name: str
    audit_arch: int
    seccomp_nr: int
    syscalls: Mapping[str, int]
    #: syscall numbers at or above this belong to another ABI (x32) and are refused
    abi_limit: int


@dataclass(frozen=True)
class Arg:
    """A test of the low 32 bits of syscall argument `index` (the kernel reads int
    arguments such as fds and pids from those bits): equal to one of `values`, or, with
    `bits`, having any of those bits set."""

    index: int
    values: tuple[int, ...] = ()
    bits: int = 0
    high: bool = False  # test the high 32 bits instead


@dataclass(frozen=True)
class Rule:
    """`action` for syscall `name` when every Arg test holds, else `otherwise`."""

    name: str
    action: int
    args: tuple[Arg, ...] = ()
    otherwise: int = RET_KILL_PROCESS


def errno_action(code: int) -> int:
    return RET_ERRNO | (code & 0xFFFF)


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    if not (0 <= jt <= 255 and 0 <= jf <= 255):
        raise SandboxError(f"BPF jump out of range ({jt}, {jf})")
    return struct.pack("<HBBI", code, jt, jf, k & 0xFFFF_FFFF)


def _rule_block(rule: Rule) -> list[bytes]:
    """Instructions that follow `jeq nr`: argument tests, then `ret action`, then
    `ret otherwise`. Every path ends in a ret, so the accumulator may be clobbered."""
    tests: list[tuple[int, int, int, int]] = []  # (code, jt, jf, k) with jf = "to fail"
    for arg in rule.args:
        offset = _ARGS_OFFSET + 8 * arg.index + (4 if arg.high else 0)
        tests.append((_LD_W_ABS, 0, 0, offset))
        if arg.bits:
            tests.append((_JSET_K, 0, -1, arg.bits))
        else:
            last = len(arg.values) - 1
            for i, value in enumerate(arg.values):
                # a match jumps past the remaining alternatives; the last one fails
                tests.append((_JEQ_K, last - i, 0 if i < last else -1, value))
    out: list[bytes] = []
    fail_at = len(tests) + 1  # index of `ret otherwise` inside this block
    for i, (code, jt, jf, k) in enumerate(tests):
        out.append(_insn(code, jt, fail_at - i - 1 if jf == -1 else jf, k))
    out.append(_insn(_RET_K, 0, 0, rule.action))
    if rule.args:
        out.append(_insn(_RET_K, 0, 0, rule.otherwise))
    return out


def assemble(mach: Machine, rules: Sequence[Rule], default: int) -> bytes:
    """A filter: wrong architecture or ABI -> kill; each rule in order; else `default`."""
    prog = [
        _insn(_LD_W_ABS, 0, 0, _ARCH_OFFSET),
        _insn(_JEQ_K, 1, 0, mach.audit_arch),
        _insn(_RET_K, 0, 0, RET_KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, _NR_OFFSET),
        _insn(_JGE_K, 0, 1, mach.abi_limit),
        _insn(_RET_K, 0, 0, RET_KILL_PROCESS),
    ]
    i = 0
    while i < len(rules):
        rule = rules[i]
        # a run of argument-free rules with one action shares a single `ret`: one
        # instruction per syscall (the kernel's cost of loading a filter grows with it)
        run = 1
        while (
            not rule.args
            and i + run < len(rules)
            and run < 255
            and not rules[i + run].args
            and rules[i + run].action == rule.action
        ):
            run += 1
        if run > 1:
            for j in range(run):
                last = j == run - 1
                nr = mach.syscalls[rules[i + j].name]
                prog.append(_insn(_JEQ_K, 0 if last else run - 1 - j, 1 if last else 0, nr))
            prog.append(_insn(_RET_K, 0, 0, rule.action))
        else:
            block = _rule_block(rule)
            prog.append(_insn(_JEQ_K, 0, len(block), mach.syscalls[rule.name]))
            prog.extend(block)
        i += run
    prog.append(_insn(_RET_K, 0, 0, default))
    if len(prog) > 4096:
        raise SandboxError("seccomp filter longer than BPF_MAXINSNS")
    return b"".join(prog)


def jeq_offsets(program: bytes, k: int) -> tuple[int, ...]:
    """Byte offsets of the `k` fields of the program's `jeq k` instructions, in order:
    where a value assembled as a placeholder is patched in later."""
    out: list[int] = []
    for i in range(0, len(program), 8):
        code, _jt, _jf, value = struct.unpack_from("<HBBI", program, i)
        if code == _JEQ_K and value == k:
            out.append(i + 4)
    return tuple(out)
