"""Board files: a TOML description of RAM, MPU, scheduler, kernel mode and apps.

    [board]
    name = "hello"
    ram_size = 65536          # bytes of physical RAM (a multiple of 4096)
    ram_base = 0x20000000
    mpu = "cortex-m"          # cortex-m | riscv-pmp | ideal
    scheduler = "round-robin"
    timeslice_us = 10000
    kernel_mode = "tock"      # tock | hardened
    leds = 4
    buttons = 2
    seed = 0

    [kernel.hardened]         # each fix of `hardened` mode as a named switch
    keep_high_water_mark = true

    [[apps]]
    name = "org.tockos.examples.hello"   # the TBF package name
    module = "apps_py.hello"             # a Python module with main()
    ram = 4096                            # minimum RAM (TBF minimum_ram_size)
    stack = 1024
    fault_policy = "stop"                # stop | restart | panic
    restart_threshold = 3                # with restart: then stop

`build_kernel` assembles a Kernel from it, as a Tock board's main.rs does.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tockd.capsules.abi_echo import AbiEcho
from tockd.capsules.alarm import Alarm
from tockd.capsules.button import Button
from tockd.capsules.console import Console
from tockd.capsules.led import Led
from tockd.capsules.rng import Rng
from tockd.kernel.kernel import Kernel
from tockd.kernel.memory import PhysicalRAM
from tockd.kernel.mpu import make_mpu
from tockd.kernel.process import AppSpec, FaultPolicy, Process

#: every fix of `hardened` mode; `kernel_mode = "hardened"` turns them all on
HARDENED_SWITCHES = ("keep_high_water_mark",)


class BoardError(Exception):
    """A board file that cannot be used; the message says which key and why."""


@dataclass
class BoardConfig:
    name: str = "board"
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
    apps: list[AppSpec] = field(default_factory=list)
    source: str = ""  # the file's text, for its digest

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]


def _int(section: dict[str, Any], key: str, default: int, where: str) -> int:
    value = section.get(key, default)
    if type(value) is not int or value < 0:
        raise BoardError(f"{where}.{key} must be a non-negative integer, got {value!r}")
    return value


def parse_board(text: str, *, where: str = "board file") -> BoardConfig:
    """Parse and validate a board file's text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{where}: not valid TOML: {e}") from None
    board = data.get("board", {})
    cfg = BoardConfig(source=text)
    cfg.name = str(board.get("name", "board"))
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
    switches = dict.fromkeys(HARDENED_SWITCHES, cfg.kernel_mode == "hardened")
    given = data.get("kernel", {}).get("hardened", {})
    for key, value in given.items():
        if key not in HARDENED_SWITCHES:
            raise BoardError(
                f"kernel.hardened.{key}: unknown switch (known: {', '.join(HARDENED_SWITCHES)})"
            )
        switches[key] = bool(value)
    cfg.hardened = switches
    apps = data.get("apps", [])
    if not isinstance(apps, list):
        raise BoardError("apps must be an array of tables ([[apps]])")
    for i, app in enumerate(apps):
        w = f"apps[{i}]"
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
        cfg.apps.append(
            AppSpec(
                name=str(app["name"]),
                module=str(app["module"]),
                ram=_int(app, "ram", 4096, w),
                stack=_int(app, "stack", 1024, w),
                flash=_int(app, "flash", 16 * 1024, w),
                fault_policy=policy,
                restart_threshold=threshold,
                args=dict(app.get("args", {})),
            )
        )
    return cfg


def load_board(path: str | Path) -> BoardConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise BoardError(f"cannot read board file {p}: {e.strerror}") from None
    return parse_board(text, where=str(p))


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
    kernel.add_capsule(Console(kernel))
    kernel.add_capsule(Led(kernel, cfg.leds))
    kernel.add_capsule(Button(kernel, cfg.buttons))
    kernel.add_capsule(Rng(kernel))
    if cfg.abi_echo:
        kernel.add_capsule(AbiEcho(kernel))
    for index, spec in enumerate(cfg.apps):
        proc = Process(index=index, spec=spec, identifier=kernel.new_identifier())
        try:
            kernel.load_process(proc)
        except Exception as e:
            ram.close()
            raise BoardError(f"apps[{index}] ({spec.name}): {e}") from None
    return kernel
