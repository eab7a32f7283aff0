"""Notifies each process named in `targets` (comma-separated package names, found by
discover), prints the results, then stays alive for `ms` so delivery can happen."""

from apps_py.libtock import alarm, app_args, console, ipc
from apps_py.libtock.syscalls import TockError


def main() -> None:
    for name in str(app_args()["targets"]).split(","):
        try:
            index = ipc.discover(name)
        except TockError as e:
            console.write(f"discover {name}: {e.error.name}\n")  # type: ignore[union-attr]
            continue
        console.write(f"notify {name} ({index}): {ipc.notify_service(index)}\n")
    alarm.sleep_ms(float(str(app_args().get("ms", 300))))
