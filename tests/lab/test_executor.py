"""Executors without a cluster: the exhaustive split, resuming, the optional Ray import."""

from __future__ import annotations

import json
import sys
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tockd.cli import main
from tockd.lab.executor import RAY_MISSING, ExecutorError, RayExecutor, Subtree, search_subtree
from tockd.lab.explore import Summary, explore, resume_records
from tockd.lab.strategy import Exhaustive

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "configs/rot13_report.toml"


def _tree_run(widths: list[int], kinds: list[str]) -> Any:
    """A fake board: a decision tree whose width at each point depends on the path."""

    def run(strategy: Exhaustive) -> dict[str, Any]:
        path: list[int] = []
        for level, kind in enumerate(kinds):
            width = 1 + (widths[level] + sum(path)) % 3
            path.append(strategy.choose(kind, [f"o{i}" for i in range(width)], level))
        return {"leaf": tuple(path)}

    return run


def _search(root: Subtree, bound: int, run: Any) -> list[tuple[int, ...]]:
    leaves: list[tuple[int, ...]] = []
    todo = deque([root])
    while todo:
        done = search_subtree(todo.popleft(), bound, run)
        leaves += [r["leaf"] for r in done.records]
        todo.extend(done.more)
    return leaves


@settings(max_examples=60, deadline=None)
@given(
    widths=st.lists(st.integers(0, 5), min_size=1, max_size=6),
    switch=st.lists(st.booleans(), min_size=6, max_size=6),
    split=st.integers(0, 4),
    limit=st.integers(1, 5),
    bound=st.integers(0, 3),
)
def test_split_search_covers_the_tree_once_like_depth_first_search(
    widths: list[int], switch: list[bool], split: int, limit: int, bound: int
) -> None:
    kinds = ["switch" if s else "run" for s in switch[: len(widths)]]
    run = _tree_run(widths, kinds)
    sequential = _search(Subtree([], 0, 0, 10**6), bound, run)
    assert len(set(sequential)) == len(sequential)
    split_up = _search(Subtree([], 0, split, limit), bound, run)
    assert sorted(split_up) == sorted(sequential)  # every schedule once, none twice
    for leaf in split_up:
        preemptions = sum(1 for k, c in zip(kinds, leaf, strict=True) if k == "switch" and c)
        assert preemptions <= bound


class Interrupted(Exception):
    pass


def test_resume_skips_finished_seeds_and_a_cut_line(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"

    def stop_after_five(s: Summary) -> None:
        if s.runs == 5:
            raise Interrupted

    with out.open("a") as f, pytest.raises(Interrupted):
        explore(REPORT, ["notify-delivered"], runs=12, seed=40, out=f, progress=stop_after_five)
    assert len(out.read_text().splitlines()) == 5
    with out.open("a") as f:
        f.write('{"seed": 45, "strategy": {"na')  # killed in the middle of a line
    with out.open("a") as f:
        s = explore(REPORT, ["notify-delivered"], runs=12, seed=40, out=f, resume=out, shrink=False)
    assert s.resumed == 5 and s.runs == 12
    seeds = [json.loads(line)["seed"] for line in out.read_text().splitlines()]
    assert sorted(seeds) == list(range(40, 52))


def test_resume_refuses_the_records_of_another_sweep(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    out.write_text(json.dumps({"seed": 1, "strategy": {"name": "pct"}}) + "\n")
    with pytest.raises(ValueError, match="strategy 'pct'"):
        explore(REPORT, ["notify-delivered"], strategy="random", runs=3, resume=out)
    assert resume_records(tmp_path / "none.jsonl") == []


@pytest.mark.parametrize(
    "other",
    [
        {"properties": ["no-faults"]},
        {"adversity": True},
        {"max_steps": 500},
        {"board": "hardened"},
    ],
)
def test_resume_refuses_the_records_of_a_sweep_of_other_options(
    tmp_path: Path, other: dict[str, object]
) -> None:
    """Same strategy and seeds, but another board, properties or modes: the records
    would be counted as this sweep's (a hello sweep's file resumed a rot13_report
    sweep, and its runs were counted as rot13_report's)."""
    out = tmp_path / "runs.jsonl"
    with out.open("a") as f:
        explore(REPORT, ["notify-delivered"], runs=2, out=f, stop_at_first=False, shrink=False)
    board = REPORT
    if other.get("board") == "hardened":
        board = tmp_path / "hardened.toml"
        board.write_text(REPORT.read_text().replace('"tock"', '"hardened"'))
    props = other.get("properties", ["notify-delivered"])
    assert isinstance(props, list)
    with pytest.raises(ValueError, match="holds runs of another sweep"):
        explore(
            board,
            props,
            runs=3,
            resume=out,
            adversity=bool(other.get("adversity", False)),
            max_steps=other.get("max_steps"),  # type: ignore[arg-type]
        )
    # the same options resume it
    with out.open("a") as f:
        s = explore(REPORT, ["notify-delivered"], runs=3, out=f, resume=out, shrink=False)
    assert s.resumed == 2 and s.runs == 3


def test_without_ray_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ExecutorError, match=r"pip install 'tockd\[ray\]'"):
        RayExecutor("local").open()
    assert main(["explore", str(REPORT), "--ray", "auto", "--runs", "1"]) == 1
    assert RAY_MISSING in capsys.readouterr().err
