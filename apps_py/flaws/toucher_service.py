"""A service that reads the first byte of whatever a client shares, then answers."""

from apps_py.libtock import console, ipc, runtime, yield_wait


def main() -> None:
    mem = runtime.current().memory

    def on_notify(client: int, length: int, ptr: int, _d: int) -> None:
        if length:
            first = mem.read_u8(ptr)  # faults here if the kernel never opened the window
            console.write(f"read {length} bytes of client {client} (first byte {first})\n")
        else:
            console.write(f"client {client} notified without a buffer\n")
        ipc.notify_client(client)

    ipc.register_service(on_notify)
    while True:
        yield_wait()
