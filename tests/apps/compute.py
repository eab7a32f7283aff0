"""Computes forever and never makes a syscall (under virtual time nothing preempts it)."""


def main() -> None:
    while True:
        pass
