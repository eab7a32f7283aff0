"""Stops itself with SIGSTOP after one syscall."""

import os
import signal

from apps_py.libtock import console


def main() -> None:
    console.write("stopping myself\n")
    os.kill(os.getpid(), signal.SIGSTOP)
    console.write("resumed\n")
