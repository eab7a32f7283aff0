"""rot13_service (libtock-c examples/rot13_service): rot13s a client's shared buffer in
place and notifies the client back. Buffer layout: byte 0 = length, then the text.

Args: `delay_print` (bool) prints a greeting *before* registering, like the printf the
Tock developers added while debugging the load-order race (see experiments/).
"""

from apps_py.libtock import app_args, console, ipc, runtime, yield_wait

_SHIFT = {c: (c - 97 + 13) % 26 + 97 for c in range(97, 123)}
_SHIFT.update({c: (c - 65 + 13) % 26 + 65 for c in range(65, 91)})


def rot13(data: bytes) -> bytes:
    return bytes(_SHIFT.get(c, c) for c in data)


def main() -> None:
    mem = runtime.current().memory

    def on_request(client: int, length: int, buf: int, _appdata: int) -> None:
        if length:
            n = min(mem.read_u8(buf), length - 1)
            mem.write(buf + 1, rot13(mem.read(buf + 1, n)))
        ipc.notify_client(client)

    if app_args().get("delay_print", False):
        console.write("Rot13 service!\n")
    ipc.register_service(on_request)
    while True:
        yield_wait()
