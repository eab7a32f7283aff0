"""rot13_client (libtock-c examples/rot13_client): shares a 64-byte, 64-aligned buffer
{u8 length; char text[...]} holding "Hello World!" with the rot13 service, notifies it,
and prints the buffer each time the service answers, alternating
`12: Uryyb Jbeyq!` / `12: Hello World!`.

Args: `rounds` (default 10), `size` of the shared buffer (default 64; try 100 on a
cortex-m board), `delay_ms` between rounds (default 500, as libtock-c).
"""

from apps_py.libtock import alarm, app_args, console, ipc, runtime, yield_wait

SERVICE = "org.tockos.examples.rot13"


def main() -> None:
    args = app_args()
    rounds = int(str(args.get("rounds", 10)))
    size = int(str(args.get("size", 64)))
    delay = float(str(args.get("delay_ms", 500)))
    rt = runtime.current()
    service = ipc.discover(SERVICE)
    answers: list[int] = []
    ipc.register_client(service, lambda _svc, _len, _buf, _d: answers.append(1))
    align = 1 << (size - 1).bit_length() if size & (size - 1) else size
    buf = rt.heap.alloc(size, align=min(align, 64))
    text = b"Hello World!"
    rt.memory.write(buf, bytes([len(text)]) + text)
    shared = ipc.share(service, buf, size)
    if not shared.ok:
        console.write(f"share of {size} bytes refused: {shared.error.name}\n")  # type: ignore[union-attr]
        return
    for _ in range(rounds):
        answers.clear()
        ipc.notify_service(service)
        while not answers:
            yield_wait()
        n = rt.memory.read_u8(buf)
        console.write(f"{n}: {rt.memory.read(buf + 1, n).decode()}\n")
        alarm.sleep_ms(delay)
