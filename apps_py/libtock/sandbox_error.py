"""The one error every part of the app sandbox raises (sandbox.py and the modules it
applies: privileges.py, bpf.py, seccomp.py), kept apart so that each can raise it
without importing the others. The runtime reports it as the app's fault.
"""


class SandboxError(Exception):
    """The sandbox cannot be applied as the board asks; the message says why."""
