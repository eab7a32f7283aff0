"""Board -> text for each pane: pure functions, so they are tested without a terminal.

Colours inside a pane's text are looked up by role (`state-running`, `mem-grant`, ...)
in `STYLES`. The defaults here are only a fallback: the app replaces them at start from
the `Palette` component classes in `tockd.tcss`, where every colour of the dashboard is.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.style import Style, StyleType
from rich.text import Text

from tockd.contract.control import IpcWindow
from tui.board import Board, Grant, MemMap, ProcRow

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
    if p.current:
        return Text("▶", style=st("current"))
    if p.ready:
        return Text("•", style=st("ready"))
    return Text(" ")


def _num(value: object, style: StyleType = "") -> Text:
    return Text(str(value), style=style, justify="right")


def process_cells(
    p: ProcRow, spark: str, rate: float, stats: tuple[float, int] | None, redact: bool
) -> tuple[Text, ...]:
    """The cells of one process table row, in column order (Text, never markup: the
    table would parse every str cell as markup on each update)."""
    if redact:
        os_pid, cpu, rss, rate_text = REDACTED * 5, REDACTED, REDACTED, REDACTED
        spark = ""
    else:
        os_pid = "-" if p.os_pid is None else str(p.os_pid)
        cpu = "-" if stats is None else f"{stats[0]:.0f}"
        rss = "-" if stats is None else human_bytes(stats[1])
        rate_text = human_rate(rate)
    return (
        marker(p),
        _num(p.index),
        _num(p.process_id),
        _num(os_pid),
        Text(p.name),  # the table cuts it to its column, at the front
        Text(short_state(p.state), style=state_style(p.state)),
        _num(p.syscalls),
        Text.assemble(rate_text.rjust(4), " ", (spark.rjust(8), st("spark"))),
        _num(p.queue),
        _num(p.dropped, st("dropped") if p.dropped else ""),
        _num(p.restarts),
        _num(cpu),
        _num(rss),
    )


def scheduler_text(board: Board, *, redact: bool = False) -> Text:
    """Two lines: scheduler kind, paused or running, current process and its timeslice
    left, decisions; then the run queue in order (ready processes bright)."""
    s = board.sched
    text = Text()
    text.append(f"{s.kind}  ", style="bold")
    if s.paused:
        text.append(" PAUSED ", style=st("paused"))
    else:
        text.append(" running ", style=st("running"))
    current = board.proc(s.current) if s.current is not None else None
    text.append("  current: ")
    if current is None:
        text.append("none (kernel idle)", style="dim")
    else:
        text.append(f"[{current.process_id}] {short_name(current.name, 30)}", style="bold")
        left = board.timeslice_left_us()
        if left is not None and not redact:
            text.append(f"  timeslice left {left / 1000:.1f} ms of {(s.slice_us or 0) / 1000:.0f}")
    text.append(f"  decisions {s.decisions}")
    text.append("\nrun queue: ")
    shown = 0
    for index in s.run_queue:
        p = board.proc(index)
        if p is None:
            continue
        if shown == 12:
            text.append(f"… (+{len(s.run_queue) - shown})", style="dim")
            break
        label = p.name.rsplit(".", 1)[-1]
        text.append(f"{label}", style=st("ready") if p.ready else "dim")
        text.append(" → " if index != s.run_queue[-1] else "")
        shown += 1
    return text


def grant_columns(board: Board) -> list[tuple[int, str]]:
    """(driver, capsule name) of every capsule some process holds a grant of."""
    used = {g.driver for p in board.procs for g in p.grants}
    return sorted((d, board.capsules.get(d, f"{d:#x}")) for d in used)


def grant_cells(p: ProcRow, columns: list[tuple[int, str]]) -> tuple[Text, ...]:
    by_driver: dict[int, Grant] = {g.driver: g for g in p.grants}
    cells = [_num(by_driver[d].size) if d in by_driver else _num("·") for d, _ in columns]
    total = sum(g.size for g in p.grants)
    return (Text(short_name(p.name, 14)), *cells, _num(total if total else "·"))


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
