"""Board files: a TOML description of RAM, MPU, scheduler, kernel mode and apps.

    [board]
    name = "hello"
    description = "one app that prints and exits"   # one line, for `tockd boards`
    ram_size = 65536          # bytes of physical RAM (a multiple of 4096)
    ram_base = 0x20000000
    mpu = "cortex-m"          # cortex-m | riscv-pmp | ideal
    scheduler = "round-robin"
    timeslice_us = 10000
    kernel_mode = "tock"      # tock | hardened
    leds = 4
    buttons = 2
    seed = 0
    uart_baud = 115200        # console speed; 0 = writes complete at once
    process_slots = 0         # NUM_PROCS for IPC; 0 = one per app
    abi_echo = false          # the ABI test driver 0xA0000 (tests only)
    bulk = false              # the bulk transfer driver 0xA0001 (bench/zero_copy.py)
    cpu = "auto"              # the core of the daemon and all apps: N | "auto" | "off"
    spawn = "zygote"          # fork apps from a warm zygote, or "cold": fresh interpreters

    [kernel.hardened]         # each fix of `hardened` mode as a named switch
    keep_high_water_mark = true
    zero_on_restart = true

    [[apps]]
    name = "org.tockos.examples.hello"   # the TBF package name
    module = "apps_py.hello"             # a Python module with main()
    ram = 4096                            # minimum RAM (TBF minimum_ram_size)
    stack = 1024
    fault_policy = "stop"                # stop | restart | panic
    restart_threshold = 3                # with restart: then stop
    ipc_service = false                  # a declared IPC service (hardened allowlist)
    rodata = ["org.tockos.examples.rot13"]  # read-only data in the app's flash, UTF-8,
                                         # no NUL added (docs/memory.md)
    [apps.sandbox]                       # this app's overrides of [sandbox]
    cpu_seconds = 5

    [sandbox]                 # OS limits of every app (apps_py/libtock/sandbox.py)
    address_space_mb = 256    # RLIMIT_AS beyond the board's RAM; 0: no limit
    cpu_seconds = 600         # RLIMIT_CPU of one incarnation; 0: no limit
    open_files = 64           # RLIMIT_NOFILE; 0: keep the daemon's
    fork = false              # may apps start processes or exec programs
    threads = false           # may apps start threads (a Tock process has one)
    seccomp = false           # strict syscall allow-list before main()

`build_kernel` assembles a Kernel from it, as a Tock board's main.rs does.

The example boards ship with the package, as `tockd/boards/*.toml` (in the repository a
link to `configs/`): `shipped_boards` lists them and `board_path` turns what the command
line names into a file, so `tockd run demo` runs the shipped `demo.toml` wherever tockd
is installed, while a path to a file (`tockd run ./mine.toml`) is always that file.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps_py.libtock import sandbox as libtock_sandbox
from apps_py.libtock import seccomp as libtock_seccomp
from tockd.capsules.abi_echo import AbiEcho
from tockd.capsules.alarm import Alarm
from tockd.capsules.bulk import Bulk
from tockd.capsules.button import Button
from tockd.capsules.console import Console
from tockd.capsules.ipc import HARDENED as _IPC_HARDENED
from tockd.capsules.ipc import Ipc
from tockd.capsules.led import Led
from tockd.capsules.rng import Rng
from tockd.kernel.kernel import Kernel
from tockd.kernel.memory import PhysicalRAM
from tockd.kernel.mpu import make_mpu
from tockd.kernel.process import AppSpec, FaultPolicy, Process

IPC_SWITCHES = tuple(_IPC_HARDENED)
#: every fix of `hardened` mode; `kernel_mode = "hardened"` turns them all on
#: the kernel's own switches (tockd/kernel/kernel.py), with the flaw each one fixes
KERNEL_SWITCHES = {
    "keep_high_water_mark": "flaw 8: a restart revokes the windows other processes hold "
    "into the process, and while any window is open no grant is placed below its end",
    "zero_on_restart": "stale grant memory: a restart zeroes the process's RAM block, so "
    "the next life cannot grow its break over the previous life's grants and read them",
}
HARDENED_SWITCHES = (*KERNEL_SWITCHES, *IPC_SWITCHES)


class BoardError(Exception):
    """A board file that cannot be used; the message says which key and why."""


@dataclass
class BoardConfig:
    name: str = "board"
    description: str = ""
    ram_size: int = 64 * 1024
    ram_base: int = 0x2000_0000
    mpu: str = "cortex-m"
    scheduler: str = "round-robin"
    timeslice_us: int = 10_000
    kernel_mode: str = "tock"
    hardened: dict[str, bool] = field(default_factory=dict)
    leds: int = 4
    buttons: int = 2
    seed: int = 0
    abi_echo: bool = False
    bulk: bool = False
    cpu: int | str = "auto"  # a core number, "auto" or "off" (tockd.daemon.resolve_cpu)
    spawn: str = "zygote"  # zygote | cold
    process_slots: int = 0  # NUM_PROCS; 0 = as many as apps
    uart_baud: int = 115200
    apps: list[AppSpec] = field(default_factory=list)
    source: str = ""  # the file's text, for its digest
    sandbox: dict[str, int | bool] = field(default_factory=lambda: dict(libtock_sandbox.DEFAULTS))
    app_sandbox: dict[int, dict[str, int | bool]] = field(default_factory=dict)

    def sandbox_for(self, index: int) -> dict[str, int | bool]:
        """The sandbox settings of app `index` (its overrides, else the board's)."""
        return dict(self.app_sandbox.get(index, self.sandbox))

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]


