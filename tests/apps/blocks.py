"""Blocks for ever in the OS and never makes a syscall to its kernel: it uses no CPU,
so only the wall clock tells that it holds the CPU (under virtual time nothing
preempts it)."""

import threading


def main() -> None:
    threading.Event().wait()
