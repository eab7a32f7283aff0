"""tockd as a user meets it: a wheel, installed into a fresh venv outside the checkout.

The wheel is built from a copy of the repository (a build writes build/ and *.egg-info
beside its sources, and tests write nothing into the checkout), by pip with this
environment's setuptools and no build isolation, so nothing is fetched. It is
installed with pip into a venv of its own, which borrows this environment's
dependencies through a .pth file (the versions tested here, again nothing fetched);
`pip check` holds them to the wheel's own requirements. The commands run from an empty
directory with no PYTHONPATH, so only what the wheel installed can answer.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: not part of the source a wheel is built from (caches, builds, environments)
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*_cache", ".hypothesis", "build", "*.egg-info"
)
#: the top-level names a user may find tockd installed under (issue 15, item 8)
TOP_LEVEL = {"tockd", "apps_py"}
#: a build, an install or a command of the installed wheel (s)
STEP_TIMEOUT_S = 120


@dataclass
class Installed:
    """The fresh venv the wheel went into, and an empty directory to run it from."""

    venv: Path
    cwd: Path
    wheel: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `args[0]` of the venv's bin/ with the rest as arguments, in `cwd`."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["XDG_STATE_HOME"] = str(self.cwd.parent / "state")
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
            env=env,
        )

    def site_packages(self) -> Path:
        (found,) = self.venv.glob("lib/python*/site-packages")
        return found


def pip(*args: str) -> None:
    """This environment's pip; a failure fails the test with its output."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def build_wheel(where: Path) -> Path:
    """The wheel of a copy of the repository (its link tockd/boards kept a link)."""
    source = where / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_SOURCE)
    pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(where / "dist"), str(source))
    (wheel,) = (where / "dist").glob("tockd-*.whl")
    return wheel


def install(wheel: Path, venv: Path) -> None:
    """A venv with the wheel in it and this environment's site-packages behind it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (target,) = venv.glob("lib/python*/site-packages")
    (target / "_tockd_test_dependencies.pth").write_text("\n".join(site.getsitepackages()))
    python = str(venv / "bin" / "python")
    pip("--python", python, "install", "--no-deps", "-q", str(wheel))
    pip("--python", python, "check")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    where = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(where)
    install(wheel, where / "venv")
    cwd = where / "cwd"
    cwd.mkdir()
    yield Installed(where / "venv", cwd, wheel)
    assert list(cwd.iterdir()) == [], "the commands left files in the current directory"
    shutil.rmtree(where)


def installed_top_level(site_packages: Path) -> set[str]:
    """The first part of every path the wheel's RECORD lists, but its metadata and
    what went outside site-packages (the console script)."""
    (record,) = site_packages.glob("tockd-*.dist-info/RECORD")
    parts = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines()}
    return {p for p in parts if p and not p.endswith(".dist-info") and p != ".."}


def test_the_installed_code_is_the_wheels(installed: Installed) -> None:
    code = "import apps_py, tockd; print(tockd.__file__); print(apps_py.__file__)"
    r = installed.run("python", "-c", code)
    assert r.returncode == 0, r.stderr
    for path in r.stdout.split():
        assert Path(path).is_relative_to(installed.site_packages()), path


def test_boards_lists_the_shipped_boards(installed: Installed) -> None:
    r = installed.run("tockd", "boards")
    assert r.returncode == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert names == sorted(p.stem for p in (ROOT / "configs").glob("*.toml"))
    assert all(len(line.split()) > 1 for line in r.stdout.splitlines()), "each described"


def test_run_demo(installed: Installed) -> None:
    r = installed.run("tockd", "run", "demo")
    assert r.returncode == 0, r.stderr
    assert "board demo: 3 app(s)" in r.stderr
    assert "[org.tockos.examples.hello] Hello World!" in r.stdout
    assert "[org.tockos.examples.blink] blink" in r.stdout
    assert "[org.tockos.examples.random]" in r.stdout
    assert "fault" not in r.stderr.lower(), r.stderr


def test_an_experiment(installed: Installed) -> None:
    r = installed.run("tockd", "experiment", "odd_buffer")
    assert r.returncode == 0, r.stderr
    assert "[tock    ] REPRODUCED" in r.stdout and "[hardened] PREVENTED" in r.stdout


def test_no_repository_folder_is_installed(installed: Installed) -> None:
    names = installed_top_level(installed.site_packages())
    assert names >= TOP_LEVEL
    assert not names & {"tests", "bench", "configs", "docs"}


def test_only_tockd_and_apps_py_are_installed_at_top_level(installed: Installed) -> None:
    assert installed_top_level(installed.site_packages()) == TOP_LEVEL


def test_the_dashboard_and_the_experiments_import_under_tockd(installed: Installed) -> None:
    """What a user imports (README): the dashboard as `tockd.tui`, the flaw experiments
    as `tockd.experiments`, their apps as `apps_py.flaws`; `tui` and `experiments` are
    not installed, so they cannot shadow (or be shadowed by) the projects of those names."""
    code = (
        "import importlib.util as u\n"
        "import tockd.tui.app, tockd.experiments, apps_py.flaws.sharer\n"
        "print(len(tockd.experiments.catalogue()), u.find_spec('tui'), u.find_spec('experiments'))"
    )
    r = installed.run("python", "-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["9", "None", "None"]
