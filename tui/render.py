"""Board -> text for each pane: pure functions, so they are tested without a terminal.

Colours inside a pane's text are looked up by role (`state-running`, `mem-grant`, ...)
in `STYLES`. The defaults here are only a fallback: the app replaces them at start from
the `Palette` component classes in `tockd.tcss`, where every colour of the dashboard is.

Everything here is a rich `Text`, never markup: a process name, a capsule name, console
output or a trace filter is shown as it reads, brackets and all (`literal`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.style import Style, StyleType
from rich.text import Text

from tockd.contract.control import IpcWindow
from tockd.tui.board import Board, Grant, MemMap, ProcRow

SPARKS = "▁▁▂▃▄▅▆▇█"
REDACTED = "·"

#: colour roles and their fallback styles (tockd.tcss has the real ones)
STYLES: dict[str, StyleType] = {
    "state-running": "bold green",
    "state-yielded": "cyan",
    "state-stopped": "yellow",
    "state-faulted": "bold red",
    "state-terminated": "dim",
    "current": "bold green",
    "ready": "green",
    "dropped": "bold red",
    "spark": "green",
    "paused": "bold black on yellow",
    "running": "bold black on green",
    "mem-app": "green",
    "mem-free": "dim",
    "mem-grant": "magenta",
    "mem-shared": "bold yellow",
    "mem-mpu": "yellow",
    "mem-window": "bold yellow",
    "highlight": "reverse",
}
ROLES = tuple(STYLES)
_STATE_ROLES = {
    "Running": "state-running",
    "Yielded": "state-yielded",
    "YieldedFor": "state-yielded",
    "Stopped": "state-stopped",
    "Faulted": "state-faulted",
    "Terminated": "state-terminated",
}


def literal(text: str) -> Text:
    """`text` exactly as it reads. A name, a filter or a line of console output comes
    from an app or a user; given as a str to a widget that parses markup (a border
    title, a DataTable label, a Static), `spin[/x]` would not parse (the dashboard
    crashed) and `foo[bar]` would lose `[bar]`. Every such str goes through here."""
    return Text(text)


def plural(count: int, one: str, many: str | None = None) -> str:
    """`1 grant`, `2 grants`; `many` where adding an s is not the plural."""
    return f"{count} {one}" if count == 1 else f"{count} {many or one + 's'}"


def use_styles(styles: Mapping[str, StyleType]) -> None:
    """Take the dashboard's colours (from tockd.tcss) for the roles."""
    STYLES.update(styles)


def st(role: str) -> StyleType:
    return STYLES.get(role, Style())


def state_style(state: str) -> StyleType:
    role = _STATE_ROLES.get(state.split("(", 1)[0])
    return st(role) if role else Style()


def short_state(state: str) -> str:
    """Tock's Debug text, shortened for a table cell: YieldedFor(0x0:1), Stopped(Yielded)."""
    if state.startswith("YieldedFor(UpcallId"):
        inner = state[state.index("{") + 1 : state.rindex("}")]
        parts = dict(p.strip().split(": ") for p in inner.split(","))
        return f"YieldedFor({parts.get('driver_num', '?')}:{parts.get('subscribe_num', '?')})"
    return state


def sparkline(values: list[float], top: float, width: int = 8) -> str:
    """`values` (newest last) as block glyphs scaled to `top`, right-aligned in `width`."""
    tail = values[-width:]
    if top <= 0:
        glyphs = [SPARKS[0] if v <= 0 else SPARKS[1] for v in tail]
    else:
        glyphs = [SPARKS[0] if v <= 0 else SPARKS[max(1, min(8, round(v / top * 8)))] for v in tail]
    return "".join(glyphs).rjust(width, SPARKS[0])


def human_rate(rate: float) -> str:
    if rate >= 9_950:
        return f"{rate / 1000:.0f}k"
    if rate >= 1000:
        return f"{rate / 1000:.1f}k"
    return f"{rate:.0f}"


def human_bytes(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f}M"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.0f}K"
    return f"{n}B"


