"""Probes every process index with notify-service and discover, printing what comes back:
an app that offers no service should be indistinguishable from an empty slot."""

from apps_py.libtock import app_args, console, ipc, runtime
from apps_py.libtock.syscalls import TockError


def main() -> None:
    me = int(runtime.current().desc["index"])
    for i in range(int(str(app_args().get("slots", 8)))):
        if i == me:
            continue
        ret = ipc.notify_service(i)
        code = "Success" if ret.ok else ret.error.name  # type: ignore[union-attr]
        console.write(f"notify {i}: {code}\n")
    for name in str(app_args().get("names", "")).split(","):
        if name:
            try:
                console.write(f"discover {name}: index {ipc.discover(name)}\n")
            except TockError as e:
                console.write(f"discover {name}: {e.error.name}\n")  # type: ignore[union-attr]
