"""A well-behaved app with a secret: {u8 length; text} in a 64-byte, 64-aligned buffer
at the start of its heap. It holds it for `hold_ms` (default 1500), then prints
`secret: TEXT` as it is in its memory then, and exits."""

from apps_py.libtock import alarm, app_args, console, runtime

SECRET = b"victim's secret"


def main() -> None:
    rt = runtime.current()
    buf = rt.heap.alloc(64, align=64)
    rt.memory.write(buf, bytes([len(SECRET)]) + SECRET)
    console.write(f"secret at {buf:#x}\n")
    alarm.sleep_ms(float(str(app_args().get("hold_ms", 1500))))
    n = rt.memory.read_u8(buf)
    console.write(f"secret: {rt.memory.read(buf + 1, n).decode(errors='replace')}\n")
