"""buttons: waits for button presses and mirrors each button on its LED."""

from apps_py.libtock import button, console, led, yield_wait


def main() -> None:
    count = button.count()
    console.write(f"buttons: {count} buttons, press one (tockd button N)\n")

    def changed(index: int, pressed: bool) -> None:
        if pressed:
            led.toggle(index % led.count())
        console.write(f"button {index} {'pressed' if pressed else 'released'}\n")

    button.on_change(changed)
    for i in range(count):
        button.enable(i)
    while True:
        yield_wait()
