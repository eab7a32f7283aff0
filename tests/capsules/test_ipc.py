"""IPC capsule (driver 0x10000) through the kernel's syscalls, against
kernel/src/ipc.rs at release-2.2 (Tock's IPC is a kernel module, not a capsule in
capsules/core): discover (1), notify service (2) and client (3), delivery when the
target yields, and the hardened switches that change results."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.capsules.rig import APPDATA, Rig, err, make_rig, ok
from tockd.capsules.ipc import CLIENT, SERVICE, Ipc
from tockd.kernel.abi import UPCALL_QUEUE_CAPACITY, DriverNum, ErrorCode
from tockd.kernel.process import Process, State, Task, TaskKind

IPC = int(DriverNum.IPC)
DISCOVER, NOTIFY_SERVICE, NOTIFY_CLIENT, LOST = 1, 2, 3, 4
NAME = 0x80  # offset of a name buffer in the app's RAM
SHARE = 0x400  # offset of a shared buffer
YIELD_WAIT = 1


@pytest.fixture
def ipc_rig() -> Iterator[Rig]:
    """Three apps: a (the service, index 0), b and c (clients)."""
    with make_rig(apps=3) as rig:
        yield rig


def _ipc(rig: Rig) -> Ipc:
    capsule = rig.kernel.capsules[IPC]
    assert isinstance(capsule, Ipc)
    return capsule


def _discover(rig: Rig, proc: Process, name: bytes) -> tuple[int, int, int, int]:
    address = rig.put(proc, NAME, name)
    rig.allow_ro(proc, IPC, 0, address, len(name))
    return rig.command(proc, IPC, DISCOVER)


def _deliver(rig: Rig, proc: Process) -> tuple[str, tuple[int, ...]] | None:
    """`proc` yield-waits and the kernel hands it what it has (IPC tasks run here)."""
    rig.kernel.handle_syscall(proc, 0, YIELD_WAIT, 0, 0, 0)
    return rig.kernel.next_delivery(proc)


# ---- commands ----------------------------------------------------------------------


def test_command_0_says_the_driver_exists(ipc_rig: Rig) -> None:
    assert ipc_rig.command(ipc_rig.app(), IPC, 0) == ok()


@pytest.mark.parametrize("cmd", [LOST, 5, 0xFFFF_FFFF])
def test_unknown_commands_are_nosupport(ipc_rig: Rig, cmd: int) -> None:
    """Command 4 exists only with hardened report_undeliverable."""
    assert ipc_rig.command(ipc_rig.app(), IPC, cmd) == err(ErrorCode.NOSUPPORT)


def test_the_grant_is_sized_by_the_process_slots() -> None:
    """ipc.rs: NUM_PROCS upcalls and read-write allows, one read-only allow."""
    with make_rig(apps=2, process_slots=4) as rig:
        proc = rig.app()
        spec = _ipc(rig).grant_spec
        assert (spec.upcalls, spec.allow_ro, spec.allow_rw) == (4, 1, 4)
        fn, buf = proc.flash_start + 0x100, proc.mem_start + SHARE
        assert rig.syscall(proc, 1, IPC, 3, fn, 0)[0] == 130
        assert rig.syscall(proc, 1, IPC, 4, fn, 0)[:2] == (2, ErrorCode.NOSUPPORT)
        assert rig.syscall(proc, 3, IPC, 3, buf, 8)[0] == 130
        assert rig.syscall(proc, 3, IPC, 4, buf, 8)[:2] == (2, ErrorCode.NOSUPPORT)
        assert rig.syscall(proc, 4, IPC, 1, buf, 8)[:2] == (2, ErrorCode.NOSUPPORT)


@pytest.mark.parametrize(("name", "index"), [(b"a", 0), (b"b", 1), (b"c", 2)])
def test_discover_finds_a_process_by_package_name(ipc_rig: Rig, name: bytes, index: int) -> None:
    assert _discover(ipc_rig, ipc_rig.app(1), name) == ok(index)


@pytest.mark.parametrize("name", [b"d", b"ab", b"a\x00", b""])
def test_discover_of_no_such_name_is_nodevice(ipc_rig: Rig, name: bytes) -> None:
    assert _discover(ipc_rig, ipc_rig.app(1), name) == err(ErrorCode.NODEVICE)


def test_discover_with_nothing_allowed_is_nodevice(ipc_rig: Rig) -> None:
    assert ipc_rig.command(ipc_rig.app(), IPC, DISCOVER) == err(ErrorCode.NODEVICE)


def test_discover_whose_grant_cannot_be_allocated_is_nomem(ipc_rig: Rig) -> None:
    proc = ipc_rig.app()
    proc.adversity.add("grant_fail")
    assert ipc_rig.command(proc, IPC, DISCOVER) == err(ErrorCode.NOMEM)


def test_a_notify_queues_an_ipc_task_naming_the_caller(ipc_rig: Rig) -> None:
    service, client = ipc_rig.app(0), ipc_rig.app(1)
    assert ipc_rig.command(client, IPC, NOTIFY_SERVICE, service.index) == ok()
    assert list(service.queue) == [
        Task(TaskKind.IPC, IPC, client.index, SERVICE, client.identifier)
    ]
    assert ipc_rig.command(service, IPC, NOTIFY_CLIENT, client.index) == ok()
    assert list(client.queue) == [
        Task(TaskKind.IPC, IPC, service.index, CLIENT, service.identifier)
    ]


def test_notify_enters_no_grant(ipc_rig: Rig) -> None:
    """ipc.rs (2.2): notify only enqueues; grants are entered at delivery."""
    service, client = ipc_rig.app(0), ipc_rig.app(1)
    ipc_rig.command(client, IPC, NOTIFY_SERVICE, service.index)
    number = ipc_rig.kernel.grant_numbers[IPC]
    assert number not in client.grant_ptrs and number not in service.grant_ptrs


@pytest.mark.parametrize("cmd", [NOTIFY_SERVICE, NOTIFY_CLIENT])
def test_notify_of_an_index_with_no_process_is_inval(ipc_rig: Rig, cmd: int) -> None:
    assert ipc_rig.command(ipc_rig.app(), IPC, cmd, 3) == err(ErrorCode.INVAL)


def test_notify_of_a_dead_process_is_nodevice(ipc_rig: Rig) -> None:
    service, client = ipc_rig.app(0), ipc_rig.app(1)
    ipc_rig.kernel.terminate(service, 0)
    assert ipc_rig.command(client, IPC, NOTIFY_SERVICE, 0) == err(ErrorCode.NODEVICE)


def test_notify_of_a_process_with_a_full_queue_is_nomem(ipc_rig: Rig) -> None:
    service, client = ipc_rig.app(0), ipc_rig.app(1)
    for _ in range(UPCALL_QUEUE_CAPACITY):
        assert ipc_rig.command(client, IPC, NOTIFY_SERVICE, service.index) == ok()
    assert ipc_rig.command(client, IPC, NOTIFY_SERVICE, service.index) == err(ErrorCode.NOMEM)
    assert service.dropped_upcall_count == 1


# ---- delivery ----------------------------------------------------------------------


def test_a_service_notify_is_delivered_with_the_clients_share(ipc_rig: Rig) -> None:
    """At the service's yield: upcall (its own index) with (client, length, pointer),
    and the client's buffer opened in the service's MPU."""
    service, client = ipc_rig.app(0), ipc_rig.app(1)
    fn = ipc_rig.subscribe(service, IPC, service.index)
    share = client.mem_start + SHARE
    ipc_rig.allow_rw(client, IPC, service.index, share, 64)
    ipc_rig.command(client, IPC, NOTIFY_SERVICE, service.index)
    assert _deliver(ipc_rig, service) == ("upcall", (fn, client.index, 64, share, APPDATA))
    [window] = _ipc(ipc_rig).windows
    assert (window.holder, window.owner, window.ptr, window.length) == (0, 1, share, 64)
    assert service.mpu_dirty


def test_a_client_notify_arrives_at_the_services_index(ipc_rig: Rig) -> None:
    service, client = ipc_rig.app(0), ipc_rig.app(1)
    fn = ipc_rig.subscribe(client, IPC, service.index)
    ipc_rig.command(service, IPC, NOTIFY_CLIENT, client.index)
    assert _deliver(ipc_rig, client) == ("upcall", (fn, service.index, 0, 0, APPDATA))


def test_delivery_allocates_the_callees_grant(ipc_rig: Rig) -> None:
    """ipc.rs schedule_upcall enters (so allocates) the callee's grant: flaw 3."""
    service, client = ipc_rig.app(0), ipc_rig.app(1)
    ipc_rig.command(client, IPC, NOTIFY_SERVICE, service.index)
    before = service.kernel_memory_break
    assert _deliver(ipc_rig, service) is None  # no callback: a null upcall, discarded
    assert service.kernel_memory_break < before
    assert [e["caller"] for e in ipc_rig.kinds("ipc_callee_grant")] == [client.index]
    assert [e["reason"] for e in ipc_rig.kinds("ipc_dropped")] == [
        "null upcall: no callback registered"
    ]


