"""The daemon package after its split (issue 14): each module small, each function
short, signatures typed without `Any`, and the pieces that have no board run of their
own (the reply cache's bound, a report's untrusted text) checked directly, against a
real kernel."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from tests.harness import app, board_toml
from tockd.board import build_kernel, parse_board
from tockd.daemon import hotpath
from tockd.kernel.abi import FRAME_RETURN, REPORT, ReportKind

PACKAGE = Path(hotpath.__file__).parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    found = sorted(PACKAGE.glob("*.py"))
    assert len(found) >= 6  # the split happened: this is a package of modules
    return found


def _functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text())
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_no_daemon_module_is_over_the_issue_14_limit() -> None:
    lines = {p.name: len(p.read_text().splitlines()) for p in _modules()}
    long = {name: n for name, n in lines.items() if n > MAX_MODULE_LINES}
    assert long == {}


def test_no_daemon_function_is_over_the_issue_14_limit() -> None:
    long = [
        f"{p.name}:{f.name} ({n} lines)"
        for p in _modules()
        for f in _functions(p)
        if (n := (f.end_lineno or f.lineno) - f.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_no_daemon_signature_says_any() -> None:
    said = []
    for p in _modules():
        for f in _functions(p):
            args = [*f.args.posonlyargs, *f.args.args, *f.args.kwonlyargs]
            args += [a for a in (f.args.vararg, f.args.kwarg) if a is not None]
            notes = [a.annotation for a in args if a.annotation is not None]
            notes += [f.returns] if f.returns is not None else []
            if any("Any" in ast.unparse(n) for n in notes):
                said.append(f"{p.name}:{f.name}")
    assert said == []


@pytest.fixture
def hot() -> Iterator[hotpath.HotPath]:
    kernel = build_kernel(parse_board(board_toml([app("apps_py.hello")])))
    try:
        yield hotpath.HotPath(kernel, pinned=False)
    finally:
        kernel.ram.close()


def test_the_reply_cache_stops_growing_and_still_encodes_every_reply(
    hot: hotpath.HotPath,
) -> None:
    many = [(0x80, n, 0, 0) for n in range(hotpath._REPLY_CACHE + 50)]
    encoded = [hot.reply(r) for r in many]
    assert len(hot.replies) == hotpath._REPLY_CACHE
    assert [msgpack.unpackb(e) for e in encoded] == [[FRAME_RETURN, *r] for r in many]
    assert hot.reply(many[0]) is encoded[0]  # a cached one is the same bytes object


def test_an_apps_report_becomes_one_bounded_printable_line() -> None:
    text = "Traceback\n  boom\x1b[31m\nValueError: " + "x" * 500 + "\r\n\n"
    reason = hotpath._report_reason([REPORT, ReportKind.EXCEPTION, text])
    assert reason.startswith("app raised ValueError: xxx")
    assert reason.isprintable() and "\x1b" not in reason
    assert len(reason) == len("app raised ") + hotpath._REASON_LIMIT
    assert reason.endswith("...")
