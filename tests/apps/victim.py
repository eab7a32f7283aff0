"""Holds a random secret in its own RAM and checks, when told, that nobody changed it.

The secret (16 bytes from getrandom, new every run) sits right after a marker in a heap
block of the victim's RAM; an attacker that can read RAM finds it by scanning for the
marker (`marker()`; the module holds it only masked, so the marker's bytes are not in
any source or bytecode file an attacker could map). The victim says `victim ready`,
waits for anything typed into its console, re-reads the secret and says
`victim secret <hex> intact` (or `changed <hex>`). It reports its secret only then.
"""

import os

from apps_py.libtock import console, runtime

_MASKED = bytes.fromhex("66662e3539313e772c33392e333777293f39283f2e6464")
SECRET_LEN = 16


def marker() -> bytes:
    """The bytes just before the secret in the victim's RAM."""
    return bytes(b ^ 0x5A for b in _MASKED)


def main() -> None:
    rt = runtime.current()
    mark = marker()
    secret = os.urandom(SECRET_LEN)
    address = rt.heap.alloc(len(mark) + SECRET_LEN)
    rt.memory.write(address, mark + secret)
    del mark
    console.write("victim ready\n")
    console.read(16)
    now = rt.memory.read(address + len(marker()), SECRET_LEN)
    state = "intact" if now == secret else f"changed {now.hex()}"
    console.write(f"victim secret {secret.hex()} {state}\n")