def short_name(name: str, width: int = 26) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def marker(p: ProcRow) -> Text:
    """`▶` on the CPU, `•` ready (runnable, waiting for the CPU), else blank."""
    if p.current:
        return Text("▶", style=st("current"))
    if p.ready:
        return Text("•", style=st("ready"))
    return Text(" ")


def state_cell(p: ProcRow) -> Text:
    """Tock's state in its colour. Tock's `Running` means runnable: only the process on
    the CPU looks running; one that waits for the CPU says so, in the ready colour. On
    a board whose daemon is gone, the state it was last seen in, dimmed."""
    state = short_state(p.state)
    if p.gone:
        return Text(f"gone (was {state})", style="dim")
    if p.state == "Running" and not p.current:
        return Text(RUNNING_READY, style=st("ready"))
    return Text(state, style=state_style(p.state))


#: the State cell of a process in Tock's Running state that is not on the CPU
RUNNING_READY = "Running (ready)"
#: how many keyframes' rates a sparkline shows
SPARK_WIDTH = 6


def rate_cell(values: list[float], *, redact: bool = False, gone: bool = False) -> Text:
    """The rate now (`-` once the process is gone with its daemon), the sparkline
    scaled to this process's own peak (a quiet app is not flat beside a busy one), and
    that peak."""
    if redact:
        return Text.assemble(REDACTED.rjust(4), " " * (SPARK_WIDTH + 2), REDACTED.rjust(4))
    shown = values[-SPARK_WIDTH:]
    peak = max(shown, default=0.0)
    now = "-" if gone else human_rate(values[-1] if values else 0.0)
    return Text.assemble(
        now.rjust(4),
        " ",
        (sparkline(shown, peak, SPARK_WIDTH), st("spark")),
        " ",
        (human_rate(peak).rjust(4), "dim"),
    )


def _num(value: object, style: StyleType = "") -> Text:
    return Text(str(value), style=style, justify="right")


def process_cells(
    p: ProcRow, rates: list[float], stats: tuple[float, int] | None, redact: bool
) -> tuple[Text, ...]:
    """The cells of one process table row, in column order (Text, never markup: the
    table would parse every str cell as markup on each update). `rates`: the process's
    syscall rates at the last keyframes, newest last."""
    if redact:
        os_pid, cpu, rss = REDACTED * 5, REDACTED, REDACTED
    else:
        os_pid = "-" if p.os_pid is None else str(p.os_pid)
        cpu = "-" if stats is None else f"{stats[0]:.0f}"
        rss = "-" if stats is None else human_bytes(stats[1])
    return (
        marker(p),
        _num(p.index),
        _num(p.process_id),
        _num(os_pid),
        Text(p.name),  # the table cuts it to its column, at the front
        state_cell(p),
        _num(p.syscalls),
        rate_cell(rates, redact=redact, gone=p.gone),
        _num(p.queue),
        _num(p.dropped, st("dropped") if p.dropped else ""),
        _num(p.restarts),
        _num(cpu),
        _num(rss),
    )


#: states after which a process runs no more until it is restarted
ENDED = ("Terminated", "Faulted")


def scheduler_text(board: Board, *, redact: bool = False) -> Text:
    """Two lines: scheduler kind, paused or running (or the daemon gone), current
    process and its timeslice left, decisions; then the run queue in order (ready
    processes bright; ended ones are not in it)."""
    s = board.sched
    text = Text()
    text.append(f"{s.kind}  ", style="bold")
    if board.gone is not None:
        text.append(" DAEMON GONE ", style=st("state-faulted"))
    elif s.paused:
        text.append(" PAUSED ", style=st("paused"))
    else:
        text.append(" running ", style=st("running"))
    text.append("  current: ")
    _current(text, board, redact)
    text.append(f"  decisions {s.decisions}")
    text.append("\nrun queue: ")
    _run_queue(text, board)
    return text