def test_a_self_notify_is_dropped(ipc_rig: Rig) -> None:
    service = ipc_rig.app(0)
    ipc_rig.subscribe(service, IPC, service.index)
    assert ipc_rig.command(service, IPC, NOTIFY_SERVICE, service.index) == ok()
    assert _deliver(ipc_rig, service) is None
    assert "self-notify" in ipc_rig.kinds("ipc_dropped")[0]["reason"]


def test_a_notify_from_a_caller_that_restarted_since_is_dropped(ipc_rig: Rig) -> None:
    service, client = ipc_rig.app(0), ipc_rig.app(1)
    ipc_rig.subscribe(service, IPC, service.index)
    ipc_rig.allow_rw(client, IPC, service.index, client.mem_start + SHARE, 64)
    ipc_rig.command(client, IPC, NOTIFY_SERVICE, service.index)
    ipc_rig.kernel.try_restart(client, None)
    assert _deliver(ipc_rig, service) is None
    assert ipc_rig.kinds("ipc_dropped")[0]["reason"] == "caller restarted since it notified"
    assert _ipc(ipc_rig).windows == []


def test_a_restart_of_the_holder_forgets_its_windows(ipc_rig: Rig) -> None:
    service, client = ipc_rig.app(0), ipc_rig.app(1)
    ipc_rig.subscribe(service, IPC, service.index)
    ipc_rig.allow_rw(client, IPC, service.index, client.mem_start + SHARE, 64)
    ipc_rig.command(client, IPC, NOTIFY_SERVICE, service.index)
    _deliver(ipc_rig, service)
    assert len(_ipc(ipc_rig).windows) == 1
    ipc_rig.kernel.try_restart(service, None)
    assert _ipc(ipc_rig).windows == []


