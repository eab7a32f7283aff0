"""Sends hostile frames from a file to the kernel, one at a time, and survives faults.

args:
- `frames`: a msgpack file holding a list of `[data, pad]`: the bytes to send and,
  when `pad` is true, 128 KiB + 1 bytes of 0xc1 after them (never valid msgpack), so a
  prefix of garbage always ends in a decode error (or overflows the kernel's bounded
  decoder, which tolerates a few bytes past its 64 KiB) instead of waiting for more;
- `cursor`: this app's cursor file; before sending frame i the app stores i + 1 in it,
  so when a frame faults the app, its next incarnation (restart policy) goes on with the
  frame after it;
- `done`: the file it creates when every frame has been sent, before exiting.

After each frame it waits for the kernel's answer (a return, or an upcall; MPU updates
come first). An offending frame gets no answer: the kernel faults the app and closes
its socket, and the runtime exits on that EOF.
"""

import os
from pathlib import Path

import msgpack

from apps_py.libtock import app_args, runtime
from tockd.contract.abi import FRAME_MPU
from tockd.contract.wire import MAX_FRAME

PAD = b"\xc1" * (2 * MAX_FRAME + 1)


def main() -> None:
    args = app_args()
    frames = msgpack.unpackb(Path(str(args["frames"])).read_bytes())
    fd = os.open(str(args["cursor"]), os.O_RDWR | os.O_CREAT, 0o600)
    i = int.from_bytes(os.pread(fd, 8, 0) or b"\0", "little")
    rt = runtime.current()
    while i < len(frames):
        data, pad = frames[i]
        os.pwrite(fd, (i + 1).to_bytes(8, "little"), 0)
        try:
            rt.sock.sendall(data + PAD if pad else data)
        except OSError:
            os._exit(0)  # faulted while sending: the kernel closed the socket
        frame = rt._recv()
        while frame[0] == FRAME_MPU:
            rt.context_switch(frame)
            frame = rt._recv()
        i += 1
    os.close(fd)
    Path(str(args["done"])).touch()
