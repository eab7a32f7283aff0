"""The race lab's commands: explore a board's schedules, replay one, run an experiment.

- `tockd explore BOARD`: a sweep of the controlled scheduler (tockd/lab/explore.py);
  the first violation is shrunk, saved as a schedule file (where `--save` says, else in
  tockd's schedules directory, `tockd.lab.explore.schedules_dir`) and replayed; the
  progress is a live status line on a terminal, a plain line every few seconds
  elsewhere (tockd/lab/progress.py);
- `tockd replay FILE`: that schedule again, its digest checked (or, with `--tui`,
  walked decision by decision in the dashboard);
- `tockd experiment NAME`: one of the Tock IPC flaw experiments (tockd/experiment.py).

BOARD (and replay's `--board`) is a board file or a shipped board's name (`tockd boards`).

Exit status: 0 done, 1 the command could not run, 3 explore found a violation, 4 the
replay's digest differs from the recorded one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tockd.cli.common import board_file

if TYPE_CHECKING:
    from tockd.cli.common import Subparsers
    from tockd.lab.explore import Summary
    from tockd.lab.run import RunJson


def cmd_explore(args: argparse.Namespace) -> int:
    """`tockd explore`: announce the sweep, run it, report it. Exit status: 0 no
    violation, 3 a violation (shrunk and saved), 1 the sweep could not run."""
    from tockd.board import BoardError
    from tockd.lab.executor import ExecutorError
    from tockd.lab.progress import UNLIMITED

    props = args.property or ["notify-delivered"]
    if args.strategy != "exhaustive" and (args.no_reduce or args.preemption_bound is not None):
        print(
            "tockd: --preemption-bound and --no-reduce shape exhaustive search; "
            f"strategy {args.strategy} takes neither",
            file=sys.stderr,
        )
        return 1
    if args.save and not _writable(Path(args.save)):
        print(f"tockd: --save {args.save}: cannot write a file there", file=sys.stderr)
        return 1
    if args.preemption_bound is None:
        args.preemption_bound = 2
    if args.runs is None:  # exhaustive search goes until its tree is done
        args.runs = UNLIMITED if args.strategy == "exhaustive" else 200
    where = f"Ray ({args.ray})" if args.ray else f"{args.jobs} job(s)"
    print(
        f"exploring {args.config}: strategy {args.strategy}, "
        f"{'until the tree is searched' if args.runs >= UNLIMITED else f'{args.runs} runs'}, "
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


def _writable(target: Path) -> bool:
    """Could a file be written at `target` (checked before a sweep, not after it)?"""
    folder = target.parent  # "." for a bare name
    if target.is_dir() or not folder.is_dir():
        return False
    return os.access(target if target.exists() else folder, os.W_OK)


def _run_sweep(args: argparse.Namespace, props: list[str]) -> Summary:
    """The sweep `args` ask for, its records appended to `--out` (or to the `--resume`
    file, which then goes on growing)."""
    from tockd.lab.explore import explore
    from tockd.lab.progress import progress_for

    out_path = args.out or args.resume
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(out_path, "a")) if out_path else None
        return explore(
            board_file(args.config),
            props,
            strategy=args.strategy,
            runs=args.runs,
            jobs=args.jobs,
            seed=args.seed,
            check=True,
            adversity=args.adversity,
            out=out,
            save=args.save,
            progress=progress_for(args.runs, sys.stderr),
            stop_at_first=not args.keep_going,
            ray=args.ray,
            resume=args.resume,
            batch=args.batch,
            preemption_bound=args.preemption_bound,
            reduce=False if args.no_reduce else None,
            max_steps=args.max_steps,
        )


def _print_sweep(args: argparse.Namespace, s: Summary) -> None:
    """The sweep's counts; with Ray or several nodes, a line per node."""
    print(
        f"\n{'runs':<22}{s.runs}\n{'runs/s':<22}{s.runs_per_second:.1f}\n"
        f"{'orderings':<22}{_grown(s, 1, 'runs that only swap independent steps are one')}\n"
        f"{'observations':<22}{_grown(s, 2, 'what the apps saw')}\n"
        f"{'event streams':<22}{len(s.digests)} distinct (orders of independent steps "
        "count apart)"
    )
    if s.coverage is not None:
        points, states, tried, offered = s.coverage
        print(
            f"{'decisions':<22}{s.decisions} taken over all runs, at {states} distinct "
            f"states (the search tree's {points} points); {tried} of the {offered} "
            "options offered there tried (the others only reorder independent steps, "
            "or pass the bound)"
        )
    if s.divergent:
        print(
            f"{'NOT COMPLETE':<22}{s.divergent} run(s) did not replay their schedule: the "
            "board does not run the same way twice, so the search missed what follows"
        )
    print(f"{'violations':<22}{s.violations}\n{'timeouts':<22}{s.timeouts}")
    for why, n in sorted(s.cuts.items(), key=lambda item: -item[1]):
        print(f"{'cut short':<22}{n} run(s): {why}")
    _print_pairs(s)
    if s.resumed:
        print(f"{'resumed':<22}{s.resumed} runs read back from {args.resume}, not run again")
    if args.ray or len(s.nodes) > 1:
        print(f"\n{'node':<26}{'runs':>6}{'runs/s':>9}{'violations':>12}")
        for name, node in sorted(s.nodes.items()):
            print(f"{name:<26}{node.runs:>6}{s.node_rate(name):>9.1f}{node.violations:>12}")
        print()


