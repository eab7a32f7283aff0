"""Restarts itself with exit-restart until it has run `times` times.

An app can write no byte to any file (RLIMIT_FSIZE 0), so each run leaves an empty file
`<marker>.<run>` and counts those of the runs before it; the board must relax Landlock
for this app (`[apps.sandbox] landlock = false`), which otherwise hides the directory.
"""

import os
from pathlib import Path

from apps_py.libtock import app_args, console, exit_restart


def main() -> None:
    marker = Path(str(app_args()["marker"]))
    runs = 1
    while Path(f"{marker}.{runs}").exists():
        runs += 1
    os.close(os.open(f"{marker}.{runs}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    console.write(f"run {runs}\n")
    if runs < int(str(app_args().get("times", 2))):
        exit_restart(runs)
