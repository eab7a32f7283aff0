"""Makes syscalls as fast as it can, forever: a busy event stream for trace tests."""

from apps_py.libtock import memop
from apps_py.libtock.abi import Memop


def main() -> None:
    while True:
        memop(Memop.MEM_START)
