"""Tock issue #4371: A takes all free memory up to its grant region, shares it with
`observer`, restarts itself (exit-restart), and in its second life makes syscalls that
allocate grants, then notifies the observer to look again."""

from apps_py.libtock import alarm, app_args, console, exit_restart, ipc, led, runtime
from apps_py.libtock.abi import Memop
from apps_py.libtock.syscalls import memop, yield_wait


def main() -> None:
    rt = runtime.current()
    observer = ipc.discover(str(app_args()["observer"]))
    if not rt.restart_count:
        answered: list[int] = []
        ipc.register_client(observer, lambda *_: answered.append(1))
        start = (rt.heap.top + 3) & ~3
        size = (memop(Memop.GRANT_START).r1 - start) & ~3
        buf = rt.heap.alloc(size)
        rt.memory.write(buf, bytes([12]) + b"A's old heap")
        ipc.share(observer, buf, size).unwrap("share")
        ipc.notify_service(observer)
        while not answered:
            yield_wait()
        exit_restart(0)
    console.write("second life\n")  # console grant
    led.count()
    alarm.now()  # alarm grant
    ipc.notify_service(observer)
    alarm.sleep_ms(100)
