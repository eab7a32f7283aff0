"""Sleeps in a loop forever (until the daemon stops it)."""

from apps_py.libtock import alarm, console


def main() -> None:
    console.write("forever\n")
    while True:
        alarm.sleep_ms(20)
