"""Crashes in the way its `how` argument says, after one syscall."""

import os
import signal

from apps_py.libtock import app_args, console, runtime


def main() -> None:
    how = str(app_args().get("how", "raise"))
    console.write(f"crasher {how}\n")
    rt = runtime.current()
    if how == "raise":
        raise ValueError("deliberate crash")
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "exit":
        os._exit(3)
    if how == "garbage":
        rt.sock.sendall(b"\xc1\xc1\xc1")  # 0xc1 is never valid msgpack
    elif how == "oversized":
        rt.sock.sendall(b"\xdb" + (1 << 30).to_bytes(4, "big") + b"a" * 70000)
    elif how == "wrong_shape":
        rt.sock.sendall(b"\x93\x01\x02\x03")  # [1, 2, 3]
    elif how == "bad_class":
        rt.sock.sendall(b"\x95\x09\x00\x00\x00\x00")  # syscall class 9
    elif how == "bad_yield":  # yield number 7: 2.2 returns to the process at once
        ret = rt.syscall(0, 7, 0, 0, 0)
        console.write(f"resumed after yield 7 with r0={ret.r0}\n")
        return
    elif how == "two_frames":
        rt.sock.sendall(b"\x95\x05\x02\x00\x00\x00" * 2)  # second before the reply
    elif how == "mpu":
        rt.memory.write(rt.memory.base + rt.memory.size - 4, b"boom")  # not our memory
    rt.sock.recv(100)  # the kernel answers by faulting us: EOF
    os._exit(0)