def _int(section: dict[str, Any], key: str, default: int, where: str) -> int:
    value = section.get(key, default)
    if type(value) is not int or value < 0:
        raise BoardError(f"{where}.{key} must be a non-negative integer, got {value!r}")
    return value


#: below these an app's Python interpreter cannot start (measured: ~20 MiB, 5 fds)
MIN_ADDRESS_SPACE_MB = 32
MIN_OPEN_FILES = 8


def _sandbox(table: Any, base: dict[str, int | bool], where: str) -> dict[str, int | bool]:
    """Validate a [sandbox] table laid over `base`."""
    if not isinstance(table, dict):
        raise BoardError(f"{where} must be a table")
    out = dict(base)
    for key, value in table.items():
        default = libtock_sandbox.DEFAULTS.get(key)
        if default is None:
            known = ", ".join(libtock_sandbox.DEFAULTS)
            raise BoardError(f"{where}.{key}: unknown setting (known: {known})")
        if type(default) is bool and type(value) is not bool:
            raise BoardError(f"{where}.{key} must be true or false, got {value!r}")
        if type(default) is int and (type(value) is not int or value < 0):
            raise BoardError(f"{where}.{key} must be a non-negative integer, got {value!r}")
        out[key] = value
    if 0 < out["address_space_mb"] < MIN_ADDRESS_SPACE_MB:
        raise BoardError(
            f"{where}.address_space_mb = {out['address_space_mb']} is too small for a Python "
            f"app (at least {MIN_ADDRESS_SPACE_MB}, or 0 for no limit)"
        )
    if 0 < out["open_files"] < MIN_OPEN_FILES:
        raise BoardError(
            f"{where}.open_files = {out['open_files']} is too small for a Python app "
            f"(at least {MIN_OPEN_FILES}, or 0 for no limit)"
        )
    if out["seccomp"] and libtock_seccomp.machine() is None:
        raise BoardError(
            f"{where}.seccomp: tockd has no seccomp syscall table for this machine "
            f"(known: {', '.join(libtock_seccomp.MACHINES)})"
        )
    return out