# ---- hardened switches that change results ------------------------------------------


def test_uniform_errors_answer_nodevice_for_every_undeclared_target() -> None:
    with make_rig(apps=3, services=(0,), hardened={"uniform_errors": True}) as rig:
        a, b = rig.app(0), rig.app(1)
        assert rig.command(b, IPC, NOTIFY_SERVICE, 7) == err(ErrorCode.NODEVICE)  # none
        assert rig.command(b, IPC, NOTIFY_SERVICE, 2) == err(ErrorCode.NODEVICE)  # no service
        assert rig.command(b, IPC, NOTIFY_SERVICE, a.index) == ok()
        assert _discover(rig, b, b"c") == err(ErrorCode.NODEVICE)  # exists, not a service
        assert _discover(rig, b, b"a") == ok(0)


def test_report_undeliverable_counts_a_callers_lost_notifies() -> None:
    with make_rig(apps=2, hardened={"report_undeliverable": True}) as rig:
        service, client = rig.app(0), rig.app(1)
        assert rig.command(client, IPC, LOST) == ok(0)
        rig.command(client, IPC, NOTIFY_SERVICE, service.index)
        rig.command(client, IPC, NOTIFY_SERVICE, service.index)
        rig.kernel.handle_syscall(service, 0, YIELD_WAIT, 0, 0, 0)
        while service.queue:
            rig.kernel.next_delivery(service)
        assert service.state is State.YIELDED
        assert rig.command(client, IPC, LOST) == ok(2)  # no callback: both lost
        assert service.dropped_upcall_count == 2
