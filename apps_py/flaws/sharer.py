"""Shares a 64-byte buffer holding a secret with `reader`, waits for its answer, writes a
second secret, then crashes (stop policy): does the reader still see this memory?

With the restart policy, its second life writes a third secret at the same address and
waits `linger_ms`: does a reader that kept its window see the next life's memory?"""

from apps_py.libtock import alarm, app_args, ipc, runtime, yield_wait


def main() -> None:
    rt = runtime.current()
    reader = ipc.discover(str(app_args()["reader"]))
    if rt.restart_count:
        buf = rt.heap.alloc(64, align=64)  # the same address as in the first life
        secret = b"A's next-life secret"
        rt.memory.write(buf, bytes([len(secret)]) + secret)
        alarm.sleep_ms(int(str(app_args().get("linger_ms", 0))))
        return
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
