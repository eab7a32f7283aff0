"""Forged grants: the kernel trusts no value it reads back from grant memory.

An app can write its own grant bytes (it maps its whole RAM block). Each test drives the
sans-IO kernel through its public methods, then overwrites grant bytes with
`kernel.ram.write` (what the app would do) and checks that the forger, and only the
forger, is faulted with a reason naming the forged entry: the other processes' bytes are
unchanged, no MPU window is opened for anyone, and the kernel goes on. Both kernel modes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest

from tests.harness import app, board_toml
from tockd.board import build_kernel, parse_board
from tockd.capsules.ipc import Ipc
from tockd.kernel.abi import DriverNum, ErrorCode
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import FaultPolicy, Process, State

IPC, CONSOLE, ALARM, BUTTON, RNG = 0x10000, 0x1, 0x0, 0x3, 0x40001
BULK = 0xA0001
SUBSCRIBE, COMMAND, ALLOW_RW, ALLOW_RO, MEMOP = 1, 2, 3, 4, 5
SECRET = b"the victim's secret, 32 bytes!!!"
HEAP = 0x400  # every test process grows its break this far


@pytest.fixture(params=["tock", "hardened"])
def kernel(request: pytest.FixtureRequest) -> Iterator[Kernel]:
    text = board_toml(
        [
            app("apps_py.hello", "client"),
            app("apps_py.hello", "service", ipc_service=True),
            app("apps_py.hello", "victim"),
        ],
        kernel_mode=request.param,
        bulk=True,
    )
    k = build_kernel(parse_board(text))
    for p in k.processes:
        boot(k, p)
        assert call(k, p, MEMOP, 0, p.mem_start + HEAP) == (128, 0, 0, 0)  # brk
        k.handle_syscall(p, 0, 1, 0, 0, 0)  # yield-wait
    victim = k.processes[2]
    k.ram.write(secret_address(victim), SECRET)
    yield k
    k.ram.close()


# ---- helpers ------------------------------------------------------------------------------


def boot(kernel: Kernel, proc: Process) -> None:
    delivery = kernel.next_delivery(proc)  # `_start`
    assert delivery is not None and proc.state is State.RUNNING


def run(proc: Process) -> Process:
    """Hand `proc` the CPU, as the daemon does when it has nothing queued to deliver."""
    if proc.state is not State.RUNNING:
        proc.state = State.RUNNING
    return proc


def call(kernel: Kernel, proc: Process, cls: int, *regs: int) -> tuple[int, int, int, int] | None:
    r = (*regs, 0, 0, 0, 0)[:4]
    return kernel.handle_syscall(run(proc), cls, *r).reply


def secret_address(victim: Process) -> int:
    return victim.mem_start + 0x100


def fnptr(proc: Process) -> int:
    return proc.flash_start + 0x100


def slot(kernel: Kernel, proc: Process, driver: int, kind: str, n: int) -> int:
    """The address of an (upcall|allow_ro|allow_rw) pair or the state of a grant."""
    spec = kernel.capsules[driver].grant_spec
    base = proc.grant_ptrs[kernel.grant_numbers[driver]] + 4
    if kind == "upcall":
        return base + 8 * n
    if kind == "allow_ro":
        return base + 8 * (spec.upcalls + n)
    if kind == "allow_rw":
        return base + 8 * (spec.upcalls + spec.allow_ro + n)
    assert kind == "state"
    return proc.grant_ptrs[kernel.grant_numbers[driver]] + spec.state_offset


def forge(kernel: Kernel, address: int, *words: int) -> None:
    """What the owner does with a plain store into its own grant bytes."""
    kernel.ram.write(address, struct.pack(f"<{len(words)}I", *words))


def reachable_by(kernel: Kernel, owner: Process, address: int, length: int) -> list[str]:
    """Processes other than `owner` whose MPU opens any byte of [address, +length)."""
    out = []
    for p in kernel.processes:
        if p is owner or p.mpu is None:
            continue
        for start, end, _perms in kernel.mpu.accessible_ranges(p.mpu):
            if start < address + length and address < end:
                out.append(p.name)
    return out


def ipc(kernel: Kernel) -> Ipc:
    capsule = kernel.capsules[IPC]
    assert isinstance(capsule, Ipc)
    return capsule


def assert_contained(kernel: Kernel, forger: Process, entry: str) -> None:
    """The forger is faulted for `entry`; everyone else is untouched; the kernel goes on."""
    assert forger.state is State.FAULTED
    assert forger.fault_reason.startswith("forged grant: ")
    assert entry in forger.fault_reason, forger.fault_reason
    victim = kernel.find("victim")
    assert victim is not None
    assert kernel.ram.read(secret_address(victim), len(SECRET)) == SECRET
    assert reachable_by(kernel, victim, victim.mem_start, victim.memory_len) == []
    assert ipc(kernel).windows == []
    assert kernel.panicked is None
    for p in kernel.processes:
        if p is not forger:
            assert p.is_alive(), (p.name, p.fault_reason)
            # the kernel goes on: every other process still gets its syscalls answered
            assert call(kernel, p, COMMAND, int(DriverNum.LED), 0) == (129, 4, 0, 0)


def deputy_setup(kernel: Kernel) -> tuple[Process, Process, Process, int]:
    """A service registered at its index; the client shares a buffer with it."""
    client, service, victim = kernel.processes
    assert call(kernel, service, SUBSCRIBE, IPC, service.index, fnptr(service), 7)[0] == 130
    kernel.handle_syscall(service, 0, 1, 0, 0, 0)  # yield-wait
    buf = client.mem_start + 0x40
    kernel.ram.write(buf, b"client's own buffer")
    assert call(kernel, client, ALLOW_RW, IPC, service.index, buf, 64)[0] == 130
    return client, service, victim, buf


# ---- IPC: the confused deputy ---------------------------------------------------------------


def test_legit_share_is_exposed_to_the_service(kernel: Kernel) -> None:
    """The control: unforged, the same steps expose the client's own buffer."""
    client, service, _victim, buf = deputy_setup(kernel)
    assert call(kernel, client, COMMAND, IPC, 2, service.index) == (128, 0, 0, 0)
    assert kernel.next_delivery(service) == ("upcall", (fnptr(service), 0, 64, buf, 7))
    assert [(w.owner, w.ptr, w.length) for w in ipc(kernel).windows] == [(0, buf, 64)]
    assert client.is_alive() and not client.fault_reason


