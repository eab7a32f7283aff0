"""IPC roles for the release-2.2 fidelity tests (tests/test_fidelity.py), by `role`:

- service: computes `busy_ms` without a syscall (so notifies queue up undelivered), then
  registers its service callback and serves for `serve_ms`, and says whom it heard.
- restarting_client: notifies `service` (by name), then restarts at once; its second
  life makes no IPC call at all and waits `wait_ms`.
- grantless_client: notifies process `index` without ever discovering it (so it has no
  IPC grant), after `fill` = true has grown its break up to the grant region so that no
  grant can be allocated; reports notify's result.
"""

import time

from apps_py.libtock import alarm, app_args, console, exit_restart, ipc, runtime, yield_no_wait
from apps_py.libtock.abi import Memop
from apps_py.libtock.syscalls import memop


def main() -> None:
    args = app_args()
    role = str(args["role"])
    rt = runtime.current()
    if role == "service":
        end = time.monotonic() + float(str(args.get("busy_ms", 300))) / 1000
        while time.monotonic() < end:
            pass
        heard: list[int] = []
        ipc.register_service(lambda client, *_: heard.append(client))
        alarm.sleep_ms(float(str(args.get("serve_ms", 200))))  # notifies arrive meanwhile
        console.write(f"service heard {heard}\n")
    elif role == "restarting_client":
        if not rt.restart_count:
            service = ipc.discover(str(args["service"]))
            console.write(f"first life notify: {ipc.notify_service(service)!r}\n")
            exit_restart(0)
        console.write("second life\n")
        alarm.sleep_ms(float(str(args.get("wait_ms", 500))))
    elif role == "grantless_client":
        console.write("client up\n")
        if args.get("fill", False):
            memop(Memop.BRK, memop(Memop.GRANT_START).r1 & ~3).unwrap("brk")
        ret = ipc.notify_service(int(str(args["index"])))
        console.write(f"notify: {ret!r}\n")
        end = time.monotonic() + float(str(args.get("wait_ms", 500))) / 1000
        while time.monotonic() < end:  # alive, but needs no grant (alarm would)
            yield_no_wait()
            time.sleep(0.01)
