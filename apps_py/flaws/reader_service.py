"""Reads what a client shares, answers, and `recheck_ms` later reads the same window
again (if its MPU still allows it) to see whether the owner's memory is still exposed.
On a later notify without a buffer, scans the remembered window for kernel grant
headers (the restart-resets-breaks flaw).

With `raw = true` it is a hostile peer: it ignores the kernel when a window is taken
away (keeps every page it was ever handed mapped) and reads the raw mapping, bypassing
the MPU check of the libtock view, to see what revocation really takes from it."""

from typing import Any

import msgpack

from apps_py.libtock import alarm, app_args, console, ipc, runtime, yield_no_wait
from apps_py.libtock.memory import Memory

GRANT_HEADERS = {
    bytes([3, 2, 2, 0]): "console grant",
    bytes([1, 0, 0, 0]): "alarm grant",
    bytes([1, 0, 1, 0]): "rng grant",
}


def _keep_every_page(mem: Memory) -> None:
    """Hostile: never unmap a page the kernel takes back; every mapped page open."""
    apply = Memory._apply

    def keep(self: Memory, data: bytes, fds: list[int], flags: int) -> None:
        maps, _taken_back = msgpack.unpackb(data)
        apply(self, msgpack.packb([maps, []]), fds, flags)

    setattr(Memory, "_apply", keep)  # noqa: B010 (patching the class is the attack)
    mem.backstop = False


def main() -> None:
    mem = runtime.current().memory
    windows: list[tuple[int, int]] = []
    scanned: list[int] = []
    raw = bool(app_args().get("raw", False))
    if raw:
        _keep_every_page(mem)

    def read(ptr: int, length: int) -> Any:
        if raw:
            return bytes(mem.raw[ptr - mem.base : ptr - mem.base + length])
        return mem.read(ptr, length)

    def describe_window(ptr: int, length: int) -> str:
        if not raw and not mem.allowed(ptr, length, 4):
            return f"window {ptr:#x}+{length} is gone from my MPU"
        data = read(ptr, length)
        for offset in range(0, length - 3, 4):
            name = GRANT_HEADERS.get(data[offset : offset + 4])
            if name:
                hexed = data[offset : offset + 16].hex()
                return f"kernel {name} bytes visible at {ptr + offset:#x}: {hexed}"
        n = min(data[0], length - 1)
        return f"still readable: {data[1 : 1 + n]!r}"

    def on_notify(client: int, length: int, ptr: int, _d: int) -> None:
        if length:
            windows.append((ptr, length))
            n = min(mem.read_u8(ptr), length - 1)
            console.write(f"B read: {mem.read(ptr + 1, n)!r}\n")
        elif windows:
            console.write(f"on client's later notify: {describe_window(*windows[0])}\n")
            scanned.append(1)
        ipc.notify_client(client)

    ipc.register_service(on_notify)
    recheck = float(str(app_args().get("recheck_ms", 0)))
    waited = 0.0
    while recheck and waited < recheck:
        if not yield_no_wait():
            alarm.sleep_ms(20)
            waited += 20
    if recheck:
        if windows:
            console.write(f"after the owner faulted: {describe_window(*windows[0])}\n")
        return
    serve = float(str(app_args().get("serve_ms", 600)))
    while waited < serve and not scanned:
        if not yield_no_wait():
            alarm.sleep_ms(20)
            waited += 20
