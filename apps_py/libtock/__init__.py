"""libtock for Python apps: raw syscalls and drivers, named like libtock-c / libtock-rs.

    from apps_py.libtock import console, alarm, led
    def main():
        console.write("Hello\\n")

Drivers: `console`, `alarm`, `led`, `button`, `rng`. Raw syscalls live in
`apps_py.libtock.syscalls`; the checked RAM view is `runtime.current().memory`.
"""

from apps_py.libtock.syscalls import (
    Ret,
    TockError,
    allow_ro,
    allow_rw,
    allow_userspace_read,
    command,
    exit_restart,
    exit_terminate,
    memop,
    subscribe,
    yield_for,
    yield_no_wait,
    yield_wait,
    yield_wait_for,
)


def app_args() -> dict[str, object]:
    """The `[apps.args]` table of this app in the board file."""
    from apps_py.libtock import runtime

    return dict(runtime.current().desc.get("args", {}))


__all__ = [
    "Ret",
    "TockError",
    "allow_ro",
    "allow_rw",
    "allow_userspace_read",
    "app_args",
    "command",
    "exit_restart",
    "exit_terminate",
    "memop",
    "subscribe",
    "yield_for",
    "yield_no_wait",
    "yield_wait",
    "yield_wait_for",
]
