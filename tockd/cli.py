"""`tockd`: run a board, and talk to a running one through its control socket.

tockd run configs/hello.toml [--trace] [--trace-jsonl FILE] [--forever]
tockd ps                      process table (like Tock's process console `list`)
tockd stop|start|boot|fault|terminate|restart NAME
tockd mem NAME                memory map and MPU regions of a process
tockd button N [--release]    press (or release) button N
tockd console NAME TEXT       type TEXT into NAME's console
tockd pause|resume            pause or resume the scheduler
tockd step [N]                let N more syscalls or upcalls happen while paused
tockd trace                   stream the live syscall trace of a running daemon
tockd tui                     live dashboard of a running daemon (run ... --tui: both)
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tockd.contract import wire
from tockd.contract.control import ControlClient, ControlFailed, Disconnected, open_socket

if TYPE_CHECKING:
    from tockd.lab.explore import Summary
    from tockd.lab.run import RunJson

EPILOG = "Board files are described in tockd/board.py; see README.md for a tour."


def _connect(path: str | None) -> socket.socket:
    """A connection to the daemon at `path`, or to the newest live one; a failure is
    the command line's exit message."""
    from tockd.control import ControlError, find_socket

    try:
        target = Path(path) if path else find_socket()
    except ControlError as e:
        raise SystemExit(f"tockd: {e}") from None
    try:
        return open_socket(target)
    except OSError as e:
        raise SystemExit(f"tockd: cannot connect to {target}: {e.strerror}") from None


class Client(ControlClient):
    """The blocking control client (tockd/contract/control.py) for the CLI and tests: it
    finds the daemon's socket itself, and turns the protocol's errors into the command
    line's exit message (SystemExit), as `tockd` prints them."""

    def __init__(self, path: str | None = None) -> None:
        super().__init__(_connect(path))

    def recv(self) -> Any:
        try:
            return super().recv()
        except Disconnected:
            raise SystemExit("tockd: the daemon closed the connection") from None

    def request(self, op: str, **fields: object) -> Any:
        try:
            return super().request(op, **fields)
        except (ControlFailed, Disconnected) as e:
            raise SystemExit(f"tockd: {e}") from None


def _print_ps(rows: list[dict[str, Any]]) -> None:
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


def _print_mem(m: dict[str, Any]) -> None:
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


def cmd_run(args: argparse.Namespace) -> int:
    from tockd.board import BoardError, load_board
    from tockd.runner import run_cli

    try:
        cfg = load_board(args.config)
    except BoardError as e:
        print(f"tockd: {e}", file=sys.stderr)
        return 1
    if args.cpu is not None:  # overrides the board's [board] cpu
        cfg.cpu = int(args.cpu) if args.cpu.isdigit() else args.cpu
    if args.tui:
        return _run_with_tui(args, cfg.name)
    return run_cli(cfg, args)


def _run_with_tui(args: argparse.Namespace, board: str) -> int:
    """`run --tui`: the daemon in a child process, the dashboard attached to it."""
    from tockd.control import default_socket_path
    from tui.launch import run_board_with_tui

    control = Path(args.control) if args.control else default_socket_path(board)
    # the board starts paused, so the dashboard sees it from its first decision
    child = [args.config, "--quiet", "--forever", "--paused"]
    if args.trace_jsonl:
        child += ["--trace-jsonl", args.trace_jsonl]
    if args.cpu is not None:
        child += ["--cpu", args.cpu]
    if args.schedule:
        child += ["--schedule", args.schedule]
    # a replay stays paused: the user walks it decision by decision with `n`
    return run_board_with_tui(child, control, control.with_suffix(".log"), resume=not args.schedule)


def cmd_tui(args: argparse.Namespace) -> int:
    from tockd.control import ControlError, find_socket

    try:
        path = Path(args.control) if args.control else find_socket()
    except ControlError as e:
        raise SystemExit(f"tockd: {e}") from None
    from tui import run

    return run(path)


def cmd_trace(args: argparse.Namespace) -> int:
    from tockd.trace import format_event

    client = Client(args.control)
    client.request("readonly")
    client.sock.sendall(wire.encode({"op": "subscribe"}))
    client.recv()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        while True:
            msg = client.recv()
            ev = msg.get("event", {})
            line = format_event(ev)
            if line is not None:
                print(line, flush=True)
    except SystemExit:
        return 0