def test_ipc_allow_rw_pointing_at_another_apps_memory(kernel: Kernel) -> None:
    """The confused deputy: the notify is dropped and never exposed; only the client
    (the forger, not the running process) is faulted."""
    client, service, victim, _buf = deputy_setup(kernel)
    target = secret_address(victim)
    forge(kernel, slot(kernel, client, IPC, "allow_rw", service.index), target, 64)
    assert call(kernel, client, COMMAND, IPC, 2, service.index) == (128, 0, 0, 0)
    kernel.handle_syscall(client, 0, 1, 0, 0, 0)  # the client yields; the service runs
    assert kernel.next_delivery(service) is None  # nothing handed to the service
    assert service.state is State.YIELDED
    assert_contained(kernel, client, f"IPC allow_rw 1 ({target:#x}, 64) is outside its RAM")
    assert client.fault_reason.endswith("is outside its RAM below the break")


def test_ipc_allow_rw_pointing_into_own_grant_region(kernel: Kernel) -> None:
    client, service, _victim, _buf = deputy_setup(kernel)
    grants = client.kernel_memory_break
    forge(kernel, slot(kernel, client, IPC, "allow_rw", service.index), grants, 32)
    call(kernel, client, COMMAND, IPC, 2, service.index)
    assert kernel.next_delivery(service) is None
    assert_contained(kernel, client, f"IPC allow_rw 1 ({grants:#x}, 32) reaches into its kernel")
    assert reachable_by(kernel, client, grants, client.mem_end - grants) == []


