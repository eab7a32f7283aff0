"""What the filesystem shows an app: its Landlock rules, and the rulesets the zygote
builds ahead for the apps it forks.

An app may read the interpreter, its shared libraries, libtock, the contract it imports
(tockd/contract/) and its own top-level package, nothing else; `landlock.py` turns these
rules into a ruleset and enforces it. `sandbox.apply_limits` enforces them at start-up
(`landlock = true`), before the app module is imported.
"""

from __future__ import annotations

import functools
import importlib.machinery
import os
import sys

from apps_py.libtock import landlock
from tockd.contract import abi as _contract

_R = landlock.READ_FILE | landlock.READ_DIR
_RX = _R | landlock.EXECUTE
#: shared libraries the interpreter and its extension modules load
LIBRARY_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
#: the libtock drivers every app imports
_LIBTOCK_DIR = os.path.dirname(os.path.abspath(__file__))
#: the contract libtock imports (tockd/contract/): the only part of tockd an app reads
_CONTRACT_DIR = os.path.dirname(os.path.abspath(_contract.__file__))


def module_paths(module: str) -> list[str]:
    """Where the top-level package (or module) of `module` lives, found without running
    any of its code: from sys.modules if it is already imported; else by scanning
    sys.path as Python's path finder would (the first regular package directory or
    module file, else every namespace portion); else by asking the other meta-path
    finders (an editable install's) for the top-level name's spec, which imports
    nothing."""
    top = module.partition(".")[0]
    loaded = sys.modules.get(top)
    if loaded is not None:
        return _spec_paths(getattr(loaded, "__spec__", None))
    suffixes = importlib.machinery.all_suffixes()
    portions: list[str] = []
    for entry in sys.path:
        base = os.path.join(entry or ".", top)
        if os.path.isdir(base):
            if any(os.path.isfile(os.path.join(base, "__init__" + s)) for s in suffixes):
                return [base]
            portions.append(base)
            continue
        for suffix in suffixes:
            if os.path.isfile(base + suffix):
                return [base + suffix]
    if portions:
        return portions
    for finder in sys.meta_path:
        if finder is importlib.machinery.PathFinder or not hasattr(finder, "find_spec"):
            continue
        try:
            spec = finder.find_spec(top, None)
        except Exception:  # a broken finder: the import will fail the same way
            continue
        if spec is not None:
            return _spec_paths(spec)
    return []


def _spec_paths(spec: importlib.machinery.ModuleSpec | None) -> list[str]:
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)
    return [spec.origin] if spec.origin and os.path.isabs(spec.origin) else []


def fs_rules(module: str | None) -> list[tuple[str, int]]:
    """The Landlock rules of an app running `module`: read-only access to the
    interpreter, its libraries, libtock, the contract it imports (tockd/contract/) and the
    app's own top-level package; directory
    listing (only) of each sys.path entry, which Python's import system needs; /dev/null,
    /dev/zero, /dev/urandom. Nothing else is reachable, nothing is writable but /dev/null.
    Paths that do not exist are left out; non-directories get file rights only."""
    rules = list(_shared_rules(tuple(sys.path)))
    if module:
        for path in module_paths(module):
            # no landlock.resolve here: this runs in every new app, where it costs
            rules.append((path, _R if os.path.isdir(path) else landlock.READ_FILE))
    return rules


@functools.cache
def _shared_rules(path: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """The rules every app shares, resolved once (in the zygote, before it forks)."""
    rules: list[tuple[str, int]] = []
    prefixes = (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    rules += [(p, _RX) for p in dict.fromkeys(prefixes)]
    rules += [(p, _RX) for p in LIBRARY_DIRS]
    rules += [
        ("/etc/ld.so.cache", landlock.READ_FILE),
        ("/dev/null", landlock.READ_FILE | landlock.WRITE_FILE),
        ("/dev/zero", landlock.READ_FILE),
        ("/dev/urandom", landlock.READ_FILE),
    ]
    for entry in dict.fromkeys(path):
        entry = entry or "."
        # a zip entry is a file: it must be read; a directory is only listed
        rules.append((entry, landlock.READ_FILE if os.path.isfile(entry) else landlock.READ_DIR))
    rules.append((_LIBTOCK_DIR, _R))
    rules.append((_CONTRACT_DIR, _R))
    return tuple(landlock.resolve(rules))


#: app module -> its Landlock ruleset fd, built in the zygote and inherited by its forks
_prepared: dict[str, int] = {}


def prepare(module: str) -> None:
    """In the zygote, before it forks an app of `module`: build that module's Landlock
    ruleset once (opening and checking every path costs a fork a few hundred
    microseconds); the app then only enforces it. Nothing is prepared where Landlock is
    missing."""
    if module in _prepared or landlock.abi_version() <= 0:
        return
    try:
        _prepared[module] = landlock.ruleset(fs_rules(module))
    except landlock.LandlockError:
        pass  # the app builds its own, and reports the error if it too fails


def prepared_fds() -> list[int]:
    """The ruleset fds inherited from the zygote (kept open until the sandbox is on)."""
    return list(_prepared.values())


def forget_prepared() -> None:
    """Close the inherited ruleset fds: an app keeps none of them."""
    for fd in _prepared.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _prepared.clear()


def enforce_for(module: str | None) -> int:
    """Restrict this process to the Landlock rules of an app running `module`: with the
    ruleset the zygote prepared for it if there is one, else one built here. Returns the
    Landlock ABI in force; raises landlock.LandlockError."""
    ready = _prepared.get(module) if module else None
    if ready is not None:
        landlock.enforce(ready)
        return landlock.abi_version()
    return landlock.restrict(fs_rules(module))


# Resolved at import, so that apps forked from a warm zygote find them ready.
_shared_rules(tuple(sys.path))
landlock.abi_version()
