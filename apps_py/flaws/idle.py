"""An ordinary app that offers no IPC service: it just sleeps for `ms` and exits."""

from apps_py.libtock import alarm, app_args


def main() -> None:
    alarm.sleep_ms(float(str(app_args().get("ms", 400))))
