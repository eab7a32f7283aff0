"""Touches memory it may not: `how` = read_other (another app's RAM, address in `addr`),
write_past_break, read_grant (its own grant region), raw_write (bypasses the checked view:
the mprotect backstop must stop it)."""

from apps_py.libtock import app_args, console, runtime
from apps_py.libtock.abi import Memop
from apps_py.libtock.syscalls import memop


def main() -> None:
    rt = runtime.current()
    how = str(app_args()["how"])
    console.write(f"peek {how}\n")
    brk = memop(Memop.SBRK, 0).r1
    if how == "read_other":
        rt.memory.read(int(str(app_args()["addr"])), 4)
    elif how == "write_past_break":
        rt.memory.write(brk + 64, b"x")
    elif how == "read_grant":
        rt.memory.read(memop(Memop.GRANT_START).r1, 4)
    elif how == "raw_write":
        rt.mm[int(str(app_args()["addr"])) - rt.memory.base] = 1
    console.write("not stopped\n")
