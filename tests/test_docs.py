"""The documents in `docs/` stand on their own, and their examples run.

A clone of tockd has nothing outside the repository, so no file may point outside it;
README's "Documents" list must name pages that exist; and every code block of a page
that starts with `# file: NAME` is written out and run the way the page says, with the
real daemon and real app processes.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.harness import run_board
from tockd.board import BoardConfig, build_kernel, load_board, parse_board
from tockd.kernel.kernel import Kernel
from tockd.kernel.process import Process

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: built from parts, so this file does not match itself
FORBIDDEN = (".." + "/shared", "shared" + "/design")
EXAMPLE = re.compile(r"```(?:python|toml)\n# file: (\S+)\n(.*?)```", re.S)
NEW_PAGES = {
    "docs/architecture.md",
    "docs/syscall-flow.md",
    "docs/writing-an-app.md",
    "docs/writing-a-capsule.md",
    "docs/writing-an-experiment.md",
    "docs/writing-a-property.md",
}
#: how long an example run may take before the test gives up (s)
RUN_TIMEOUT_S = 60


def tracked_files() -> list[Path]:
    """The repository's tracked files (git), or every file but the virtualenv and caches
    when this is not a git checkout."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", ".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
        return [
            p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
        ]
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_file_points_outside_the_repository() -> None:
    offenders = []
    for path in tracked_files():
        if ".venv" in path.relative_to(ROOT).parts or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        offenders += [f"{path.relative_to(ROOT)}: {bad}" for bad in FORBIDDEN if bad in text]
    assert not offenders


def readme_documents() -> set[str]:
    return set(re.findall(r"docs/[\w./-]+\.md", (ROOT / "README.md").read_text()))


def test_every_document_readme_names_exists() -> None:
    named = readme_documents()
    assert named >= NEW_PAGES
    assert [p for p in sorted(named) if not (ROOT / p).is_file()] == []


def test_every_page_in_docs_is_listed_in_readme_and_architecture() -> None:
    pages = {f"docs/{p.name}" for p in DOCS.glob("*.md")}
    assert pages - readme_documents() == set()
    linked = set(re.findall(r"docs/[\w./-]+\.md", (DOCS / "architecture.md").read_text()))
    assert pages - {"docs/architecture.md"} - linked == set()


def examples(page: str) -> dict[str, str]:
    """The `# file: NAME` blocks of a page, by file name."""
    found = dict(EXAMPLE.findall((DOCS / page).read_text()))
    assert found, f"{page} has no example"
    return found


def write_examples(page: str, where: Path) -> dict[str, str]:
    found = examples(page)
    for name, body in found.items():
        (where / name).write_text(body)
    return found


def run_example(args: list[str], cwd: Path, **env: str) -> str:
    """Run a command of a page's example; return its stdout (it must succeed)."""
    done = subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def tockd_command() -> list[str]:
    """`tockd` as installed next to this interpreter (the console script)."""
    return [sys.executable, "-c", "from tockd.cli import main; main()"]


def test_the_app_example_runs_on_its_board(tmp_path: Path) -> None:
    write_examples("writing-an-app.md", tmp_path)
    out = run_example([*tockd_command(), "run", "blinker.toml"], tmp_path)
    assert "[org.example.blinker] lit 4 LEDs" in out


async def test_the_capsule_example_answers_a_real_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = write_examples("writing-a-capsule.md", tmp_path)
    assert set(found) == {"counter.py", "counting.py", "counting.toml"}
    monkeypatch.syspath_prepend(str(tmp_path))  # the daemon and its apps import from here
    from counter import Counter  # type: ignore[import-not-found]

    def build_with_counter(cfg: BoardConfig) -> Kernel:
        """`build_kernel` with the page's one added line: the capsule is registered
        after the others and before any app is loaded."""
        apps = cfg.apps
        slots = max(cfg.process_slots, len(apps))
        kernel = build_kernel(dataclasses.replace(cfg, apps=[], process_slots=slots))
        kernel.add_capsule(Counter(kernel))
        for index, spec in enumerate(apps):
            kernel.load_process(Process(index=index, spec=spec, identifier=kernel.new_identifier()))
        return kernel

    monkeypatch.setattr("tockd.daemon.core.build_kernel", build_with_counter)
    run = await run_board(parse_board(found["counting.toml"]))
    assert run.status == 0
    assert run.console["org.example.counting"] == "count 7, upcall says 7\n"
    rets = [e["ret"] for e in run.syscalls("org.example.counting", 2) if e["args"][0] == 0xA0010]
    assert rets[:2] == ["SuccessU32(5)", "SuccessU32(7)"]


def test_the_experiment_example_reproduces_in_tock_mode_only(tmp_path: Path) -> None:
    write_examples("writing-an-experiment.md", tmp_path)
    out = run_example([sys.executable, "leftover_heap.py"], tmp_path)
    assert "[tock    ] REPRODUCED" in out
    assert "second life reads b'note from life 1'" in out
    assert "[hardened] PREVENTED" in out


def test_the_property_example_passes_the_hello_board(tmp_path: Path) -> None:
    write_examples("writing-a-property.md", tmp_path)
    out = run_example(
        [sys.executable, str(tmp_path / "check_exits.py")], ROOT, PYTHONPATH=str(tmp_path)
    )
    assert out.strip() == "ok []"


def test_the_property_example_names_an_app_that_crashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_examples("writing-a-property.md", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    from exits import exits_cleanly  # type: ignore[import-not-found]

    from tockd.lab import RandomWalk, run_once

    cfg = load_board(ROOT / "configs" / "hello.toml")
    cfg.apps[0] = dataclasses.replace(
        cfg.apps[0], module="tests.apps.crasher", args={"how": "raise"}
    )
    record: Any = run_once(cfg, RandomWalk(seed=1), [exits_cleanly])
    assert record.verdict == "violation"
    assert any("org.tockos.examples.hello" in v for v in record.property_violations)