def cmd_explore(args: argparse.Namespace) -> int:
    """`tockd explore`: announce the sweep, run it, report it. Exit status: 0 no
    violation, 3 a violation (shrunk and saved), 1 the sweep could not run."""
    from tockd.board import BoardError
    from tockd.lab.executor import ExecutorError

    props = args.property or ["notify-delivered"]
    where = f"Ray ({args.ray})" if args.ray else f"{args.jobs} job(s)"
    print(
        f"exploring {args.config}: strategy {args.strategy}, {args.runs} runs, "
        f"{where}, properties {', '.join(props)}"
        f"{', adversity on' if args.adversity else ''}",
        file=sys.stderr,
    )
    try:
        s = _run_sweep(args, props)
    except (BoardError, ValueError, OSError, ExecutorError) as e:
        print(f"tockd: {e}", file=sys.stderr)
        return 1
    _print_sweep(args, s)
    if s.first is None:
        print("no violation found")
        return 0
    _print_violation(s, s.first)
    return 3


def _run_sweep(args: argparse.Namespace, props: list[str]) -> Summary:
    """The sweep `args` ask for, its records appended to `--out` (or to the `--resume`
    file, which then goes on growing)."""
    from tockd.lab.explore import explore, progress_bar

    out_path = args.out or args.resume
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(out_path, "a")) if out_path else None
        return explore(
            args.config,
            props,
            strategy=args.strategy,
            runs=args.runs,
            jobs=args.jobs,
            seed=args.seed,
            check=True,
            adversity=args.adversity,
            out=out,
            save=args.save,
            progress=progress_bar(args.runs),
            stop_at_first=not args.keep_going,
            ray=args.ray,
            resume=args.resume,
            batch=args.batch,
        )


def _print_sweep(args: argparse.Namespace, s: Summary) -> None:
    """The sweep's counts; with Ray or several nodes, a line per node."""
    print(
        f"\n{'runs':<22}{s.runs}\n{'runs/s':<22}{s.runs_per_second:.1f}\n"
        f"{'distinct digests':<22}{len(s.digests)}\n{'violations':<22}{s.violations}\n"
        f"{'timeouts':<22}{s.timeouts}"
    )
    if s.resumed:
        print(f"{'resumed':<22}{s.resumed} runs read back from {args.resume}, not run again")
    if args.ray or len(s.nodes) > 1:
        print(f"\n{'node':<26}{'runs':>6}{'runs/s':>9}{'violations':>12}")
        for name, node in sorted(s.nodes.items()):
            print(f"{name:<26}{node.runs:>6}{s.node_rate(name):>9.1f}{node.violations:>12}")
        print()


def _print_violation(s: Summary, first: RunJson) -> None:
    """The violation kept, what shrinking made of it, and whether its replay matched."""
    shrunk = s.shrunk or first
    which = (
        f"seed {first['seed']}"
        if first["seed"] is not None
        else f"prefix {first['strategy'].get('prefix')}"  # exhaustive runs have no seed
    )
    print(f"{'first violation':<22}{which}, {first['decisions']} decisions")
    for v in (first["property_violations"] + first["invariant_violations"])[:5]:
        print(f"  {v}")
    print(
        f"{'shrunk to':<22}{shrunk.get('essential')} decision(s) off the default path "
        f"(of {len(shrunk['schedule'])})"
    )
    print(f"{'schedule saved':<22}{s.schedule_file}")
    print(
        f"{'replay':<22}{'identical digest' if s.replay_digest_ok else 'DIFFERENT digest'}"
        f" ({shrunk['digest']})"
    )


def cmd_replay(args: argparse.Namespace) -> int:
    from tockd.lab.explore import replay

    if args.tui:
        import json

        try:
            board = args.board or json.loads(Path(args.schedule).read_text())["board"]
        except (OSError, ValueError, KeyError) as e:
            print(f"tockd: cannot read {args.schedule}: {e}", file=sys.stderr)
            return 1
        # exactly `tockd run BOARD --schedule FILE --tui`, with run's own defaults
        return main(["run", str(board), "--schedule", args.schedule, "--tui"])

    try:
        r = replay(args.schedule, board=args.board)
    except (OSError, ValueError, KeyError) as e:
        print(f"tockd: cannot replay {args.schedule}: {e}", file=sys.stderr)
        return 1
    if r["board_changed"]:
        print("the board file changed since the schedule was saved")
    if r["divergence"]:
        print(f"diverged at {r['divergence']}; continued under a seeded strategy")
    if args.trace:
        for name, text in r["console"].items():
            for line in text.splitlines():
                print(f"[{name}] {line}")
    for v in r["property_violations"] + r["invariant_violations"]:
        print(f"violation: {v}")
    same = "identical" if r["identical"] else "DIFFERENT"
    print(
        f"verdict {r['verdict']}; digest {r['digest']} ({same} to the recorded "
        f"{r['recorded_digest']})"
    )
    return 0 if r["identical"] else 4


