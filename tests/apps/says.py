"""Writes its `text` argument to the console, then raises an exception carrying it (so
its fault's reason holds it too): text from an app, for the dashboard to show as it
reads (tests/tui/test_markup.py)."""

from apps_py.libtock import app_args, console


def main() -> None:
    text = str(app_args().get("text", ""))
    console.write(f"{text}\n")
    raise ValueError(text)
