"""The kiosk window: drives `kiosk.capture.flow` from the screens in `kiosk.ui`.

The window is the composition root. It owns the flow, the worker pools (`kiosk.ui.jobs`) and
the services, switches screens, and composes four controllers, each with its own state and the
narrow `kiosk.app.shell.Shell` back into the window: `capture` (camera polling, analysis, save,
folio), `home` (status, warnings, new support, coordinator menu), `lock` (PINs, lockouts) and
`enrollment` (first run); on a self-service device (``[self_service] enabled``) the flow is a
`kiosk.capture.citizen.CitizenFlow` and a fifth, `citizen` (activation code, aspirant, idle
warning), asks the server through `Services.request_activation`. Camera frames are polled
from a QTimer (latest-frame, never queued); vision, PIN checks, saving, enrollment and status
run on workers; the UI thread only shows and forwards. Screens are rebuilt on every step (a
language change is a rebuild); before a screen is built every controller's view is detached,
and the builder attaches the one that drives it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QStackedWidget, QVBoxLayout, QWidget

from kiosk import i18n
from kiosk.app.capture import CaptureController
from kiosk.app.card_pictures import card_pictures
from kiosk.app.citizen import CitizenController
from kiosk.app.enroll import EnrollController
from kiosk.app.home import HomeController
from kiosk.app.lock import LockController
from kiosk.app.lockout import FileLockouts
from kiosk.app.screens import ScreenFactory
from kiosk.app.services import Services, build_services
from kiosk.app.shell import NoticeView
from kiosk.capture.citizen import CitizenFlow
from kiosk.capture.flow import Flow, Notice, Step
from kiosk.capture.lockouts import MemoryLockouts
from kiosk.ui.citizen import IdleOverlay
from kiosk.ui.jobs import Jobs
from sync.device.config import DeviceConfig

__all__ = ["KioskWindow", "Services", "build_services"]
_log = logging.getLogger("fieldkit.kiosk")


def _app() -> QCoreApplication:
    """The running application (a window exists only inside one)."""
    app = QApplication.instance()
    assert app is not None
    return app


class _Activity(QObject):
    def __init__(self, on_input: Callable[[], None]) -> None:
        super().__init__()
        self.on_input = on_input
        self.kinds = {
            QEvent.Type.MouseButtonPress,
            QEvent.Type.TouchBegin,
            QEvent.Type.TabletPress,
            QEvent.Type.KeyPress,
        }

    def eventFilter(self, _obj: QObject, e: QEvent) -> bool:
        if e.type() in self.kinds:
            self.on_input()
        return False


class KioskWindow(QWidget):
    def __init__(self, services: Services, lang: str = "es") -> None:
        """Everything is built first and nothing runs in the background until all of it is:
        a window that fails while being built is closed (`close_services`) before the error
        goes on, so the failure screen that follows has no timer or worker of it behind."""
        super().__init__()
        self._closed = False
        self.sv = services
        try:
            self._build(lang)
            self._start()
        except BaseException:
            self.close_services()
            raise

    def _build(self, lang: str) -> None:
        cfg = self.sv.config
        i18n.set_language(lang or (cfg.locale if cfg else "es"))
        self.jobs, self.cam_jobs = Jobs(2, self), Jobs(1, self)  # children: Qt owns them
        self.lock = LockController(self)
        self.flow = self._new_flow(cfg)
        self.capture = CaptureController(self, self)
        self.home = HomeController(self, self._coordinator_pin_screen)
        self.enrollment = EnrollController(self, self)
        self.citizen: CitizenController | None = None
        if self.flow.citizen:
            self._self_service()
        self.flow.listeners.append(self._on_step)
        self.screens = ScreenFactory(self)
        self.stack = QStackedWidget()
        layout = QVBoxLayout(self)
        layout.addWidget(self.stack)
        layout.setContentsMargins(0, 0, 0, 0)
        # Shadows QWidget.screen() (the QScreen): here it is the step's screen widget.
        self.screen: QWidget | None = None  # type: ignore[assignment]
        self._notice: NoticeView | None = None
        self._tick_timer = QTimer(self, interval=1000)
        self._tick_timer.timeout.connect(self._tick)
        self.status_timer = QTimer(self, interval=5000)
        self.status_timer.timeout.connect(self.home.refresh_status)
        self._activity = _Activity(lambda: self.flow.touch(time.monotonic()))
        self._on_step(self.flow.step)  # the first screen: the step most likely to fail

    def _new_flow(self, cfg: DeviceConfig | None) -> Flow:
        lockouts = FileLockouts(cfg) if cfg else MemoryLockouts()
        if cfg is not None and cfg.self_service.enabled:
            ss = cfg.self_service
            return CitizenFlow(verify_pin=self.lock.verify, lockouts=lockouts, config=cfg,
                               idle_seconds=float(ss.idle_seconds), warning_seconds=float(ss.warning_seconds))
        return Flow(
            verify_pin=self.lock.verify,
            enrolled=cfg is not None,
            idle_lock_seconds=(cfg.idle_lock_minutes * 60.0) if cfg else 300.0,
            lockouts=lockouts,
        )

    def _self_service(self) -> None:
        """The citizen's controller and the idle warning laid over every screen."""
        self.citizen = CitizenController(self, self.lock, self.home.capture_gate)
        overlay = IdleOverlay(self)
        overlay.touched.connect(lambda: self.flow.touch(time.monotonic()))
        self.citizen.idle_view = overlay

    def _tick(self) -> None:
        self.lock.tick()        # the flow's idle lock (a citizen's: the discard)
        if self.citizen is not None:
            self.citizen.tick()  # the idle warning's countdown

    def _start(self) -> None:
        """The timers, the input filter and the first status snapshot, once all is built."""
        _app().installEventFilter(self._activity)
        self._tick_timer.start()
        self.status_timer.start()
        self.home.refresh_status()
        # The model chooser's pictures are drawn by the card generator: ready them early, off-thread.
        # With `self` as context the timer dies with the window (tests open and close windows fast).
        QTimer.singleShot(500, self, lambda: self.jobs.run(card_pictures, self._pictures_ready))

    def _pictures_ready(self, pictures: dict[str, np.ndarray]) -> None:
        self.screens.pictures = pictures
        if self.flow.step == Step.CARD_MODEL:
            self.rebuild()

    # -- Shell: what the controllers ask of the window ------------------------------------------
    def camera(self, on: bool) -> None:
        cam = self.sv.camera
        if cam is not None:
            self.cam_jobs.run(cam.start if on else cam.stop)

    def server_now_ms(self) -> int:
        return self.home.server_now_ms()

    def show_notice(self, notice: Notice | None = None) -> None:
        n = notice or self.flow.notice
        if self._notice is not None:
            self._notice.show_text(n.text if n else None, n.error if n else False)

    def rebuild(self) -> None:
        self._present(self.flow.step)

    # -- flow -> screens ------------------------------------------------------------------
    def _on_step(self, step: Step) -> None:
        if step != Step.FIRST_RUN:
            self.enrollment.stop_qr_scan()
        cfg = self.sv.config
        if step == Step.LOCKED and not self.flow.citizen and cfg is not None and cfg.self_service.enabled:
            # Enrolled just now as a self-service device: its own flow from here on.
            old, self.flow = self.flow, self._new_flow(cfg)
            self.flow.notice = old.notice
            self._self_service()
            self.flow.listeners.append(self._on_step)
            step = self.flow.step
        if step in (Step.LOCKED, Step.FIRST_RUN, Step.CITIZEN_START):
            self.camera(False)
        self._present(step)
        self.capture.on_step(step)
        if step in (Step.HOME, Step.FOLIO):
            self.home.refresh_status()

    def _coordinator_pin_screen(self) -> None:
        """Home's (or the self-service start's) «Coordinador»: the lock screen asking for a
        coordinator's PIN."""
        if self.flow.step in (Step.HOME, Step.CITIZEN_START):
            self.lock.coordinator_pin = True
            self.flow.notice = None  # home's notice is not about the coordinator's PIN screen
            self._present(Step.LOCKED)
        else:
            self.lock.toggle_coordinator_pin()

    def _present(self, step: Step) -> None:
        self.capture.view = self.enrollment.view = self.lock.view = None
        self.home.status_view = self.home.result_view = None
        built = self.screens.build(step)
        old, self.screen, self._notice = self.screen, built.widget, built.notice
        self.stack.addWidget(built.widget)
        self.stack.setCurrentWidget(built.widget)
        if old is not None:
            self.stack.removeWidget(old)
            old.deleteLater()
        self.show_notice()

    # -- shutting down ----------------------------------------------------------------------
    def close_services(self) -> None:
        """Stop timers, camera and workers, drop any draft, close the outbox (idempotent). Also
        on a window that failed while being built: what was not made yet is skipped."""
        if self._closed:
            return
        self._closed = True
        built = self.__dict__  # a half-built window has only some of its parts
        if "capture" in built:
            self.capture.stop()
        for timer in ("_tick_timer", "status_timer"):
            if timer in built:
                built[timer].stop()
        if "enrollment" in built:
            self.enrollment.stop_qr_scan()
        if "flow" in built:
            self.flow.draft = None  # an unsaved capture never outlives the window
        if "_activity" in built:
            _app().removeEventFilter(self._activity)
        if "jobs" in built:
            self.jobs.close()
        if self.sv.camera is not None:
            if "cam_jobs" in built:
                self.cam_jobs.close()
            self.sv.camera.stop()
        if self.sv.save_ctx is not None:
            self.sv.save_ctx.close()

    def closeEvent(self, e: Any) -> None:
        self.close_services()
        super().closeEvent(e)
