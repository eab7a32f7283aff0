"""Notifies `service`, waits up to `wait_ms` for an answer, then asks the kernel how
many of its notifies were lost (hardened kernels answer; Tock has no way to tell)."""

from apps_py.libtock import alarm, app_args, console, ipc, yield_no_wait
from apps_py.libtock.syscalls import TockError


def main() -> None:
    args = app_args()
    service = ipc.discover(str(args["service"]))
    answered: list[int] = []
    ipc.register_client(service, lambda *_: answered.append(1))
    alarm.sleep_ms(float(str(args.get("before_ms", 20))))
    console.write(f"notify: {ipc.notify_service(service)}\n")
    waited = 0.0
    while not answered and waited < float(str(args.get("wait_ms", 600))):
        if not yield_no_wait():
            alarm.sleep_ms(20)
            waited += 20
    console.write("answered\n" if answered else "no answer\n")
    try:
        console.write(f"kernel says lost notifies: {ipc.lost_notifies()}\n")
    except TockError as e:
        console.write(f"kernel cannot say: {e.error.name}\n")  # type: ignore[union-attr]
