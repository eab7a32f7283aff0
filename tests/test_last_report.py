"""A runtime reports why it fails and exits at once, so the daemon can learn of the exit
before it reads the report (the exit watcher and the socket race). The report must win:
`last_report` reads what the dead app left on its socket (a real socketpair here)."""

from __future__ import annotations

import socket
from typing import cast

from tockd import memmap
from tockd.contract import wire
from tockd.daemon.apps import AppOS
from tockd.daemon.hotpath import last_report
from tockd.kernel.abi import REPORT, ReportKind


def _dead_app(*frames: object, partial: bytes = b"") -> AppOS:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setblocking(False)
    for f in frames:
        theirs.sendall(wire.encode(f))
    theirs.sendall(partial)
    theirs.close()  # the app is gone
    return AppOS(pid=0, sock=ours, pidfd=-1, generation=0, pages=cast(memmap.AppPages, None))


def test_the_report_a_dead_app_left_unread_is_found() -> None:
    report = [REPORT, int(ReportKind.EXCEPTION), "Traceback...\nMemoryError"]
    app = _dead_app([2, 1, 0, 0, 0], report)  # a syscall frame, then the report
    try:
        assert last_report(app) == report
    finally:
        app.sock.close()


def test_an_app_that_left_no_report_has_none() -> None:
    for app in (_dead_app(), _dead_app([2, 1, 0, 0, 0]), _dead_app(partial=b"\x95\x02")):
        try:
            assert last_report(app) is None
        finally:
            app.sock.close()


def test_a_report_already_decoded_counts_and_garbage_after_it_does_not_hide_it() -> None:
    report = [REPORT, int(ReportKind.EXCEPTION), "boom"]
    app = _dead_app(partial=b"\xc1\xc1\xc1")  # bytes no frame starts with
    app.frames.append(report)
    try:
        assert last_report(app) == report
    finally:
        app.sock.close()


def test_a_closed_socket_is_no_report() -> None:
    app = _dead_app()
    app.sock.close()
    assert last_report(app) is None
