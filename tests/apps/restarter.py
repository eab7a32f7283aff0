"""Restarts itself with exit-restart until its marker file says it ran `times` times."""

from pathlib import Path

from apps_py.libtock import app_args, console, exit_restart


def main() -> None:
    marker = Path(str(app_args()["marker"]))
    runs = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(runs))
    console.write(f"run {runs}\n")
    if runs < int(str(app_args().get("times", 2))):
        exit_restart(runs)