def test_ipc_allow_rw_length_past_the_break(kernel: Kernel) -> None:
    client, service, _victim, buf = deputy_setup(kernel)
    length = client.app_break - buf + 1
    forge(kernel, slot(kernel, client, IPC, "allow_rw", service.index), buf, length)
    call(kernel, client, COMMAND, IPC, 2, service.index)
    assert kernel.next_delivery(service) is None
    assert_contained(kernel, client, f"IPC allow_rw 1 ({buf:#x}, {length}) is outside its RAM")


def test_ipc_allow_rw_huge_length_wrapping_past_4g(kernel: Kernel) -> None:
    client, service, _victim, buf = deputy_setup(kernel)
    forge(kernel, slot(kernel, client, IPC, "allow_rw", service.index), buf, 0xFFFF_FFFF)
    call(kernel, client, COMMAND, IPC, 2, service.index)
    assert kernel.next_delivery(service) is None
    assert_contained(kernel, client, "IPC allow_rw 1")


def test_zero_length_allow_with_any_pointer_is_legit(kernel: Kernel) -> None:
    """A zero-length allow is never dereferenced: its pointer is not checked."""
    client, service, _victim, _buf = deputy_setup(kernel)
    forge(kernel, slot(kernel, client, IPC, "allow_rw", service.index), 0xDEAD_BEEF, 0)
    call(kernel, client, COMMAND, IPC, 2, service.index)
    assert kernel.next_delivery(service) == ("upcall", (fnptr(service), 0, 0, 0, 7))
    assert client.is_alive() and ipc(kernel).windows == []


def test_service_forging_its_own_upcall_is_faulted_not_the_client(kernel: Kernel) -> None:
    client, service, _victim, _buf = deputy_setup(kernel)
    forge(kernel, slot(kernel, service, IPC, "upcall", service.index), 0xFFFF_FF00, 7)
    call(kernel, client, COMMAND, IPC, 2, service.index)
    assert kernel.next_delivery(service) is None
    assert_contained(kernel, service, "IPC upcall 1 fn pointer 0xffffff00 is neither 0 nor")


def test_client_forging_its_callback_is_faulted_when_the_service_notifies_it(
    kernel: Kernel,
) -> None:
    """The forger sleeps while the service (the running process) notifies it."""
    client, service, _victim, _buf = deputy_setup(kernel)
    assert call(kernel, client, SUBSCRIBE, IPC, service.index, fnptr(client), 0)[0] == 130
    kernel.handle_syscall(client, 0, 1, 0, 0, 0)
    forge(
        kernel,
        slot(kernel, client, IPC, "upcall", service.index),
        secret_address(kernel.processes[2]),
        0,
    )
    reply = call(kernel, service, COMMAND, IPC, 3, client.index)
    assert reply is not None and service.state is State.RUNNING
    if kernel.kernel_mode == "hardened":
        assert reply[:2] == (0, int(ErrorCode.NODEVICE))  # uniform_errors
    else:
        assert reply == (128, 0, 0, 0)
        assert kernel.next_delivery(client) is None  # the IPC delivery faults it
    assert_contained(kernel, client, "IPC upcall 1 fn pointer")


def test_ipc_discover_allow_ro_out_of_range(kernel: Kernel) -> None:
    client, _service, victim, _buf = deputy_setup(kernel)
    kernel.ram.write(secret_address(victim), b"service")  # a name to find in the victim
    call(kernel, client, COMMAND, IPC, 0)
    forge(kernel, slot(kernel, client, IPC, "allow_ro", 0), secret_address(victim), 7)
    assert call(kernel, client, COMMAND, IPC, 1) is None
    kernel.ram.write(secret_address(victim), SECRET)
    assert_contained(kernel, client, f"IPC allow_ro 0 ({secret_address(victim):#x}, 7) is neither")


# ---- console, rng, bulk: allows read by capsules ------------------------------------------------


