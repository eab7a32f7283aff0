"""Says on its console which of the names in its `names` argument are in its environment."""

import os

from apps_py.libtock import app_args, console


def main() -> None:
    names = str(app_args()["names"]).split(",")
    console.write("env: " + ",".join(n for n in names if n in os.environ) + "\n")
