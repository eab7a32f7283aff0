"""spin_on_press: waits (in yield) for button 0, then makes null commands (command 0 of
the LED driver) forever. A board of many of them starts quickly, each process
yielding after its first few syscalls, and turns busy all at once when the button is
pressed. Used by bench/many_apps.py."""

from apps_py.libtock.abi import DriverNum
from apps_py.libtock.syscalls import command, subscribe, yield_wait


def main() -> None:
    pressed: list[int] = []
    subscribe(DriverNum.BUTTON, 0, lambda i, _p, _c, _d: pressed.append(i)).unwrap("subscribe")
    command(DriverNum.BUTTON, 1, 0).unwrap("enable button 0")
    while not pressed:
        yield_wait()
    while True:
        command(DriverNum.LED, 0)
