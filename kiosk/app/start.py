"""Starting the kiosk process: the QApplication, the window, SIGTERM as a clean quit."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any, cast

from PySide6.QtCore import QSocketNotifier, QTimer
from PySide6.QtWidgets import QApplication

from kiosk.app.services import build_services
from kiosk.app.window import KioskWindow

_log = logging.getLogger("fieldkit.kiosk")


def quit_on_sigterm(app: QApplication, on_quit: Callable[[], None]) -> Callable[[], None]:
    """SIGTERM/SIGINT (systemd's stop) quit the Qt loop cleanly: the Python handler only writes
    to a socket pair (`signal.set_wakeup_fd`); a QSocketNotifier wakes the event loop, which
    calls `on_quit` and exits 0. Returns the function that undoes it."""
    rsock, wsock = socket.socketpair()
    rsock.setblocking(False)
    wsock.setblocking(False)
    old_fd = signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)
    old = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)}
    notifier = QSocketNotifier(rsock.fileno(), QSocketNotifier.Type.Read)

    def woke() -> None:
        try:
            data = rsock.recv(64)
        except BlockingIOError:
            return
        if {signal.SIGTERM, signal.SIGINT} & set(data):
            _log.info("señal de terminación: cerrando el kiosco")
            notifier.setEnabled(False)
            on_quit()
            app.exit(0)

    notifier.activated.connect(woke)

    def undo() -> None:
        notifier.setEnabled(False)
        signal.set_wakeup_fd(old_fd)
        for s, h in old.items():
            signal.signal(s, h)
        rsock.close()
        wsock.close()

    app._fieldkit_sigterm = (notifier, rsock, wsock)  # type: ignore[attr-defined]  # keep alive
    return undo


def run(
    *,
    camera: str,
    config: Any,
    config_path: str = "",
    lang: str | None = None,
    size: str = "800x480",
    windowed: bool = False,
) -> int:
    import sys

    from kiosk.ui.theme import Scale, style_sheet

    t0 = time.perf_counter()
    # The kiosk's process only ever runs a QApplication (widgets), never a bare QCoreApplication.
    app = cast("QApplication | None", QApplication.instance()) or QApplication(sys.argv[:1])
    w, h = (int(x) for x in size.lower().split("x"))
    Scale.set_for(w, h)
    app.setStyleSheet(style_sheet())
    win = KioskWindow(
        build_services(config, camera, config_path), lang or (config.locale if config else "es")
    )
    undo = quit_on_sigterm(app, win.close_services)
    if windowed:
        win.resize(w, h)
        win.show()
    else:
        win.showFullScreen()
    QTimer.singleShot(
        0, lambda: _log.info("lock screen shown %.0f ms after start (pid %d)",
                             (time.perf_counter() - t0) * 1000, os.getpid())
    )
    app.aboutToQuit.connect(win.close_services)
    try:
        return app.exec()
    finally:
        undo()
