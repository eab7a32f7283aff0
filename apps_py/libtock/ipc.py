"""IPC (driver 0x10000) for apps, like libtock-c's libtock/kernel/ipc.[ch].

Processes are named by their index in the kernel's process array. A service registers
a callback at its own index; a client registers one at the service's index. Callbacks
get (caller index, shared length, shared pointer, appdata). A shared buffer is a
read-write allow to the IPC driver numbered with the peer's index; libtock-c says it
must be aligned to its length and the length a power of two (an MPU rule on ARM).
"""

from __future__ import annotations

from collections.abc import Callable

from apps_py.libtock import runtime
from apps_py.libtock.abi import DriverNum
from apps_py.libtock.syscalls import Ret, TockError, allow_ro, allow_rw, command, subscribe
from tockd.contract.drivers import IPC_ALLOW_DISCOVER, IpcCommand

DRIVER = DriverNum.IPC
Callback = Callable[[int, int, int, int], None]
_name_buffers: dict[bytes, int] = {}


def _name_buffer(name: bytes) -> int:
    address = _name_buffers.get(name)
    if address is None:
        rt = runtime.current()
        address = rt.heap.alloc(len(name))
        rt.memory.write(address, name)
        _name_buffers[name] = address
    return address


def discover(package_name: str) -> int:
    """The index of the process with this package name. Raises TockError(NODEVICE)."""
    name = package_name.encode()
    return discover_at(_name_buffer(name), len(name))


def discover_at(address: int, length: int) -> int:
    """libtock-c's `ipc_discover`: the name is whatever is at [address, address + length),
    in RAM or in this app's flash (a string literal: `memory.rodata()`). Raises
    TockError(NODEVICE) if no process has that name."""
    previous = allow_ro(DRIVER, IPC_ALLOW_DISCOVER, address, length).unwrap("ipc discover allow")
    ret = command(DRIVER, IpcCommand.DISCOVER)
    allow_ro(DRIVER, IPC_ALLOW_DISCOVER, previous.r1, previous.r2)  # restore, as libtock-c does
    return ret.unwrap(f"ipc discover at {address:#x}+{length}").r1


def register_service(callback: Callback, appdata: int = 0, index: int | None = None) -> int:
    """Register this app's service callback (at its own index); returns the index.
    `index`: this app's index when it knows it already (a board whose process order is
    fixed, the service built knowing its place), saving the three syscalls of discover."""
    me = discover(str(runtime.current().desc["name"])) if index is None else index
    subscribe(DRIVER, me, callback, appdata).unwrap("ipc register service")
    return me


def register_client(service: int, callback: Callback, appdata: int = 0) -> None:
    """Be called back when `service` notifies this client."""
    subscribe(DRIVER, service, callback, appdata).unwrap("ipc register client")


def notify_service(service: int) -> Ret:
    """Command 2. Returns the raw result (Tock's clients usually ignore it)."""
    return command(DRIVER, IpcCommand.NOTIFY_SERVICE, service)


def notify_client(client: int) -> Ret:
    return command(DRIVER, IpcCommand.NOTIFY_CLIENT, client)


def share(peer: int, address: int, length: int) -> Ret:
    """Share [address, address+length) with process `peer` (read-write allow)."""
    return allow_rw(DRIVER, peer, address, length)


def lost_notifies() -> int:
    """Hardened kernels only (command 4): how many of my notifies were lost."""
    ret = command(DRIVER, IpcCommand.UNDELIVERABLE)
    if not ret.ok:
        raise TockError(ret.r1, "ipc lost_notifies")
    return ret.r1
