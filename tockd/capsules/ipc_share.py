"""IPC's shared buffers: the MPU windows one process's share opens in another's.

When the IPC capsule (tockd/capsules/ipc.py) delivers a notify, it exposes the caller's
read-write allow to the target through the target's MPU (`add_mpu_region` in
kernel/src/ipc.rs, release-2.2). Tock keeps no record of such a window besides the
region in the holder's MPU configuration, and never removes one (issue #4371). tockd
keeps each as a `Window`, so that:

- the same buffer is not exposed twice to one holder (Tock's `allocate_region` fails
  on the overlap, and its result is ignored, so the window stays as it was);
- the hardened switches can act on them: `refuse_unprotectable_share` tries a share on
  a copy of the peer's MPU configuration at allow time; `revoke_on_fault` and
  `keep_high_water_mark` revoke the windows others hold into a process, copy on revoke
  (tockd/kernel/memory.py `replace`), and keep grants above the highest byte still
  exposed (`exposed_end`);
- observers see them: the control socket's `ipc` view, the lab's invariants
  (tockd/lab/properties.py).

`SharedBuffers` is that table and what is done with it; the capsule decides when
(which switch is on, which hook ran).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tockd.contract import events as ev
from tockd.contract.control import IpcWindow
from tockd.contract.events import EventKind
from tockd.kernel.abi import ErrorCode
from tockd.kernel.mpu import MpuConfig, MpuError, Permission, Region

if TYPE_CHECKING:
    from tockd.kernel.kernel import Kernel
    from tockd.kernel.process import Process


@dataclass
class Window:
    """An MPU region of `holder` that exposes memory of `owner` (an IPC share)."""

    holder: int
    owner: int
    region: Region
    ptr: int
    length: int


class SharedBuffers:
    """The windows IPC has opened, by holder and owner (process indices)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.windows: list[Window] = []

    def refusal(self, proc: Process, num: int, address: int, size: int) -> ErrorCode | None:
        """Hardened refuse_unprotectable_share: `proc` shares [address, address+size)
        with process `num`. Could `num`'s MPU open a window on it now? Tried on a copy of
        its configuration; None if so, else the allow's error (SIZE: not representable,
        NOMEM: no free region)."""
        procs = self.kernel.processes
        if num >= len(procs) or procs[num] is proc or procs[num].mpu is None:
            return ErrorCode.INVAL
        trial = _copy_config(procs[num].mpu)  # type: ignore[arg-type]
        try:
            self.kernel.mpu.allocate_region(address, size, size, Permission.READ_WRITE, trial)
        except MpuError as e:
            self.kernel.emit(
                ev.IpcShareRefused(
                    kind=EventKind.IPC_SHARE_REFUSED,
                    target=num,
                    ptr=address,
                    length=size,
                    reason=str(e),
                ),
                proc,
            )
            return ErrorCode.NOMEM if "no free" in str(e) else ErrorCode.SIZE
        return None

    def expose(self, target: Process, owner: Process, ptr: int, length: int) -> bool:
        """`target.add_mpu_region(ptr, len, len)`; Tock ignores the result."""
        assert target.mpu is not None
        for w in self.windows:
            if w.holder == target.index and w.ptr == ptr and w.length == length:
                return True  # already exposed (Tock's allocate_region fails on the overlap)
        try:
            region = self.kernel.mpu.allocate_region(
                ptr, length, length, Permission.READ_WRITE, target.mpu
            )
        except MpuError as e:
            self.kernel.emit(
                ev.IpcShare(
                    kind=EventKind.IPC_SHARE,
                    owner=owner.index,
                    ptr=ptr,
                    length=length,
                    ok=False,
                    reason=str(e),
                ),
                target,
            )
            return False
        self.windows.append(Window(target.index, owner.index, region, ptr, length))
        target.mpu_dirty = True
        self.kernel.emit(
            ev.IpcShare(
                kind=EventKind.IPC_SHARE,
                owner=owner.index,
                ptr=ptr,
                length=length,
                ok=True,
                region_start=region.start,
                region_size=region.size,
            ),
            target,
        )
        return True

    def revoke_into(self, owner: Process, reason: str) -> None:
        """Remove every window other processes hold into `owner`'s memory, for real:
        the pages under each window get fresh objects (copy on revoke), so whatever
        mapping a holder kept no longer aliases the owner's memory."""
        kernel = self.kernel
        for w in [w for w in self.windows if w.owner == owner.index]:
            holder = kernel.processes[w.holder]
            if holder.mpu is not None:
                try:
                    kernel.mpu.remove_region(w.region, holder.mpu)
                except MpuError:
                    pass
                holder.mpu_dirty = True
            for start, end in w.region.opened():
                lo, hi = max(start, owner.mem_start), min(end, owner.mem_end)
                if hi > lo:
                    kernel.ram.replace(lo, hi - lo)
                    owner.mpu_dirty = True  # it maps the new objects at its next switch
            self.windows.remove(w)
            kernel.emit(
                ev.IpcRevoke(
                    kind=EventKind.IPC_REVOKE,
                    owner=owner.index,
                    ptr=w.ptr,
                    length=w.length,
                    reason=reason,
                ),
                holder,
            )

    def exposed_end(self, proc: Process) -> int:
        """The highest byte of `proc`'s memory inside a window another process holds."""
        ends = [
            min(end, proc.mem_end)
            for w in self.windows
            if w.owner == proc.index
            for start, end in w.region.opened()
            if end > proc.mem_start and start < proc.mem_end
        ]
        return max(ends, default=0)

    def release(self, proc: Process) -> None:
        """Tock's reset() clears the process's own MPU config, windows included; windows
        others hold into it are kept (issue #4371) unless revoke_on_fault removed them."""
        self.windows = [w for w in self.windows if w.holder != proc.index]

    def describe(self) -> list[IpcWindow]:
        """Every window, for the control socket."""
        return [
            {
                "holder": w.holder,
                "owner": w.owner,
                "ptr": w.ptr,
                "length": w.length,
                "region_start": w.region.start,
                "region_size": w.region.size,
            }
            for w in self.windows
        ]


def _copy_config(cfg: MpuConfig) -> MpuConfig:
    return MpuConfig(list(cfg.app_regions), cfg.flash, list(cfg.extra), cfg.app_block)


__all__ = ["SharedBuffers", "Window"]