def _grown(s: Summary, column: int, what: str) -> str:
    """A count of `s.growth` (1: orderings, 2: observations) and how it grew: the runs
    at which it reached each quarter of its final value."""
    final = s.growth[-1][column] if s.growth else 0
    if not final:
        return "0"
    at: list[tuple[int, int]] = []
    for q in (1, 2, 3, 4):
        goal = -(-final * q // 4)
        run = next(r[0] for r in s.growth if r[column] >= goal)
        if not at or at[-1][1] != run:
            at.append((goal, run))
    growth = ", ".join(f"{n} by run {run}" for n, run in at)
    return f"{final} distinct ({what}; {growth})"


#: racing pairs shown at the end of a sweep
PAIRS_SHOWN = 6


def _print_pairs(s: Summary) -> None:
    """The racing pairs of steps runs saw: first the pairs seen in both orders, those
    whose order made the most difference to violating a property first; then pairs
    seen in one order only, in runs that violated."""
    if not s.pairs:
        return
    both = {tuple(sorted(p)) for p in s.pairs if (p[1], p[0]) in s.pairs}
    print(
        f"{'racing pairs':<22}{len(s.pairs)} orders of conflicting steps seen; "
        f"{len(both)} pair{'' if len(both) == 1 else 's'} in both orders"
    )

    def rate(pair: tuple[str, str]) -> float:
        runs, bad = s.pairs[pair]
        return bad / runs

    def weight(pair: tuple[str, ...]) -> tuple[float, int, tuple[str, ...]]:
        a, b = pair
        difference = abs(rate((a, b)) - rate((b, a)))
        # the pair itself last: `both` is a set, whose order the hash seed changes
        return (-difference, -min(s.pairs[(a, b)][0], s.pairs[(b, a)][0]), pair)

    shown = 0
    for a, b in sorted(both, key=weight)[:PAIRS_SHOWN]:
        if rate((b, a)) > rate((a, b)):
            a, b = b, a  # the order that violated more first
        (n1, v1), (n2, v2) = s.pairs[(a, b)], s.pairs[(b, a)]
        print(f"  {a}  before  {b}: {n1} runs ({v1} violating); the other order {n2} ({v2})")
        shown += 1
    one_way = [p for p in s.pairs if (p[1], p[0]) not in s.pairs and s.pairs[p][1]]
    for a, b in sorted(one_way, key=lambda p: -s.pairs[p][1])[: PAIRS_SHOWN - shown]:
        n, v = s.pairs[(a, b)]
        print(f"  {a}  before  {b}: {n} runs ({v} violating); never the other order")


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
    if s.schedule_file is None:
        print(f"{'schedule NOT saved':<22}{s.save_error}")
        return
    print(f"{'schedule saved':<22}{s.schedule_file}")
    print(
        f"{'replay':<22}{'identical digest' if s.replay_digest_ok else 'DIFFERENT digest'}"
        f" ({shrunk['digest']})"
    )


def cmd_replay(args: argparse.Namespace) -> int:
    from tockd.lab.explore import replay

    if args.tui:
        from tockd.cli import main
        from tockd.lab.shrink import ScheduleFile

        try:
            board = args.board or ScheduleFile.read(Path(args.schedule)).board
        except (OSError, ValueError, KeyError) as e:
            print(f"tockd: cannot read {args.schedule}: {e}", file=sys.stderr)
            return 1
        # exactly `tockd run BOARD --schedule FILE --tui`, with run's own defaults
        return main(["run", str(board), "--schedule", args.schedule, "--tui"])

    from tockd.board import BoardError

    board = board_file(args.board) if args.board else None
    try:
        r = replay(args.schedule, board=board)
    except (OSError, ValueError, KeyError, BoardError) as e:
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


# ---- the parsers ----------------------------------------------------------------------


def _bound(text: str) -> int:
    """--preemption-bound: a count, or "none" (no bound: `strategy.UNBOUNDED`)."""
    if text.strip().lower() == "none":
        from tockd.lab.strategy import UNBOUNDED

        return UNBOUNDED
    return _at_least(text, 0, "a count (0 or more) or none")


def _count(text: str) -> int:
    """A count of 1 or more (--runs, --jobs, --batch, --max-steps)."""
    return _at_least(text, 1, "a count of 1 or more")


def _at_least(text: str, least: int, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = least - 1
    if n < least:
        raise argparse.ArgumentTypeError(f"{what}, not {text!r}")
    return n


def add_explore(sub: Subparsers) -> None:
    xp = sub.add_parser(
        "explore",
        help="explore schedules of a board under the controlled "
        "scheduler; shrink and save the first violation",
    )
    xp.set_defaults(handler=cmd_explore)
    xp.add_argument(
        "config", metavar="BOARD", help="a board file, or a shipped board's name (tockd boards)"
    )
    xp.add_argument(
        "--property",
        action="append",
        default=[],
        metavar="NAME",
        help="property to check (notify-delivered, no-faults, lines-intact, "
        "prints:APP:TEXT); repeatable; default notify-delivered",
    )
    xp.add_argument(
        "--strategy",
        default="pct",
        choices=["random", "pct", "exhaustive"],
        help="how runs choose at each decision: pct (default: a few seeded priority "
        "changes, finds shallow races fast), random (seeded coin flips), exhaustive "
        "(every ordering within --preemption-bound, skipping schedules that only "
        "reorder independent steps; docs/exploration.md)",
    )
    xp.add_argument(
        "--runs",
        type=_count,
        metavar="N",
        help="at most N runs (default 200; exhaustive: until the tree is searched)",
    )
    xp.add_argument(
        "--jobs",
        type=_count,
        default=1,
        help="worker processes on this machine, one core each (default 1); any "
        "number makes the same runs",
    )
    xp.add_argument("--seed", type=int, default=0, help="first seed (run i uses seed+i)")
    xp.add_argument(
        "--adversity",
        action="store_true",
        help="let the strategy inject faults, restarts, grant and queue failures",
    )
    xp.add_argument("--out", metavar="FILE", help="write one JSON record per run")
    xp.add_argument(
        "--save",
        metavar="FILE",
        help="schedule file for the first violation (default: a new file in "
        "$XDG_STATE_HOME/tockd/schedules, ~/.local/state/tockd/schedules without it; "
        "the path is printed)",
    )
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
    xp.add_argument("--batch", type=_count, metavar="N", help="seeds per work item (default: auto)")
    xp.add_argument(
        "--preemption-bound",
        type=_bound,
        metavar="N",
        help="exhaustive: at most N switches away from a process that could go on "
        "(default 2; a bug needing more is not found); none: no bound, every ordering "
        "(complete, but may not end on a big board)",
    )
    xp.add_argument(
        "--no-reduce",
        action="store_true",
        help="exhaustive: run every schedule, not one per ordering (reordering "
        "independent steps changes nothing; this is for measuring the reduction)",
    )
    xp.add_argument(
        "--keep-going",
        action="store_true",
        help="finish every run instead of stopping at the first violation",
    )
    xp.add_argument(
        "--max-steps",
        type=_count,
        metavar="N",
        help="cut a run whose board has not ended after N steps and count it as a "
        "timeout (default 20000; an app that makes syscalls forever is cut in about a "
        "second)",
    )


def add_replay(sub: Subparsers) -> None:
    rp = sub.add_parser("replay", help="replay a schedule file and check its digest")
    rp.set_defaults(handler=cmd_replay)
    rp.add_argument("schedule", help="a schedule file written by tockd explore")
    rp.add_argument(
        "--board",
        help="a board file or a shipped board's name (default: the one recorded)",
    )
    rp.add_argument("--trace", action="store_true", help="print the run's console output")
    rp.add_argument(
        "--tui",
        action="store_true",
        help="step through the schedule decision by decision in the dashboard",
    )


def add_experiment(sub: Subparsers) -> None:
    ex = sub.add_parser("experiment", help="run a Tock IPC flaw experiment (tock vs hardened)")
    ex.set_defaults(handler=cmd_experiment)
    ex.add_argument("name", nargs="?", help="experiment name (see --list), or 'all'")
    ex.add_argument("--list", action="store_true", help="list the experiments")
    ex.add_argument("--mode", choices=["tock", "hardened"], help="run one mode only")
