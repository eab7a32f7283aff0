"""blink: toggles every LED a few times, 100 ms apart (kernel time)."""

from apps_py.libtock import alarm, console, led


def main() -> None:
    n = led.count()
    console.write(f"blink: {n} LEDs\n")
    for step in range(6):
        for i in range(n):
            led.toggle(i)
        console.write(f"blink {step}: {['on' if led.get(i) else 'off' for i in range(n)]}\n")
        alarm.sleep_ms(100)
