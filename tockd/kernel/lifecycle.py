"""A process's life: loading, boot, terminate, restart, fault, stop and resume.

Each follows its namesake in kernel/src/process_standard.rs (release-2.2) (`create`
for loading, with kernel/src/process_loading.rs), acting on the process and calling
the capsules' hooks; the OS side (stopping or respawning the real process) is asked
of `kernel.os`. These are functions of the kernel, as `memop.py` is; `Kernel` calls
them and keeps the methods capsules, the daemon and the lab use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tockd.contract import events as ev
from tockd.contract.events import EventKind
from tockd.kernel.flash import FlashError, build_image
from tockd.kernel.memory import PAGE
from tockd.kernel.mpu import MpuError
from tockd.kernel.process import FaultPolicy, Process, State, Task, TaskKind

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel

#: bytes of one grant pointer table entry (driver number, pointer), as process_standard.rs
GRANT_ENTRY_BYTES = 8

_STOPPABLE = (State.RUNNING, State.YIELDED, State.YIELDED_FOR)
_MPU_WRITE = 2
_MPU_EXECUTE = 1


# ---- loading ------------------------------------------------------------------------


def load_process(kernel: Kernel, proc: Process) -> None:
    """Place a process in flash and RAM, as the board's process loader does."""
    proc.mpu = kernel.mpu.new_config()
    size = _place_flash(kernel, proc)
    _place_ram(kernel, proc)
    kernel.processes.append(proc)
    reset_memory(kernel, proc)
    kernel.mpu.allocate_flash_region(proc.flash_start, size, proc.mpu)
    boot(kernel, proc)


def _place_flash(kernel: Kernel, proc: Process) -> int:
    """Program `proc`'s TBF image; flash is power-of-two sized and aligned so every MPU
    model can cover it. Returns its size."""
    spec = proc.spec
    size = 1 << max(spec.flash - 1, 255).bit_length()
    start = (kernel.flash_next + size - 1) & ~(size - 1)
    proc.flash_start, proc.flash_end = start, start + size
    kernel.flash_next = start + size
    try:
        image = build_image(start, size, spec.name, spec.ram, list(spec.rodata))
    except FlashError as e:
        raise FlashError(f"cannot load {spec.name}: {e}") from None
    kernel.flash.program(image)
    proc.flash_protected = image.protected  # Tock's `flash_non_protected_start`
    return size


def _place_ram(kernel: Kernel, proc: Process) -> None:
    """Allocate `proc`'s memory block through the MPU and back it with the shared RAM."""
    assert proc.mpu is not None
    spec = proc.spec
    k = kernel.initial_kernel_size
    arch_min = kernel.mpu.initial_app_brk_size
    try:
        mem_start, mem_len = kernel.mpu.allocate_app_memory_region(
            kernel.ram_next,
            kernel.ram.end - kernel.ram_next,
            max(spec.ram, arch_min) + k,
            arch_min,
            k,
            proc.mpu,
        )
    except MpuError as e:
        raise MpuError(f"cannot load {spec.name}: {e}") from None
    proc.mem_start, proc.memory_len = mem_start, mem_len
    # Blocks start and end on page boundaries, so that no page holds two processes'
    # memory: each app maps its own block's pages, and only those (memory.py).
    kernel.ram_next = (mem_start + mem_len + PAGE - 1) & ~(PAGE - 1)
    kernel.ram.back(mem_start, mem_len)


def reset_memory(kernel: Kernel, proc: Process) -> None:
    """Tock's initial memory marks: app break at the architecture minimum, the kernel's
    part at the top, no grants."""
    assert proc.mpu is not None
    proc.app_break = proc.mem_start + kernel.mpu.initial_app_brk_size
    proc.kernel_memory_break = proc.mem_end - kernel.initial_kernel_size
    proc.initial_kernel_break = proc.kernel_memory_break
    proc.allow_high_water_mark = proc.mem_start
    proc.grant_ptrs.clear()
    kernel.mpu.update_app_memory_region(proc.app_break, proc.kernel_memory_break, proc.mpu)
    clear_grant_table(kernel, proc)


def clear_grant_table(kernel: Kernel, proc: Process) -> None:
    """Every grant pointer entry to (driver_num 0, null), as process loading and
    terminate's `grant_ptrs_reset` do (process_standard.rs, 2.2). Nothing else of
    the block is touched: Tock zeroes neither the app's RAM nor old grant memory."""
    table_bytes = GRANT_ENTRY_BYTES * len(kernel.grant_numbers)
    kernel.ram.zero(proc.mem_end - table_bytes, table_bytes)


