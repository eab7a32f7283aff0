"""An IPC client written as libtock-c writes one: the service's package name is a string
literal in its flash (rodata entry 0); it discovers the service from there, shares a
64-byte buffer holding "Hello World!" and prints the service's answer. Before that it
prints what discover answers with no allow, an empty allow, a name that matches nothing
(rodata entry 1) and what allow answers for the TBF header (protected flash) and for
another app's flash (`other_flash`)."""

from apps_py.libtock import app_args, console, ipc, memory, runtime, yield_wait
from apps_py.libtock.syscalls import Ret, allow_ro, command


def _text(ret: Ret) -> str:
    return f"ok {ret.r1}" if ret.ok else str(ret.error.name)  # type: ignore[union-attr]


def main() -> None:
    rt = runtime.current()
    console.write(f"no allow: {_text(command(ipc.DRIVER, 1))}\n")
    allow_ro(ipc.DRIVER, 0, 0, 0)
    console.write(f"empty allow: {_text(command(ipc.DRIVER, 1))}\n")
    nobody, length = memory.rodata()[1]
    allow_ro(ipc.DRIVER, 0, nobody, length)
    console.write(f"unknown name: {_text(command(ipc.DRIVER, 1))}\n")
    start, _end = rt.memory.flash_range
    console.write(f"allow header: {_text(allow_ro(ipc.DRIVER, 0, start + 0x20, 8))}\n")
    other = int(str(app_args()["other_flash"]))
    console.write(f"allow other flash: {_text(allow_ro(ipc.DRIVER, 0, other, 8))}\n")
    name, length = memory.rodata()[0]
    service = ipc.discover_at(name, length)
    console.write(f"service: {service}\n")
    answers: list[int] = []
    ipc.register_client(service, lambda _svc, _len, _buf, _d: answers.append(1))
    buf = rt.heap.alloc(64, align=64)
    text = b"Hello World!"
    rt.memory.write(buf, bytes([len(text)]) + text)
    ipc.share(service, buf, 64).unwrap("share")
    ipc.notify_service(service)
    while not answers:
        yield_wait()
    console.write(f"answer: {rt.memory.read(buf + 1, rt.memory.read_u8(buf)).decode()}\n")
