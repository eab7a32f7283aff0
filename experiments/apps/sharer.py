"""Shares a 64-byte buffer holding a secret with `reader`, waits for its answer, writes a
second secret, then crashes (stop policy): does the reader still see this memory?"""

from apps_py.libtock import app_args, ipc, runtime, yield_wait


def main() -> None:
    rt = runtime.current()
    reader = ipc.discover(str(app_args()["reader"]))
    answered: list[int] = []
    ipc.register_client(reader, lambda *_: answered.append(1))
    buf = rt.heap.alloc(64, align=64)
    secret = b"first secret of A"
    rt.memory.write(buf, bytes([len(secret)]) + secret)
    ipc.share(reader, buf, 64).unwrap("share")
    ipc.notify_service(reader)
    while not answered:
        yield_wait()
    secret = b"A's later secret"
    rt.memory.write(buf, bytes([len(secret)]) + secret)
    raise RuntimeError("A faults after sharing")
