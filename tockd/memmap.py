"""What pages of RAM each app process maps, and handing them over (the daemon's side).

An app maps exactly: every page of its own RAM block, and every page that a readable or
writable range of its current MPU configuration touches (an IPC window onto another
process's buffer). `AppPages` remembers what one app process holds (page -> the
generation of the object it mapped) and `update` sends it the difference on its memory
socket, a SOCK_SEQPACKET socketpair of its own: msgpack `[[page, ...], [page, ...]]`
(pages to map, one memfd each over SCM_RIGHTS in the same order; pages to unmap). The
app reads those messages when its next frame (the boot frame, or an MPU frame at a
context switch) says how many there are, before it runs again (apps_py/libtock/memory.py).

Flash travels the same way, once per app process, first of its boot messages: msgpack
`{"flash": [start, size]}` with one fd, the sealed read-only memfd of the process's own
TBF image (tockd/kernel/flash.py). The app maps it read-only at any host address; it is
never sent another process's image.

A page whose object the kernel replaced (a revoked window: tockd/kernel/memory.py) is
mapped again from the new object at the process's next context switch: whoever replaces
a page marks every process that maps it `mpu_dirty` (the owner and the window's holder),
so a live owner keeps working on the bytes the kernel sees. The peer that lost the
window gets the page unmapped, and if it ignores that, it holds a private copy of the
past. Nothing is looked at per syscall beyond the `mpu_dirty` flag.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgpack

from tockd.kernel.abi import PAGE_FDS_MAX

if TYPE_CHECKING:
    from tockd.kernel.flash import FlashImage
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.memory import PhysicalRAM
    from tockd.kernel.process import Process

#: fds per message at boot (the app has not applied its open-files limit yet) and later
#: (it has; the runtime keeps a handful open)
BOOT_FDS = PAGE_FDS_MAX
LIVE_FDS = 16
#: send buffer of a memory socket: a whole block's fds are queued before the app starts
SNDBUF = 1 << 22


def open_pair() -> tuple[socket.socket, socket.socket]:
    """(daemon end, app end) of a new memory socket."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
    except OSError:
        pass
    return ours, theirs


def send(
    sock: socket.socket, ram: PhysicalRAM, to_map: list[int], to_unmap: list[int], batch: int
) -> int:
    """Queue page messages on a memory socket; returns how many."""
    messages = 0
    for i in range(0, max(len(to_map), 1), batch):
        pages = to_map[i : i + batch]
        drop = to_unmap if i == 0 else []
        payload = msgpack.packb([pages, drop])
        fds = [ram.page_fd(page) for page in pages]
        if fds:
            socket.send_fds(sock, [payload], fds)
        else:
            sock.send(payload)
        messages += 1
    return messages


def send_flash(sock: socket.socket, image: FlashImage) -> int:
    """Queue the flash message of `image` on a memory socket; returns how many (1)."""
    payload = msgpack.packb({"flash": [image.start, image.size]})
    socket.send_fds(sock, [payload], [image.fd()])
    return 1


def wanted(kernel: Kernel, proc: Process, ranges: list[tuple[int, int, int]]) -> dict[int, int]:
    """page -> generation of every page `proc` should map, given its MPU `ranges`."""
    ram = kernel.ram
    generation = ram.generation
    out = {page: generation[page] for page in ram.pages(proc.mem_start, proc.memory_len)}
    for start, end, perms in ranges:
        if perms & 6:
            for page in ram.pages(start, end - start):
                if page not in out and ram.is_backed(page):
                    out[page] = generation[page]
    return out


@dataclass
class AppPages:
    """The pages one app process has been handed, and its end of the memory socket."""

    sock: socket.socket
    mapped: dict[int, int] = field(default_factory=dict)

    def update(
        self, kernel: Kernel, proc: Process, ranges: list[tuple[int, int, int]], *, boot: bool
    ) -> int:
        """Send the app what changed (at boot, its flash first); returns how many
        messages it must read."""
        flash = send_flash(self.sock, kernel.flash.image_at(proc.flash_start)) if boot else 0
        ram = kernel.ram
        want = wanted(kernel, proc, ranges)
        mapped = self.mapped
        to_map = [page for page, gen in want.items() if mapped.get(page) != gen]
        to_unmap = [page for page in mapped if page not in want]
        if not to_map and not to_unmap:
            return flash
        messages = flash + send(self.sock, ram, to_map, to_unmap, BOOT_FDS if boot else LIVE_FDS)
        for page in to_unmap:
            del mapped[page]
        for page in to_map:
            mapped[page] = want[page]
        return messages

    def close(self) -> None:
        self.sock.close()
