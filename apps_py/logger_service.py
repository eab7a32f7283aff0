"""logger_service: clients share a buffer {u8 length; text} and notify; the logger
prints `<client name>: <text>` and notifies the client back when it is done."""

from apps_py.libtock import console, ipc, runtime, yield_wait


def main() -> None:
    rt = runtime.current()
    names: dict[int, str] = {}

    def on_log(client: int, length: int, buf: int, _appdata: int) -> None:
        if length:
            n = min(rt.memory.read_u8(buf), length - 1)
            text = rt.memory.read(buf + 1, n).decode(errors="replace")
            who = names.setdefault(client, f"client {client}")
            console.write(f"{who}: {text}\n")
        ipc.notify_client(client)

    ipc.register_service(on_log)
    while True:
        yield_wait()
