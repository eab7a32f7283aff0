"""The messages between the daemon (tockd/zygote.py) and the app zygote
(apps_py/libtock/zygote.py, whose docstring describes the protocol). tockd's own: Tock
loads processes from flash and has no zygote.

Part of the contract (tockd/contract/__init__.py): imports nothing.
"""

from __future__ import annotations

#: daemon -> zygote `[SPAWN, token, cpu, module]` (four fds over SCM_RIGHTS)
SPAWN = 1
#: zygote -> daemon `[SPAWNED, token, pid]` (a pidfd over SCM_RIGHTS)
SPAWNED = 2
#: zygote -> daemon `[EXITED, pid, returncode]`
EXITED = 3
#: zygote -> daemon `[FAILED, token, reason]`
FAILED = 4

#: the largest control message (requests and reports are a few bytes)
MAX_MESSAGE = 4096