def _current(text: Text, board: Board, redact: bool) -> None:
    s = board.sched
    current = board.proc(s.current) if s.current is not None else None
    if board.gone is not None:
        text.append(f"none ({board.gone}; the last state it reported)", style="dim")
    elif current is None:
        text.append("none (kernel idle)", style="dim")
    else:
        text.append(f"[{current.process_id}] {short_name(current.name, 30)}", style="bold")
        left = board.timeslice_left_us()
        if left is not None and not redact:
            text.append(f"  timeslice left {left / 1000:.1f} ms of {(s.slice_us or 0) / 1000:.0f}")


def _run_queue(text: Text, board: Board) -> None:
    queued = [p for p in map(board.proc, board.sched.run_queue) if p is not None]
    queued = [p for p in queued if p.state.split("(", 1)[0] not in ENDED]
    for n, p in enumerate(queued):
        if n == 12:
            text.append(f"… (+{len(queued) - n})", style="dim")
            break
        text.append(p.name.rsplit(".", 1)[-1], style=st("ready") if p.ready else "dim")
        text.append(" → " if n < len(queued) - 1 else "")


def grant_drivers(board: Board) -> set[int]:
    """The drivers of the capsules some process holds a grant of."""
    return {g.driver for p in board.procs for g in p.grants}


def grant_columns(board: Board, drivers: Iterable[int]) -> list[tuple[int, str]]:
    """(driver, capsule name) of each of `drivers`, in driver order: the Grants table
    keeps a column for every capsule it has seen a grant of, so its columns stay put
    while the board moves (back and forth in time, a process restarting)."""
    return sorted((d, board.capsules.get(d, f"{d:#x}")) for d in set(drivers))


#: the Grants table's Process column, at least (names are cut at the front to fit)
GRANT_NAME_MIN = 14


def grant_name_width(board: Board, columns: list[tuple[int, str]], room: int) -> int:
    """The Grants table's Process column: the longest name, if `room` (the table's
    width) leaves that much beside the capsule and Total columns, else what it leaves,
    never under GRANT_NAME_MIN. Each column takes two cells of padding."""
    longest = max((len(p.name) for p in board.procs), default=0)
    others = sum(grant_column_width(name) + 2 for _, name in columns) + 5 + 2
    return max(GRANT_NAME_MIN, min(longest, room - others - 2 - 2))  # border, scroll bar


def grant_column_width(name: str) -> int:
    return max(5, len(name))


def grant_cells(
    p: ProcRow, columns: list[tuple[int, str]], name_width: int = GRANT_NAME_MIN
) -> tuple[Text, ...]:
    by_driver: dict[int, Grant] = {g.driver: g for g in p.grants}
    cells = [_num(by_driver[d].size) if d in by_driver else _num("·") for d, _ in columns]
    total = sum(g.size for g in p.grants)
    return (Text(short_name(p.name, name_width)), *cells, _num(total if total else "·"))


def _bar(start: int, size: int, lo: int, hi: int, width: int, glyph: str) -> str:
    """A bar for [start, start+size) on the scale [lo, hi), `width` cells wide."""
    span = max(1, hi - lo)
    a = (max(start, lo) - lo) * width / span
    b = (min(start + size, hi) - lo) * width / span
    if b <= 0 or a >= width or size <= 0:
        return " " * width
    first = min(width - 1, int(a))
    last = max(first + 1, min(width, round(b)))
    return " " * first + glyph * (last - first) + " " * (width - last)


