"""Starting the kiosk process: the QApplication, the window, SIGTERM as a clean quit, and the
failure screen in the window's place when anything fails on the way.

What can fail at start-up (an outbox that is damaged or opened with the wrong key, a config
that does not load, any error while the services or the window are built; the camera is only
built here, never opened, so its problems show on the capture screen) is caught here, logged
once at critical level and shown full screen (`kiosk.ui.failure`); the process then stays up
with that screen until it is stopped, and exits with `EXIT_STARTUP_FAILED` (4). Nothing on the
way writes to the outbox: a failed open leaves its file as it was. The window and the services
are imported inside the guarded part, so that a broken install shows the screen too.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QSocketNotifier, QTimer
from PySide6.QtWidgets import QApplication

from kiosk.app.failure import (
    EXIT_STARTUP_FAILED,
    StartupFailure,
    diagnostics,
    load_config_quietly,
    log_failure,
    pin_checker,
    summary,
)

if TYPE_CHECKING:
    from kiosk.app.services import Services

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


def _application(size: str) -> QApplication:
    import sys

    from kiosk.ui.theme import Scale, style_sheet

    # The kiosk's process only ever runs a QApplication (widgets), never a bare QCoreApplication.
    app = cast("QApplication | None", QApplication.instance()) or QApplication(sys.argv[:1])
    w, h = (int(x) for x in size.lower().split("x"))
    Scale.set_for(w, h)
    app.setStyleSheet(style_sheet())
    return app


def _show(win: Any, size: str, windowed: bool) -> None:
    if windowed:
        w, h = (int(x) for x in size.lower().split("x"))
        win.resize(w, h)
        win.show()
    else:
        win.showFullScreen()


def run(
    *,
    camera: str,
    config: Any,
    config_path: str = "",
    lang: str | None = None,
    size: str = "800x480",
    windowed: bool = False,
) -> int:
    """The kiosk; on a start-up failure, the failure screen instead (module docstring)."""
    t0 = time.perf_counter()
    app = _application(size)
    lang = lang or (config.locale if config else "es")

    def failed(e: Exception, services: Services | None = None) -> int:
        if services is not None and services.save_ctx is not None:
            try:
                services.save_ctx.close()
            except Exception:
                _log.exception("no se pudo cerrar la bandeja de salida")
        f = StartupFailure.of(e, config=config, config_path=config_path, camera=camera)
        return show_failure(f, app=app, lang=lang, size=size, windowed=windowed)

    try:
        from kiosk.app.services import build_services
        from kiosk.app.window import KioskWindow

        services = build_services(config, camera, config_path)
    except Exception as e:
        return failed(e)
    try:
        win = KioskWindow(services, lang)
    except Exception as e:
        return failed(e, services)
    undo = quit_on_sigterm(app, win.close_services)
    _show(win, size, windowed)
    # The first screen: the lock, or on a self-service device the citizen's start.
    first = "lock" if str(win.flow.step) == "locked" else str(win.flow.step)
    QTimer.singleShot(
        0, lambda: _log.info("%s screen shown %.0f ms after start (pid %d)",
                             first, (time.perf_counter() - t0) * 1000, os.getpid())
    )
    app.aboutToQuit.connect(win.close_services)
    try:
        return app.exec()
    finally:
        undo()


def show_failure(f: StartupFailure, *, app: QApplication | None = None, lang: str = "es",
                 size: str = "800x480", windowed: bool = False,
                 exit_code: int = EXIT_STARTUP_FAILED) -> int:
    """Log the failure, show its screen until SIGTERM (or until the window closes), then
    return `exit_code`."""
    from kiosk import i18n
    from kiosk.ui.failure import FailureScreen

    log_failure(f)
    app = app or _application(size)
    i18n.set_language(lang)
    screen = FailureScreen(f.kind, device_id=f.device_id, diagnostics=diagnostics(f),
                           summary=summary(f), check_pin=pin_checker(f.config))
    screen.setWindowTitle("Apoyo")
    undo = quit_on_sigterm(app, lambda: None)
    _show(screen, size, windowed)
    QTimer.singleShot(0, lambda: _log.info("pantalla de falla mostrada (%s, pid %d)", f.kind,
                                           os.getpid()))
    try:
        app.exec()
    finally:
        undo()
    return exit_code


def run_failure_screen(*, config_path: str | None = None, lang: str | None = None,
                       size: str = "800x480", windowed: bool = False) -> int:
    """The minimal program systemd runs once the kiosk unit gave up (`OnFailure=`): the failure
    screen with what it can read (the device id and the coordinators' PINs when the config
    loads). It opens neither the outbox nor the camera. A stop is its normal end: exit 0."""
    cfg, path = load_config_quietly(config_path)
    f = StartupFailure("repeated", None, cfg, path)
    return show_failure(f, lang=lang or (cfg.locale if cfg else "es"), size=size,
                        windowed=windowed, exit_code=0)