def boot(kernel: Kernel, proc: Process) -> None:
    """Queue the `_start` call; the process is Yielded until the scheduler runs it.
    Like Tock's process loader, `_start` and the app start come from the TBF header
    in flash (process_standard.rs, release-2.2)."""
    image = kernel.flash.image_at(proc.flash_start)
    proc.state = State.YIELDED
    proc.queue.clear()
    proc.queue.append(
        Task(
            TaskKind.FUNCTION_CALL,
            -1,
            0,
            proc.flash_start + image.init,
            proc.flash_start + image.protected,
            proc.mem_start,
            proc.memory_len,
            proc.app_break,
        )
    )


# ---- ending and restarting ----------------------------------------------------------


def terminate(kernel: Kernel, proc: Process, completion_code: int | None) -> None:
    """Tock's terminate(): empty the queue, free grants, state Terminated."""
    if not (proc.is_alive() or proc.state is State.FAULTED):
        return
    for capsule in kernel.capsules.values():
        capsule.terminating(proc)
    _clear_queue(kernel, proc)
    _release_grants(kernel, proc)
    proc.completion_code = completion_code
    proc.state = State.TERMINATED
    kernel.emit(ev.Terminated(kind=EventKind.TERMINATED, completion_code=completion_code), proc)
    if kernel.os is not None:
        kernel.os.stop_os_process(proc)


def _clear_queue(kernel: Kernel, proc: Process) -> None:
    if proc.queue:
        lost = list(proc.queue)
        proc.queue.clear()
        for capsule in kernel.capsules.values():
            capsule.tasks_lost(proc, lost)


def _release_grants(kernel: Kernel, proc: Process) -> None:
    for capsule in kernel.capsules.values():
        capsule.release(proc)
    proc.grant_ptrs.clear()
    clear_grant_table(kernel, proc)


def try_restart(kernel: Kernel, proc: Process, completion_code: int | None) -> None:
    """terminate() then reset(): a fresh identifier, Tock's memory marks, `_start`."""
    if proc.state is State.TERMINATED:
        return
    if kernel.os is not None:
        kernel.os.stop_os_process(proc)
    _clear_queue(kernel, proc)
    for capsule in kernel.capsules.values():
        capsule.restarting(proc)
    _release_grants(kernel, proc)
    proc.completion_code = completion_code
    reset(kernel, proc)
    if kernel.os is not None:
        kernel.os.respawn(proc)


def start(kernel: Kernel, proc: Process) -> bool:
    """Console `boot`: only from Terminated."""
    if proc.state is not State.TERMINATED:
        return False
    reset(kernel, proc)  # 2.2's start() is reset(), which raises the restart count
    if kernel.os is not None:
        kernel.os.respawn(proc)
    return True


def reset(kernel: Kernel, proc: Process) -> None:
    """Tock's `reset` (process_standard.rs, 2.2): a fresh identifier and counters, the
    process's MPU config rebuilt over the same block, memory marks reset, `_start`
    queued again."""
    old = proc.identifier
    proc.identifier = kernel.new_identifier()
    proc.syscall_count = 0
    proc.dropped_upcall_count = 0
    proc.timeslice_expirations = 0
    proc.last_call = ()
    proc.fault_reason = ""
    _rebuild_mpu_config(kernel, proc)
    hwm = proc.allow_high_water_mark
    if kernel.hardened.get("zero_on_restart", False):
        # hardened: the next life starts from zeroed RAM, so neither its own old
        # heap nor the kernel's old grant memory can be read back (experiment
        # stale_grant). Tock zeroes nothing here.
        kernel.ram.zero(proc.mem_start, proc.memory_len)
    reset_memory(kernel, proc)
    proc.restart_count += 1
    proc.mpu_dirty = True
    proc.wait_for = None
    boot(kernel, proc)
    kernel.emit(
        ev.Restart(
            kind=EventKind.RESTART,
            old_pid=old,
            restart_count=proc.restart_count,
            app_break=proc.app_break,
            kernel_memory_break=proc.kernel_memory_break,
            allow_high_water_mark=proc.allow_high_water_mark,
            grant_floor=kernel.grant_floor(proc),
            old_allow_high_water_mark=hwm,
        ),
        proc,
    )


