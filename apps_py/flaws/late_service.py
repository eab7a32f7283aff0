"""A service that starts slowly: sleeps `ms` (in yield) before it registers, then
counts the notifies it receives for `serve_ms`."""

from apps_py.libtock import alarm, app_args, console, ipc, yield_no_wait


def main() -> None:
    alarm.sleep_ms(float(str(app_args().get("ms", 150))))
    got: list[int] = []
    ipc.register_service(lambda client, *_: got.append(client))
    waited = 0.0
    while waited < float(str(app_args().get("serve_ms", 200))):
        if not yield_no_wait():
            alarm.sleep_ms(20)
            waited += 20
    console.write(f"late service heard {len(got)} notify(s)\n")