def cmd_experiment(args: argparse.Namespace) -> int:
    from tockd.experiment import MODES, catalogue, report

    experiments = catalogue()
    if args.list or not args.name:
        width = max(len(n) for n in experiments)
        for name, exp in experiments.items():
            print(f"{name:<{width}}  {exp.title}")
        return 0
    names = list(experiments) if args.name == "all" else [args.name]
    unknown = [n for n in names if n not in experiments]
    if unknown:
        print(f"tockd: no experiment {unknown[0]!r} (tockd experiment --list)", file=sys.stderr)
        return 1
    modes = [args.mode] if args.mode else list(MODES)
    for name in names:
        report(experiments[name], modes)
    return 0


# ---- control-socket commands: one handler each --------------------------------------


def _ctl_ps(client: Client, args: argparse.Namespace) -> None:
    _print_ps(client.request("ps"))


def _ctl_mem(client: Client, args: argparse.Namespace) -> None:
    _print_mem(client.request("mem", name=_name(args.name)))


def _ctl_button(client: Client, args: argparse.Namespace) -> None:
    n = client.request("button", index=args.index, pressed=not args.release)
    what = "released" if args.release else "pressed"
    print(f"button {args.index} {what}: {n} process(es) notified")


def _ctl_console(client: Client, args: argparse.Namespace) -> None:
    client.request("console", name=_name(args.name), text=args.text)


def _ctl_scheduler(client: Client, args: argparse.Namespace) -> None:
    paused = client.request(args.command)
    print("scheduler paused" if paused else "scheduler running")


def _ctl_step(client: Client, args: argparse.Namespace) -> None:
    done = client.request("step", count=args.count)
    print(f"{args.count} step(s) granted; {done} decision(s) taken so far")


def _ctl_process(client: Client, args: argparse.Namespace) -> None:
    print(client.request(args.command, name=_name(args.name)))


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


def _control_command(handler: ControlHandler) -> Callable[[argparse.Namespace], int]:
    """A command that sends one request to a running daemon."""

    def run(args: argparse.Namespace) -> int:
        client = Client(args.control)
        try:
            handler(client, args)
        finally:
            client.close()
        return 0

    return run


# ---- the parser: one builder per command ----------------------------------------------


def _add_run(sub: Any) -> None:
    run = sub.add_parser("run", help="run a board file")
    run.set_defaults(handler=cmd_run)
    run.add_argument("config", help="board file (TOML), e.g. configs/hello.toml")
    run.add_argument("--trace", action="store_true", help="print Tock's syscall trace")
    run.add_argument("--trace-jsonl", metavar="FILE", help="write every event as JSON lines")
    run.add_argument("--forever", action="store_true", help="keep running after apps exit")
    run.add_argument("--control", metavar="PATH", help="control socket path")
    run.add_argument("--quiet", action="store_true", help="do not print console output")
    run.add_argument(
        "--paused",
        action="store_true",
        help="start with the scheduler paused (apps wait at their first syscall until "
        "`tockd resume` or `tockd step`)",
    )
    run.add_argument(
        "--schedule",
        metavar="FILE",
        help="run under the controlled scheduler, following this schedule "
        "file (from tockd explore); with --tui, step through it with n",
    )
    run.add_argument(
        "--tui",
        action="store_true",
        help="watch the board in the live dashboard (it runs until you quit with q)",
    )
    run.add_argument(
        "--cpu",
        metavar="N|auto|off",
        help="the core of the daemon and every app (default: the board's cpu, auto)",
    )