def memory_text(
    m: MemMap | None,
    p: ProcRow | None,
    width: int,
    windows: list[IpcWindow] | None = None,
    board: Board | None = None,
    *,
    redact: bool = False,
) -> Text:
    """The selected process's memory as bars on one RAM scale: app memory up to
    app_break, the free gap, the grant block down to kernel_memory_break (each grant),
    buffers it shares over IPC, and every MPU region, clipped to the process's RAM
    block; a region that is an IPC window into another process says whose."""
    text = Text(no_wrap=True, overflow="crop")
    if p is None:
        return Text("no process selected", style="dim")
    if m is None:
        return Text(f"{p.name}: no memory map received yet", style="dim")
    bar_w = max(8, min(48, width - 38))
    lo, hi = m.mem_start, m.mem_end

    room = width - 36 - bar_w  # for a note after the bar

    def line(label: str, start: int, size: int, glyph: str, role: str, note: str = "") -> None:
        style = st(role)
        text.append(f"{label:<14.14}", style=style)
        text.append(f"{start:#010x} {size:>6} ")
        text.append("│")
        text.append(_bar(start, size, lo, hi, bar_w, glyph), style=style)
        text.append("│")
        if note and len(note) < room:
            text.append(f" {note}", style="dim")
        text.append("\n")

    text.append(f"RAM {lo:#010x}+{hi - lo}", style="bold")
    text.append(f" · flash {m.flash_start:#010x}+{m.flash_end - m.flash_start}", style="dim")
    text.append(f" · MPU {m.mpu_model}\n", style="dim")
    line("app memory", lo, m.app_break - lo, "█", "mem-app")
    line("free", m.app_break, m.kernel_memory_break - m.app_break, "░", "mem-free")
    line("grant block", m.kernel_memory_break, hi - m.kernel_memory_break, "▓", "mem-grant")
    for g in sorted(m.grants, key=lambda g: g.address):
        line(f" {g.capsule}", g.address, g.size, "▒", "mem-grant", f"grant {g.driver:#x}")
    for w in windows or []:
        if isinstance(w, dict) and w.get("owner") == p.index:
            holder = _name(board, w.get("holder"))
            ptr, length = int(w.get("ptr", 0)), int(w.get("length", 0))
            line(f"shared→{holder}", ptr, length, "▚", "mem-shared", f"IPC buffer {holder} sees")
    for r in m.regions:
        peer = _window_owner(r.start, p.index, windows or [], board)
        if (r.start + r.size <= lo or r.start >= hi) and peer is None:
            continue  # the flash region: shown in the header line
        clipped = "»" if r.start + r.size > hi or r.start < lo else " "
        label = f"MPU#{r.number}{clipped}{(peer and '→' + peer) or r.perms_text}"
        line(label, r.start, r.size, "━", "mem-window" if peer else "mem-mpu", r.detail)
    text.append(f"app_break {m.app_break:#010x}", style=st("mem-app"))
    text.append(f"  kernel_memory_break {m.kernel_memory_break:#010x}\n", style=st("mem-grant"))
    text.append(f"allow high-water {m.allow_high_water_mark:#010x}", style="dim")
    if m.regions_seq and not redact:
        text.append(f"  MPU regions as of event #{m.regions_seq}", style="dim")
    return text


def _name(board: Board | None, index: object) -> str:
    p = board.proc(index) if board is not None and type(index) is int else None
    return p.name.rsplit(".", 1)[-1] if p is not None else str(index)


def ipc_text(board: Board) -> Text:
    """Services, clients and shared windows, as the keyframe's `ipc` gave them."""
    ipc = board.ipc
    if ipc is None:
        return Text("no IPC capsule on this board", style="dim")
    text = Text(no_wrap=True, overflow="ellipsis")
    services = ipc.get("services") or []
    text.append(f"services ({len(services)})\n", style="bold")
    for index in services:
        text.append(f"  {_name(board, index)}\n")
    clients = ipc.get("clients") or []
    text.append(f"clients ({len(clients)})\n", style="bold")
    for c in clients:
        if isinstance(c, dict):
            text.append(f"  {_name(board, c.get('client'))} → {_name(board, c.get('service'))}\n")
    windows = ipc.get("windows") or []
    text.append(f"shared buffers ({len(windows)})\n", style="bold")
    for w in windows:
        if isinstance(w, dict):
            text.append(
                f"  {_name(board, w.get('holder'))} sees {_name(board, w.get('owner'))} "
                f"{w.get('ptr', 0):#x}+{w.get('length', 0)}\n"
            )
    return text


def _window_owner(
    start: int, holder: int, windows: list[IpcWindow], board: Board | None
) -> str | None:
    """Whose memory the MPU region at `start` of process `holder` exposes, if it is an
    IPC window."""
    for w in windows:
        if isinstance(w, dict) and w.get("holder") == holder and w.get("region_start") == start:
            return _name(board, w.get("owner"))
    return None