def parse_board(text: str, *, where: str = "board file") -> BoardConfig:
    """Parse and validate a board file's text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{where}: not valid TOML: {e}") from None
    cfg = BoardConfig(source=text)
    _parse_board_table(data.get("board", {}), cfg)
    cfg.hardened = _switches(data.get("kernel", {}).get("hardened", {}), cfg.kernel_mode)
    apps = data.get("apps", [])
    if not isinstance(apps, list):
        raise BoardError("apps must be an array of tables ([[apps]])")
    cfg.sandbox = _sandbox(data.get("sandbox", {}), cfg.sandbox, "sandbox")
    for i, app in enumerate(apps):
        cfg.apps.append(_app_spec(app, f"apps[{i}]"))
        if "sandbox" in app:
            cfg.app_sandbox[i] = _sandbox(app["sandbox"], cfg.sandbox, f"apps[{i}].sandbox")
    return cfg


def _parse_board_table(board: dict[str, Any], cfg: BoardConfig) -> None:
    """The [board] table, into `cfg`."""
    cfg.name = str(board.get("name", "board"))
    cfg.description = str(board.get("description", ""))
    cfg.ram_size = _int(board, "ram_size", cfg.ram_size, "board")
    cfg.ram_base = _int(board, "ram_base", cfg.ram_base, "board")
    cfg.mpu = str(board.get("mpu", cfg.mpu))
    cfg.scheduler = str(board.get("scheduler", cfg.scheduler))
    cfg.timeslice_us = _int(board, "timeslice_us", cfg.timeslice_us, "board")
    cfg.kernel_mode = str(board.get("kernel_mode", cfg.kernel_mode))
    if cfg.kernel_mode not in ("tock", "hardened"):
        raise BoardError(f"board.kernel_mode must be 'tock' or 'hardened', got {cfg.kernel_mode!r}")
    cfg.leds = _int(board, "leds", cfg.leds, "board")
    cfg.buttons = _int(board, "buttons", cfg.buttons, "board")
    cfg.seed = _int(board, "seed", cfg.seed, "board")
    cfg.abi_echo = bool(board.get("abi_echo", False))
    cfg.bulk = bool(board.get("bulk", False))
    cfg.cpu = board.get("cpu", cfg.cpu)
    if cfg.cpu not in ("auto", "off") and (type(cfg.cpu) is not int or cfg.cpu < 0):
        raise BoardError(f'board.cpu must be a CPU number, "auto" or "off", got {cfg.cpu!r}')
    cfg.spawn = str(board.get("spawn", cfg.spawn))
    if cfg.spawn not in ("zygote", "cold"):
        raise BoardError(f"board.spawn must be 'zygote' or 'cold', got {cfg.spawn!r}")
    cfg.process_slots = _int(board, "process_slots", 0, "board")
    cfg.uart_baud = _int(board, "uart_baud", cfg.uart_baud, "board")


def _switches(given: dict[str, Any], kernel_mode: str) -> dict[str, bool]:
    """Every hardened switch: on in `hardened` mode, off in `tock`, then [kernel.hardened]."""
    switches = dict.fromkeys(HARDENED_SWITCHES, kernel_mode == "hardened")
    for key, value in given.items():
        if key not in HARDENED_SWITCHES:
            raise BoardError(
                f"kernel.hardened.{key}: unknown switch (known: {', '.join(HARDENED_SWITCHES)})"
            )
        switches[key] = bool(value)
    return switches


def _app_spec(app: dict[str, Any], w: str) -> AppSpec:
    """One [[apps]] table."""
    if "name" not in app or "module" not in app:
        raise BoardError(f"{w} needs a name (package name) and a module")
    try:
        policy = FaultPolicy(app.get("fault_policy", "stop"))
    except ValueError:
        raise BoardError(
            f"{w}.fault_policy must be stop, restart or panic, got {app['fault_policy']!r}"
        ) from None
    threshold = app.get("restart_threshold")
    if threshold is not None and (type(threshold) is not int or threshold < 0):
        raise BoardError(f"{w}.restart_threshold must be a non-negative integer")
    return AppSpec(
        name=str(app["name"]),
        module=str(app["module"]),
        ram=_int(app, "ram", 4096, w),
        stack=_int(app, "stack", 1024, w),
        flash=_int(app, "flash", 16 * 1024, w),
        fault_policy=policy,
        restart_threshold=threshold,
        ipc_service=bool(app.get("ipc_service", False)),
        rodata=_rodata(app, w),
        args=dict(app.get("args", {})),
    )


def _rodata(app: dict[str, Any], where: str) -> list[bytes]:
    """An app's `rodata`: strings, stored in its flash as their UTF-8 bytes (no NUL)."""
    value = app.get("rodata", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BoardError(f"{where}.rodata must be an array of strings")
    return [v.encode() for v in value]


def load_board(path: str | Path) -> BoardConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise BoardError(f"cannot read board file {p}: {e.strerror}") from None
    return parse_board(text, where=str(p))


#: the example boards installed with the package (a link to configs/ in the repository)
SHIPPED_DIR = Path(__file__).parent / "boards"


def shipped_boards() -> dict[str, Path]:
    """The boards installed with tockd, by name (the file name without `.toml`)."""
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.toml"))}


def board_path(named: str) -> Path:
    """The board file the command line names: a file at that path if there is one, else
    the shipped board of that name (`demo` or `demo.toml`). A name that is neither is a
    BoardError that lists the shipped boards; a missing path with a directory in it is
    left for `load_board` to report."""
    path = Path(named)
    if path.is_file() or os.sep in named:
        return path
    shipped = shipped_boards()
    name = path.stem if path.suffix == ".toml" else named
    if name in shipped:
        return shipped[name]
    raise BoardError(
        f"no board file {named!r} here, and no shipped board of that name "
        f"(shipped: {', '.join(shipped)}; `tockd boards` describes them)"
    )


def build_kernel(cfg: BoardConfig) -> Kernel:
    """Create RAM, the MPU model, the capsules and load every app, like a board's main.rs."""
    try:
        mpu = make_mpu(cfg.mpu)
    except Exception as e:
        raise BoardError(f"board.mpu: {e}") from None
    try:
        ram = PhysicalRAM(cfg.ram_size, cfg.ram_base)
    except ValueError as e:
        raise BoardError(f"board.ram_size: {e}") from None
    kernel = Kernel(ram, mpu, kernel_mode=cfg.kernel_mode, hardened=cfg.hardened, seed=cfg.seed)
    kernel.add_capsule(Alarm(kernel))
    kernel.add_capsule(Console(kernel, cfg.uart_baud))
    kernel.add_capsule(Led(kernel, cfg.leds))
    kernel.add_capsule(Button(kernel, cfg.buttons))
    kernel.add_capsule(Rng(kernel))
    slots = max(cfg.process_slots, len(cfg.apps))
    kernel.add_capsule(Ipc(kernel, slots))
    if cfg.abi_echo:
        kernel.add_capsule(AbiEcho(kernel))
    if cfg.bulk:
        kernel.add_capsule(Bulk(kernel))
    for index, spec in enumerate(cfg.apps):
        proc = Process(index=index, spec=spec, identifier=kernel.new_identifier())
        try:
            kernel.load_process(proc)
        except Exception as e:
            ram.close()
            raise BoardError(f"apps[{index}] ({spec.name}): {e}") from None
    return kernel


def board_text(apps: list[dict[str, Any]], **board: Any) -> str:
    """A board file's text from plain values: `apps` are [[apps]] tables (an `args`
    dict becomes [apps.args], other dicts inline tables), `board` the [board] keys;
    `hardened` and `sandbox` dicts become [kernel.hardened] and [sandbox]."""
    board = dict(board)
    hardened = board.pop("hardened", None)
    sandbox = board.pop("sandbox", None)
    lines = ["[board]"] + [f"{k} = {_toml(v)}" for k, v in board.items()]
    if hardened:
        lines += ["[kernel.hardened]"] + [f"{k} = {_toml(v)}" for k, v in hardened.items()]
    if sandbox:
        lines += ["[sandbox]"] + [f"{k} = {_toml(v)}" for k, v in sandbox.items()]
    for app in apps:
        app = dict(app)
        args = app.pop("args", None)
        lines += ["[[apps]]"] + [f"{k} = {_toml(v)}" for k, v in app.items()]
        if args:
            lines += ["[apps.args]"] + [f"{k} = {_toml(v)}" for k, v in args.items()]
    return "\n".join(lines) + "\n"


def _toml(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table, e.g. an app's `sandbox = {...}`
        return "{" + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(v)
