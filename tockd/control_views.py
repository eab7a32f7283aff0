"""What the control socket's queries answer: read-only views of a daemon's state.

Each function reads the daemon and the kernel between two kernel steps and builds one
result of the control protocol (its TypedDict is in tockd/contract/control.py); none
changes anything, so the server may call them outside the kernel loop. The `ps` row
follows the columns of the process console's `list` command
(capsules/core/src/process_console.rs, release-2.2), with more of them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tockd.contract.abi import DriverNum
from tockd.contract.control import (
    BoardInfo,
    CapsuleName,
    GrantRow,
    IndexedMemoryMap,
    IpcView,
    MapGrant,
    MemoryMap,
    ProcessRow,
    RegionRow,
    ReplayView,
    SchedInfo,
    Snapshot,
    SnapshotProcess,
)
from tockd.kernel.process import Process

if TYPE_CHECKING:
    from tockd.daemon import Daemon

#: microseconds in a second of the kernel clock
_US = 1e6


def process_row(daemon: Daemon, p: Process) -> ProcessRow:
    return {
        "index": p.index,
        "name": p.name,
        "pid": p.pid if p.os is not None else None,
        "process_id": p.identifier,
        "state": p.state_debug(),
        "syscalls": p.syscall_count,
        "queue": len(p.queue),
        "dropped_upcalls": p.dropped_upcall_count,
        "restarts": p.restart_count,
        "timeslice_expirations": p.timeslice_expirations,
        "grants": len(p.grant_ptrs),
        "grants_total": len(daemon.kernel.grant_numbers),
        "current": daemon.current is p,
        "ready": p.ready(),
        "fault_reason": p.fault_reason,
        "completion_code": p.completion_code,
        "last_syscall": p.last_syscall,
    }


def _map_grants(daemon: Daemon, p: Process) -> list[MapGrant]:
    """The grants of a memory map: `grant_rows` without the capsule names."""
    return [
        {"driver": row["driver"], "address": row["address"], "size": row["size"]}
        for row in grant_rows(daemon, p)
    ]


def _regions(p: Process) -> list[RegionRow]:
    assert p.mpu is not None
    return [
        {
            "number": r.number,
            "start": r.start,
            "size": r.size,
            "perms": int(r.perms),
            "detail": r.detail,
            "ranges": [list(x) for x in r.opened()],
        }
        for r in p.mpu.regions()
    ]


def memory_map(daemon: Daemon, p: Process) -> MemoryMap:
    """The `mem` result: where a process's flash, RAM, break and grants are, and the
    MPU regions that guard them."""
    return {
        "name": p.name,
        "flash_start": p.flash_start,
        "flash_end": p.flash_end,
        "mem_start": p.mem_start,
        "mem_end": p.mem_end,
        "app_break": p.app_break,
        "kernel_memory_break": p.kernel_memory_break,
        "allow_high_water_mark": p.allow_high_water_mark,
        "grants": _map_grants(daemon, p),
        "mpu_model": daemon.kernel.mpu.name,
        "regions": _regions(p),
    }


def indexed_memory_map(daemon: Daemon, p: Process) -> IndexedMemoryMap:
    return {"index": p.index, **memory_map(daemon, p)}


def capsule_names(daemon: Daemon) -> list[CapsuleName]:
    """Driver number and capsule class name of every capsule of the board (a list:
    msgpack map keys must be strings)."""
    return [
        {"driver": driver, "name": type(c).__name__} for driver, c in daemon.kernel.capsules.items()
    ]


def grant_rows(daemon: Daemon, p: Process) -> list[GrantRow]:
    """The grants `p` has allocated: driver, capsule, address and bytes, by driver."""
    kernel = daemon.kernel
    rows: list[GrantRow] = []
    for driver, num in kernel.grant_numbers.items():
        address = p.grant_ptrs.get(num)
        if address is not None:
            capsule = kernel.capsules[driver]
            rows.append(
                {
                    "driver": driver,
                    "capsule": type(capsule).__name__,
                    "address": address,
                    "size": capsule.grant_spec.size,
                }
            )
    return rows


def board_info(daemon: Daemon) -> BoardInfo:
    cfg = daemon.cfg
    return {
        "board": cfg.name,
        "mpu": cfg.mpu,
        "scheduler": cfg.scheduler,
        "timeslice_us": cfg.timeslice_us,
        "kernel_mode": cfg.kernel_mode,
        "hardened": cfg.hardened,
        "ram_base": cfg.ram_base,
        "ram_size": cfg.ram_size,
        "daemon_pid": os.getpid(),
        "paused": daemon.paused,
    }


def sched_info(daemon: Daemon) -> SchedInfo:
    return {
        "kind": daemon.scheduler.name,
        "paused": daemon.paused,
        "current": daemon.current.index if daemon.current else None,
        "run_queue": daemon.scheduler.run_queue(),
        "decisions": daemon.decisions,
        "steps_pending": daemon.steps,
        "timeslice_us": daemon.cfg.timeslice_us,
    }


def ipc_description(daemon: Daemon) -> IpcView | None:
    """What the IPC capsule says of its services, clients and shared buffers, or None
    on a board without it (it is found by its driver number, not imported: the
    control server sits above the capsules but needs only this one method)."""
    describe = getattr(daemon.kernel.capsules.get(DriverNum.IPC), "describe", None)
    if describe is None:
        return None
    description: IpcView = describe()
    return description


def replay_view(daemon: Daemon) -> ReplayView | None:
    """The schedule file the board follows and where its run is, or None when it follows
    none (found by method name, not imported: the controlled scheduler is the lab's,
    which the control server sits beside and may not import)."""
    view = getattr(daemon.scheduler, "replay_view", None)
    if view is None:
        return None
    result: ReplayView | None = view()
    return result


def _snapshot_process(daemon: Daemon, p: Process) -> SnapshotProcess:
    return {
        **process_row(daemon, p),
        "grant_list": grant_rows(daemon, p),
        "app_break": p.app_break,
        "kernel_memory_break": p.kernel_memory_break,
    }


def snapshot(daemon: Daemon, mem: list[Process]) -> Snapshot:
    """Everything a dashboard shows, taken at one instant between two kernel steps.

    `seq` is the sequence number of the last event emitted before the snapshot, so a
    subscriber can line the snapshot up with its event stream exactly; `now_us` is the
    kernel clock on the scale of the events' `t`. `mem` holds the memory maps of the
    processes asked for; `ipc`, on a board with the IPC capsule, its services, clients
    and shared buffers.
    """
    kernel = daemon.kernel
    snap: Snapshot = {
        "seq": kernel.events.seq,
        "now_us": round(kernel.clock() * _US),
        "info": board_info(daemon),
        "sched": sched_info(daemon),
        "capsules": capsule_names(daemon),
        "processes": [_snapshot_process(daemon, p) for p in kernel.processes],
        "mem": [indexed_memory_map(daemon, p) for p in mem],
    }
    ipc = ipc_description(daemon)
    if ipc is not None:
        snap["ipc"] = ipc  # what the `ipc` op answers, at the same instant
    return snap
