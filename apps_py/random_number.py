"""random_number: asks the RNG driver for 4 bytes and prints them as a number."""

from apps_py.libtock import console, rng


def main() -> None:
    console.write(f"random number: {rng.random_u32()}\n")
