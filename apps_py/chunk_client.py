"""chunk_client: sends "<name> says " and "hello from <name>\\n" to the chunk logger as
two chunks, waiting for the logger's acknowledgement after each."""

from apps_py.libtock import ipc, runtime, yield_wait

LOGGER = "org.tockos.examples.chunk_logger"


def main() -> None:
    rt = runtime.current()
    name = str(rt.desc["name"])
    logger = ipc.discover(LOGGER)
    acks: list[int] = []
    ipc.register_client(logger, lambda *_: acks.append(1))
    buf = rt.heap.alloc(64, align=64)
    ipc.share(logger, buf, 64).unwrap("share")
    for chunk in (f"{name} says ", f"hello from {name}\n"):
        data = chunk.encode()
        rt.memory.write(buf, bytes([len(data)]) + data)
        acks.clear()
        ipc.notify_service(logger)
        while not acks:
            yield_wait()
