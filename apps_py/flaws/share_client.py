"""Shares a buffer of `size` bytes (aligned to `align`) with `service`, notifies it and
waits for the answer (up to `wait_ms`)."""

from apps_py.libtock import alarm, app_args, console, ipc, runtime, yield_no_wait


def main() -> None:
    args = app_args()
    size = int(str(args.get("size", 64)))
    align = int(str(args.get("align", 64)))
    rt = runtime.current()
    service = ipc.discover(str(args["service"]))
    answered: list[int] = []
    ipc.register_client(service, lambda *_: answered.append(1))
    buf = rt.heap.alloc(size, align=align)
    rt.memory.write(buf, bytes([7]) + b"payload")
    shared = ipc.share(service, buf, size)
    if not shared.ok:
        console.write(f"share of {size} bytes refused: {shared.error.name}\n")  # type: ignore[union-attr]
        return
    notified = ipc.notify_service(service)
    console.write(f"shared {size} bytes at {buf:#x}, notify: {notified}\n")
    waited = 0.0
    while not answered and waited < float(str(args.get("wait_ms", 500))):
        if not yield_no_wait():
            alarm.sleep_ms(20)
            waited += 20
    console.write("answered\n" if answered else "no answer\n")
