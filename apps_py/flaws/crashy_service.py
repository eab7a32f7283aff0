"""A service that registers, then computes for `busy_ms` without yielding, then
crashes (its board restarts it): notifies queued meanwhile die with it."""

import time

from apps_py.libtock import app_args, console, ipc


def main() -> None:
    heard: list[int] = []
    ipc.register_service(lambda client, *_: heard.append(client))
    console.write("service registered\n")
    end = time.monotonic() + float(str(app_args().get("busy_ms", 200))) / 1000
    while time.monotonic() < end:
        pass
    raise RuntimeError("service crashed before serving its queue")
