"""hello: prints a greeting through the console driver and exits."""

from apps_py.libtock import console


def main() -> None:
    console.write("Hello World!\n")
