"""chunk_logger: an IPC logging service that takes each message in chunks (a client
notifies once per chunk) and prints a line when a chunk ends with a newline.

It has a race on purpose, for the lab: it keeps ONE line buffer for all clients, so if
two clients' chunks arrive interleaved, a printed line mixes both messages.
"""

from apps_py.libtock import console, ipc, runtime, yield_wait


def main() -> None:
    mem = runtime.current().memory
    line = bytearray()

    def on_chunk(client: int, length: int, buf: int, _appdata: int) -> None:
        if length:
            n = min(mem.read_u8(buf), length - 1)
            line.extend(mem.read(buf + 1, n))
            if line.endswith(b"\n"):
                console.write(line.decode(errors="replace"))
                line.clear()
        ipc.notify_client(client)

    ipc.register_service(on_chunk)
    while True:
        yield_wait()
