"""Restarts itself with exit-restart until it has run `times` times."""

from apps_py.libtock import app_args, console, exit_restart, runtime


def main() -> None:
    runs = runtime.current().restart_count + 1
    console.write(f"run {runs}\n")
    if runs < int(str(app_args().get("times", 2))):
        exit_restart(runs)