def _add_control_commands(sub: Any) -> None:
    def control(name: str, help_: str, handler: Callable[..., int]) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_)
        p.add_argument("--control", metavar="PATH", help="control socket (default: newest)")
        p.set_defaults(handler=handler)
        return p

    control("ps", "list processes of the running daemon", _control_command(_ctl_ps))
    for name, help_ in PROCESS_COMMANDS.items():
        p = control(name, help_, _control_command(_ctl_process))
        p.add_argument("name", help="process (package) name or index")
    p = control("mem", "show a process's memory map and MPU regions", _control_command(_ctl_mem))
    p.add_argument("name", help="process (package) name or index")
    b = control("button", "press a button", _control_command(_ctl_button))
    b.add_argument("index", type=int)
    b.add_argument("--release", action="store_true", help="release instead of press")
    c = control("console", "type text into a process's console", _control_command(_ctl_console))
    c.add_argument("name")
    c.add_argument("text")
    control("pause", "pause the scheduler", _control_command(_ctl_scheduler))
    control("resume", "resume the scheduler", _control_command(_ctl_scheduler))
    st = control(
        "step",
        "while paused, let N more syscalls or upcall deliveries happen",
        _control_command(_ctl_step),
    )
    st.add_argument("count", type=int, nargs="?", default=1, help="how many (default 1)")
    control("trace", "stream the live syscall trace", cmd_trace)
    control("tui", "live dashboard of the running daemon (? in it for help)", cmd_tui)


def _add_explore(sub: Any) -> None:
    xp = sub.add_parser(
        "explore",
        help="explore schedules of a board under the controlled "
        "scheduler; shrink and save the first violation",
    )
    xp.set_defaults(handler=cmd_explore)
    xp.add_argument("config", help="board file")
    xp.add_argument(
        "--property",
        action="append",
        default=[],
        metavar="NAME",
        help="property to check (notify-delivered, no-faults, lines-intact, "
        "prints:APP:TEXT); repeatable; default notify-delivered",
    )
    xp.add_argument("--strategy", default="pct", choices=["random", "pct", "exhaustive"])
    xp.add_argument("--runs", type=int, default=200)
    xp.add_argument("--jobs", type=int, default=1)
    xp.add_argument("--seed", type=int, default=0, help="first seed (run i uses seed+i)")
    xp.add_argument(
        "--adversity",
        action="store_true",
        help="let the strategy inject faults, restarts, grant and queue failures",
    )
    xp.add_argument("--out", metavar="FILE", help="write one JSON record per run")
    xp.add_argument("--save", metavar="FILE", help="schedule file for the first violation")
    xp.add_argument(
        "--ray",
        metavar="auto|local|ADDRESS",
        help="run on a Ray cluster (pip install 'tockd[ray]'): auto joins the one "
        "RAY_ADDRESS or `ray start` set up, local starts a throwaway one of --jobs CPUs",
    )
    xp.add_argument(
        "--resume",
        metavar="FILE",
        help="skip the seeds whose records FILE holds (a killed sweep's --out) and go "
        "on appending to it",
    )
    xp.add_argument("--batch", type=int, metavar="N", help="seeds per work item (default: auto)")
    xp.add_argument(
        "--keep-going",
        action="store_true",
        help="finish every run instead of stopping at the first violation",
    )


def _add_replay(sub: Any) -> None:
    rp = sub.add_parser("replay", help="replay a schedule file and check its digest")
    rp.set_defaults(handler=cmd_replay)
    rp.add_argument("schedule", help="a schedule file written by tockd explore")
    rp.add_argument("--board", help="board file (default: the one recorded)")
    rp.add_argument("--trace", action="store_true", help="print the run's console output")
    rp.add_argument(
        "--tui",
        action="store_true",
        help="step through the schedule decision by decision in the dashboard",
    )


def _add_experiment(sub: Any) -> None:
    ex = sub.add_parser("experiment", help="run a Tock IPC flaw experiment (tock vs hardened)")
    ex.set_defaults(handler=cmd_experiment)
    ex.add_argument("name", nargs="?", help="experiment name (see --list), or 'all'")
    ex.add_argument("--list", action="store_true", help="list the experiments")
    ex.add_argument("--mode", choices=["tock", "hardened"], help="run one mode only")


#: every command's parser builder, in the order `tockd --help` lists them
COMMANDS: tuple[Callable[[Any], None], ...] = (
    _add_run,
    _add_control_commands,
    _add_explore,
    _add_replay,
    _add_experiment,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tockd",
        description="Run Tock's process model on Linux.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


def _name(text: str) -> str | int:
    return int(text) if text.isdigit() else text


if __name__ == "__main__":
    sys.exit(main())