def test_console_write_allow_ro_out_of_range(kernel: Kernel) -> None:
    client, _service, victim, _buf = deputy_setup(kernel)
    events: list[dict[str, object]] = []
    kernel.events.subscribe(events.append)
    call(kernel, client, COMMAND, CONSOLE, 0)
    buf = client.mem_start + 0x80
    assert call(kernel, client, ALLOW_RO, CONSOLE, 1, buf, 8)[0] == 130
    forge(kernel, slot(kernel, client, CONSOLE, "allow_ro", 1), secret_address(victim), 32)
    assert call(kernel, client, COMMAND, CONSOLE, 1, 32) is None
    kernel.run_due_timers()
    assert not [e for e in events if e["kind"] == "console"]  # the secret never printed
    assert_contained(kernel, client, "CONSOLE allow_ro 1")


def test_console_write_from_flash_is_legit(kernel: Kernel) -> None:
    client = kernel.processes[0]
    flash = client.flash_start + 0x200
    assert call(kernel, client, ALLOW_RO, CONSOLE, 1, flash, 16)[0] == 130
    assert call(kernel, client, COMMAND, CONSOLE, 1, 16) == (128, 0, 0, 0)
    assert client.is_alive()


def test_console_read_allow_rw_forged_before_input_arrives(kernel: Kernel) -> None:
    """Input typed on the control socket: the forger is faulted outside any syscall."""
    client, _service, victim, _buf = deputy_setup(kernel)
    assert call(kernel, client, ALLOW_RW, CONSOLE, 1, client.mem_start + 0x80, 16)[0] == 130
    assert call(kernel, client, COMMAND, CONSOLE, 2, 16) == (128, 0, 0, 0)
    kernel.handle_syscall(client, 0, 1, 0, 0, 0)
    forge(kernel, slot(kernel, client, CONSOLE, "allow_rw", 1), secret_address(victim), 16)
    kernel.capsules[CONSOLE].feed_input(client, b"overwrite secret")  # type: ignore[attr-defined]
    assert_contained(kernel, client, "CONSOLE allow_rw 1")


def test_rng_allow_rw_forged_before_the_fill_timer(kernel: Kernel) -> None:
    client, _service, victim, _buf = deputy_setup(kernel)
    assert call(kernel, client, ALLOW_RW, RNG, 0, client.mem_start + 0x80, 32)[0] == 130
    assert call(kernel, client, COMMAND, RNG, 1, 32) == (128, 0, 0, 0)
    kernel.handle_syscall(client, 0, 1, 0, 0, 0)
    forge(kernel, slot(kernel, client, RNG, "allow_rw", 0), secret_address(victim), 32)
    kernel.run_due_timers()  # the capsule's deferred work
    assert_contained(kernel, client, "RNG allow_rw 0")


def test_bulk_allow_ro_out_of_range(kernel: Kernel) -> None:
    client, _service, victim, _buf = deputy_setup(kernel)
    assert call(kernel, client, ALLOW_RO, BULK, 0, client.mem_start + 0x80, 32)[0] == 130
    forge(kernel, slot(kernel, client, BULK, "allow_ro", 0), victim.mem_start, 64)
    assert call(kernel, client, COMMAND, BULK, 2, 64) is None
    assert_contained(kernel, client, "driver 0xa0001 allow_ro 0")


# ---- upcall fn pointers and capsule state -----------------------------------------------------


@pytest.mark.parametrize("where", ["victim RAM", "own grant", "above 4G-1", "flash header"])
def test_alarm_upcall_fn_pointer_out_of_range(kernel: Kernel, where: str) -> None:
    client, _service, victim, _buf = deputy_setup(kernel)
    bad = {
        "victim RAM": secret_address(victim),
        "own grant": client.kernel_memory_break,
        "above 4G-1": 0xFFFF_FFFE,
        "flash header": client.flash_start,
    }[where]
    assert call(kernel, client, SUBSCRIBE, ALARM, 0, fnptr(client), 3)[0] == 130
    assert call(kernel, client, COMMAND, ALARM, 5, 0)[0] == 129  # fire at once
    forge(kernel, slot(kernel, client, ALARM, "upcall", 0), bad, 3)
    kernel.handle_syscall(client, 0, 1, 0, 0, 0)
    kernel.run_due_timers()
    assert not client.queue
    assert_contained(kernel, client, f"ALARM upcall 0 fn pointer {bad:#x}")


