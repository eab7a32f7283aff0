"""mailbox_logger: an IPC logging service. A client fills its shared mailbox
{u8 length; text; ...; u8 status} and notifies; the logger prints `text`, sets the
status byte to LOGGED and notifies the client back.

A mailbox found empty is a client still writing, the logger reasons, so it looks again
in a millisecond, and asks the client to notify again (status RESEND) if it is still
empty then. The bug, on purpose, for the lab: it sets that retry with the alarm
driver's raw syscalls, as if each alarm it set were its own (libtock-c's alarm library
gives each caller one). But the driver keeps ONE alarm and ONE upcall per process: a
second empty mailbox before the first retry fired re-subscribes the upcall (now for
the second client) and re-arms the alarm, and the first client is never looked at
again. It waits for an answer forever and its line is never printed.

The logger knows its own index from the board file (`[apps.args] logger`, the same
number its clients are given), so it registers without `discover`.
"""

from apps_py.libtock import app_args, console, ipc, runtime, yield_wait
from apps_py.libtock.abi import DriverNum
from apps_py.libtock.syscalls import command, subscribe
from tockd.contract.drivers import ALARM_UPCALL, AlarmCommand

SIZE = 64
STATUS = SIZE - 1
LOGGED, RESEND = 1, 2
RETRY_TICKS = 1000  # look again a while later (1 ms at the alarm's default frequency)


def main() -> None:
    mem = runtime.current().memory

    def log(client: int, buf: int) -> bool:
        """Print the mailbox's line and answer LOGGED; False if it is empty."""
        n = mem.read_u8(buf)
        if not n:
            return False
        console.write(mem.read(buf + 1, min(n, STATUS - 1)).decode(errors="replace") + "\n")
        mem.write(buf, b"\0")
        mem.write_u8(buf + STATUS, LOGGED)
        ipc.notify_client(client)
        return True

    def look_again(client: int, buf: int) -> None:
        if not log(client, buf):
            mem.write_u8(buf + STATUS, RESEND)
            ipc.notify_client(client)

    def on_message(client: int, length: int, buf: int, _appdata: int) -> None:
        if length < SIZE or log(client, buf):
            return
        # still being written: retry this client later (one alarm per process: the bug)
        subscribe(DriverNum.ALARM, ALARM_UPCALL, lambda *_: look_again(client, buf))
        command(DriverNum.ALARM, AlarmCommand.SET_RELATIVE, RETRY_TICKS)

    ipc.register_service(on_message, index=int(str(app_args()["logger"])))
    while True:
        yield_wait()
