"""mailbox_client: logs one line, "<name> says hello", through the mailbox logger.

The mailbox is a 64-byte buffer shared with the logger: {u8 length; text} at the start,
a status byte at the end that the logger sets (LOGGED, or RESEND: "your mailbox was
empty, notify me again"). The bug, on purpose, for the lab: the client wakes the logger
first and fills the mailbox after, reasoning that the logger, like an upcall, cannot
look before this app yields. But the logger is another process: preempted right after
the notify, the client leaves the logger an empty mailbox. (The logger copes with one
such client; see apps_py/mailbox_logger.py for what two do.)

The logger's index comes from the board file (`[apps.args] logger`): the board fixes
the process order, logger first, and its clients are built knowing where it is, so they
need no `discover` (three syscalls each, three more places to be preempted).
"""

from apps_py.libtock import app_args, ipc, runtime, yield_wait

SIZE = 64
STATUS = SIZE - 1  # the logger's answer: LOGGED or RESEND
LOGGED, RESEND = 1, 2


def main() -> None:
    rt = runtime.current()
    mem = rt.memory
    logger = int(str(app_args()["logger"]))
    answers: list[int] = []
    buf = rt.heap.alloc(SIZE, align=SIZE)
    mem.write(buf, bytes(SIZE))  # an empty mailbox
    ipc.register_client(logger, lambda *_: answers.append(mem.read_u8(buf + STATUS)))
    ipc.share(logger, buf, SIZE).unwrap("share")
    text = f"{rt.desc['name']} says hello".encode()
    ipc.notify_service(logger)  # wake the logger, then fill the mailbox: the bug
    mem.write(buf, bytes([len(text)]) + text)
    while True:
        while not answers:
            yield_wait()
        if answers.pop() == LOGGED:
            return
        ipc.notify_service(logger)  # RESEND: the mailbox is full now
