"""logger_client: sends `count` numbered log lines to the logger service through a
shared 64-byte buffer, waiting for the logger's answer after each."""

from apps_py.libtock import app_args, ipc, runtime, yield_wait

LOGGER = "org.tockos.examples.logger"


def main() -> None:
    args = app_args()
    count = int(str(args.get("count", 3)))
    tag = str(args.get("tag", runtime.current().desc["name"]))
    rt = runtime.current()
    logger = ipc.discover(LOGGER)
    done: list[int] = []
    ipc.register_client(logger, lambda _l, _n, _b, _d: done.append(1))
    buf = rt.heap.alloc(64, align=64)
    ipc.share(logger, buf, 64).unwrap("share")
    for i in range(count):
        text = f"{tag} line {i}".encode()[:63]
        rt.memory.write(buf, bytes([len(text)]) + text)
        done.clear()
        ipc.notify_service(logger).unwrap("notify")
        while not done:
            yield_wait()