def test_alarm_armed_flag_out_of_range(kernel: Kernel) -> None:
    client = kernel.processes[0]
    assert call(kernel, client, COMMAND, ALARM, 5, 1_000_000)[0] == 129
    forge(kernel, slot(kernel, client, ALARM, "state", 0) + 8, 7)  # armed
    assert call(kernel, client, COMMAND, ALARM, 3) is None  # stop reads it
    assert_contained(kernel, client, "ALARM state armed = 0x7 is out of range")


def test_button_enabled_mask_out_of_range_others_still_notified(kernel: Kernel) -> None:
    client, service, _victim, _buf = deputy_setup(kernel)
    for p in (client, service):
        assert call(kernel, p, SUBSCRIBE, BUTTON, 0, fnptr(p), 0)[0] == 130
        assert call(kernel, p, COMMAND, BUTTON, 1, 0) == (128, 0, 0, 0)
        kernel.handle_syscall(p, 0, 1, 0, 0, 0)
    forge(kernel, slot(kernel, client, BUTTON, "state", 0), 0xFFFF_FFFF)
    assert kernel.capsules[BUTTON].set_button(0, True) == 1  # type: ignore[attr-defined]
    assert kernel.next_delivery(service) == ("upcall", (fnptr(service), 0, 1, 0, 0))
    assert_contained(kernel, client, "BUTTON state enabled = 0xffffffff is out of range")


def test_restarting_forger_comes_back_clean(kernel: Kernel) -> None:
    """With the restart policy the forger gets fresh grants; the kernel goes on."""
    client, service, victim, _buf = deputy_setup(kernel)
    faults: list[str] = []
    kernel.events.subscribe(lambda e: faults.append(e["reason"]) if e["kind"] == "fault" else None)
    client.spec.fault_policy = FaultPolicy.RESTART
    forge(kernel, slot(kernel, client, IPC, "allow_rw", service.index), victim.mem_start, 64)
    call(kernel, client, COMMAND, IPC, 2, service.index)
    assert kernel.next_delivery(service) is None
    assert client.restart_count == 1 and client.state is State.YIELDED
    assert faults == [
        f"forged grant: IPC allow_rw 1 ({victim.mem_start:#x}, 64) is outside "
        "its RAM below the break"
    ]
    assert kernel.ram.read(secret_address(victim), len(SECRET)) == SECRET
    assert ipc(kernel).windows == [] and service.is_alive()
    boot(kernel, client)
    assert call(kernel, client, COMMAND, int(DriverNum.LED), 0) == (129, 4, 0, 0)


def test_raw_allows_reads_every_allow_slot_in_order(kernel: Kernel) -> None:
    # the invariant checks read all allow slots at once: the same pairs, in the same
    # order, as one plain read per slot
    client = kernel.processes[0]
    ipc = kernel.capsules[IPC]
    assert call(kernel, client, COMMAND, IPC, 1, 0, 0) is not None  # enters its grant
    spec = ipc.grant_spec
    assert spec.allow_rw > 1
    for n in range(spec.allow_rw):
        forge(kernel, slot(kernel, client, IPC, "allow_rw", n), 0x1000 + n, 7 * n + 1)
    grant = kernel.grant_if_allocated(client, spec)
    assert grant is not None
    one_by_one = [grant.raw_allow_ro(i) for i in range(spec.allow_ro)]
    one_by_one += [grant.raw_allow_rw(i) for i in range(spec.allow_rw)]
    assert grant.raw_allows() == one_by_one
    assert grant.raw_allows()[spec.allow_ro + 1] == (0x1001, 8)
