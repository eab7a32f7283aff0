"""The commands that send one request to a running daemon and print its answer.

`ps`, `mem`, the process commands (stop, start, boot, fault, terminate, restart), `button`,
`console`, `pause`, `resume` and `step`: each is a handler that takes the connected
`Client` and the parsed arguments; `_control_command` opens the connection around it.
`ps` and the process commands answer like Tock's process console (`list`, `stop`, ...;
capsules/core/src/process_console.rs, release-2.2), with the results typed in
tockd/contract/control.py. `trace` and `tui` also talk to a daemon, but watch it rather
than ask it once: they live in tockd/cli/run.py.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from tockd.cli.common import Client, Handler, add_control_parser, process_name
from tockd.contract.control import MemoryMap, ProcessRow

if TYPE_CHECKING:
    from tockd.cli.common import Subparsers


def _print_ps(rows: list[ProcessRow]) -> None:
    print(
        f" {'PID':<6} {'OS pid':<8} {'Name':<28}{'Quanta':>7}{'Syscalls':>10}"
        f"{'Dropped':>9}{'Restarts':>10}{'Queue':>7}  Grants  State"
    )
    for r in rows:
        mark = "*" if r["current"] else " "
        pid = "-" if r["pid"] is None else str(r["pid"])
        print(
            f"{mark}{r['process_id']:<6} {pid:<8} {r['name']:<28}{r['timeslice_expirations']:>7}"
            f"{r['syscalls']:>10}{r['dropped_upcalls']:>9}{r['restarts']:>10}{r['queue']:>7}"
            f"  {r['grants']:>2}/{r['grants_total']:<2}   {r['state']}"
        )


def _print_mem(m: MemoryMap) -> None:
    print(f"{m['name']}  (MPU model: {m['mpu_model']})")
    print(f"  flash               {m['flash_start']:#010x} .. {m['flash_end']:#010x}")
    print(f"  RAM end             {m['mem_end']:#010x}")
    top = m["mem_end"]
    for g in sorted(m["grants"], key=lambda g: -g["address"]):
        print(f"    grant {g['driver']:#07x}     {g['address']:#010x}  {g['size']:>5} B")
    print(
        f"  kernel_memory_break {m['kernel_memory_break']:#010x}  "
        f"(kernel memory {top - m['kernel_memory_break']} B)"
    )
    print(
        f"  app_break           {m['app_break']:#010x}  "
        f"(app memory {m['app_break'] - m['mem_start']} B)"
    )
    print(f"  allow high-water    {m['allow_high_water_mark']:#010x}")
    print(f"  RAM start           {m['mem_start']:#010x}")
    print("  MPU regions:")
    for r in m["regions"]:
        perms = "".join(c if r["perms"] & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))
        print(f"    #{r['number']}  {r['start']:#010x} +{r['size']:<7} {perms}  {r['detail']}")


# ---- one handler per command -----------------------------------------------------------


def _ctl_ps(client: Client, args: argparse.Namespace) -> None:
    rows: list[ProcessRow] = client.request("ps")
    _print_ps(rows)


def _ctl_mem(client: Client, args: argparse.Namespace) -> None:
    layout: MemoryMap = client.request("mem", name=process_name(args.name))
    _print_mem(layout)


def _ctl_button(client: Client, args: argparse.Namespace) -> None:
    n = client.request("button", index=args.index, pressed=not args.release)
    what = "released" if args.release else "pressed"
    print(f"button {args.index} {what}: {n} process(es) notified")


def _ctl_console(client: Client, args: argparse.Namespace) -> None:
    client.request("console", name=process_name(args.name), text=args.text)


def _ctl_scheduler(client: Client, args: argparse.Namespace) -> None:
    paused = client.request(args.command)
    print("scheduler paused" if paused else "scheduler running")


def _ctl_step(client: Client, args: argparse.Namespace) -> None:
    done = client.request("step", count=args.count)
    print(f"{args.count} step(s) granted; {done} decision(s) taken so far")


def _ctl_process(client: Client, args: argparse.Namespace) -> None:
    print(client.request(args.command, name=process_name(args.name)))


ControlHandler = Callable[[Client, argparse.Namespace], None]

#: process console commands that take one process name and print the daemon's answer
PROCESS_COMMANDS = {
    "stop": "stop a process",
    "start": "resume a stopped process",
    "boot": "boot a terminated process",
    "fault": "fault a process (its policy applies)",
    "terminate": "terminate a process",
    "restart": "restart a process",
}


def _control_command(handler: ControlHandler) -> Handler:
    """A command that sends one request to a running daemon."""

    def run(args: argparse.Namespace) -> int:
        client = Client(args.control)
        try:
            handler(client, args)
        finally:
            client.close()
        return 0

    return run


# ---- the parsers, in the order `tockd --help` lists them --------------------------------


def add_control_commands(sub: Subparsers) -> None:
    """ps, the process commands, mem, button, console, pause, resume and step."""

    def control(name: str, help_: str, handler: ControlHandler) -> argparse.ArgumentParser:
        return add_control_parser(sub, name, help_, _control_command(handler))

    control("ps", "list processes of the running daemon", _ctl_ps)
    for name, help_ in PROCESS_COMMANDS.items():
        p = control(name, help_, _ctl_process)
        p.add_argument("name", help="process (package) name or index")
    p = control("mem", "show a process's memory map and MPU regions", _ctl_mem)
    p.add_argument("name", help="process (package) name or index")
    b = control("button", "press a button", _ctl_button)
    b.add_argument("index", type=int, help="the button's number on the board, from 0")
    b.add_argument("--release", action="store_true", help="release instead of press")
    c = control("console", "type text into a process's console", _ctl_console)
    c.add_argument("name", help="process (package) name or index")
    c.add_argument("text", help="what to type, byte for byte (no newline is added)")
    control("pause", "pause the scheduler", _ctl_scheduler)
    control("resume", "resume the scheduler", _ctl_scheduler)
    st = control("step", "while paused, let N more syscalls or upcall deliveries happen", _ctl_step)
    st.add_argument("count", type=int, nargs="?", default=1, help="how many (default 1)")