def _rebuild_mpu_config(kernel: Kernel, proc: Process) -> None:
    """Tock resets the process's own MPU config, IPC windows included, and rebuilds
    the app region over the same block (`reset` in kernel/src/process_standard.rs, 2.2)."""
    assert proc.mpu is not None
    mpu = kernel.mpu
    mpu.reset_config(proc.mpu)
    mpu.allocate_app_memory_region(
        proc.mem_start,
        proc.memory_len,
        proc.memory_len,
        mpu.initial_app_brk_size,
        kernel.initial_kernel_size,
        proc.mpu,
    )
    mpu.allocate_flash_region(proc.flash_start, proc.flash_end - proc.flash_start, proc.mpu)


# ---- faults -------------------------------------------------------------------------


def mpu_fault(kernel: Kernel, proc: Process, address: int, length: int, access: int) -> None:
    """The runtime refused an access: fault with the address, kind and region table."""
    assert proc.mpu is not None
    kind = "write" if access & _MPU_WRITE else "execute" if access == _MPU_EXECUTE else "read"
    regions: list[ev.MpuRegion] = [
        {
            "number": r.number,
            "start": r.start,
            "size": r.size,
            "perms": int(r.perms),
            "detail": r.detail,
        }
        for r in proc.mpu.regions()
    ]
    fault(
        kernel,
        proc,
        f"MPU fault: {kind} of {length} byte(s) at {address:#x}{_whose(kernel, proc, address)}",
        ev.MpuFaultDetails(address=address, length=length, access=kind, regions=regions),
    )


def _whose(kernel: Kernel, proc: Process, address: int) -> str:
    """Whose memory or flash `address` is in, when not `proc`'s own RAM, for the reason."""
    procs = kernel.processes
    owner = next((p.name for p in procs if p.mem_start <= address < p.mem_end), None)
    where = f" (memory of {owner})" if owner and owner != proc.name else ""
    flash = next((p for p in procs if p.flash_start <= address < p.flash_end), None)
    if flash is not None:
        where = " (its own flash)" if flash is proc else f" (flash of {flash.name})"
    return where


def fault(
    kernel: Kernel, proc: Process, reason: str, mpu: ev.MpuFaultDetails | None = None
) -> None:
    """The process faulted: record why and apply its fault policy."""
    if not proc.is_alive():
        return
    proc.fault_reason = reason
    for capsule in kernel.capsules.values():
        capsule.faulted(proc)
    policy = _fault_policy(proc)
    event = ev.Fault(kind=EventKind.FAULT, reason=reason, policy=policy.value)
    if mpu is not None:
        event["address"], event["length"] = mpu["address"], mpu["length"]
        event["access"], event["regions"] = mpu["access"], mpu["regions"]
    kernel.emit(event, proc)
    if policy is FaultPolicy.PANIC:
        proc.state = State.FAULTED
        kernel.panicked = f"Process {proc.name} had a fault: {reason}"
        if kernel.os is not None:
            kernel.os.panic(kernel.panicked)
        return
    if policy is FaultPolicy.RESTART:
        try_restart(kernel, proc, None)
        return
    terminate(kernel, proc, None)
    proc.state = State.FAULTED


def _fault_policy(proc: Process) -> FaultPolicy:
    """The process's policy; a restart policy past its threshold stops the process
    instead, like Tock's `ThresholdRestartFaultPolicy`
    (capsules/system/src/process_policies.rs, release-2.2)."""
    policy = proc.spec.fault_policy
    threshold = proc.spec.restart_threshold
    if policy is FaultPolicy.RESTART and threshold is not None and proc.restart_count > threshold:
        return FaultPolicy.STOP
    return policy


# ---- stop and resume (the process console) ------------------------------------------


def stop(kernel: Kernel, proc: Process) -> bool:
    if proc.state in _STOPPABLE:
        proc.stopped_from = proc.state
        proc.state = State.STOPPED
        kernel.emit(ev.Bare(kind=EventKind.STOPPED), proc)
        return True
    return False


def resume(kernel: Kernel, proc: Process) -> bool:
    if proc.state is State.STOPPED:
        proc.state = proc.stopped_from or State.RUNNING
        proc.stopped_from = None
        kernel.emit(ev.Bare(kind=EventKind.RESUMED), proc)
        if kernel.os is not None:
            kernel.os.wake()
        return True
    return False
