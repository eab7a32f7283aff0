"""Each driver's command, upcall (subscribe) and allow numbers, named.

The capsules (tockd/capsules/) answer these numbers and the app library
(apps_py/libtock/) sends them: naming them once here keeps both sides in step. The
numbers follow Tock's capsules at release-2.2 (`capsules/core/src/alarm.rs`,
`console.rs`, `led.rs`, `button.rs`, `rng.rs`; `kernel/src/ipc.rs`), except where a
comment says tockd adds one. Driver numbers themselves are `abi.DriverNum`.

Part of the contract (tockd/contract/__init__.py): imports only the standard library.
"""

from __future__ import annotations

from enum import IntEnum

#: command 0 of every driver: does it exist (Tock's convention, TRD104)
EXISTS = 0


class AlarmCommand(IntEnum):
    EXISTS = 0
    FREQUENCY = 1
    NOW = 2
    STOP = 3
    SET_RELATIVE = 5
    SET_ABSOLUTE = 6


ALARM_UPCALL = 0  # the alarm fired


class ConsoleCommand(IntEnum):
    EXISTS = 0
    WRITE = 1  # putnstr
    READ = 2  # getnstr
    ABORT_READ = 3


CONSOLE_UPCALL_WRITE = 1
CONSOLE_UPCALL_READ = 2
CONSOLE_ALLOW_WRITE = 1  # read-only allow: the bytes to write
CONSOLE_ALLOW_READ = 1  # read-write allow: where read bytes go


class LedCommand(IntEnum):
    COUNT = 0
    ON = 1
    OFF = 2
    TOGGLE = 3
    GET = 4  # tockd's: Tock's LED driver has no read-back


class ButtonCommand(IntEnum):
    COUNT = 0
    ENABLE_INTERRUPT = 1
    DISABLE_INTERRUPT = 2
    READ = 3


BUTTON_UPCALL = 0  # a button changed: (index, pressed)


class RngCommand(IntEnum):
    EXISTS = 0
    GET = 1


RNG_UPCALL = 0  # the buffer is filled
RNG_ALLOW = 0  # read-write allow: the buffer to fill


class IpcCommand(IntEnum):
    EXISTS = 0
    DISCOVER = 1
    NOTIFY_SERVICE = 2
    NOTIFY_CLIENT = 3
    UNDELIVERABLE = 4  # tockd's hardened report of notifies it could not deliver


IPC_ALLOW_DISCOVER = 0  # read-only allow: the name of the service to discover
