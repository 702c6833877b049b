"""The kiosk window: drives `kiosk.capture.flow` from the screens in `kiosk.ui`.

Camera frames are polled from a QTimer (latest-frame, never queued); vision,
PIN checks, saving, enrollment and status run on worker threads (`kiosk.ui.jobs`);
the UI thread only shows and forwards. Screens are rebuilt on every step, so a
language change is a rebuild. The halves of the window: `kiosk.app.capture`
(camera, analysis, save), `kiosk.app.admin` (home, coordinator),
`kiosk.app.enroll` (first run); the non-Qt parts: `kiosk.capture.analysis`,
`kiosk.app.services`, `kiosk.app.lockout`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QStackedWidget, QVBoxLayout, QWidget

from kiosk.app.admin import AdminMixin
from kiosk.app.capture import CAPTURE, CaptureMixin
from kiosk.app.card_pictures import card_pictures
from kiosk.app.enroll import EnrollMixin
from kiosk.app.lockout import FileLockouts
from kiosk.app.screens import ScreenFactory
from kiosk.app.services import Services, auxiliaries, build_services, coordinators
from kiosk.capture.flow import Flow, MemoryLockouts, Notice, Step
from kiosk.ui import i18n
from kiosk.ui.jobs import Jobs
from sync.common.pin import verify_pin

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


class KioskWindow(CaptureMixin, AdminMixin, EnrollMixin, QWidget):
    def __init__(self, services: Services, lang: str = "es") -> None:
        super().__init__()
        self.sv = services
        cfg = services.config
        i18n.set_language(lang or (cfg.locale if cfg else "es"))
        self.jobs, self.cam_jobs = Jobs(2, self), Jobs(1, self)  # children: Qt owns them
        self.flow = Flow(
            verify_pin=self._verify,
            enrolled=cfg is not None,
            idle_lock_seconds=(cfg.idle_lock_minutes * 60.0) if cfg else 300.0,
            lockouts=FileLockouts(cfg) if cfg else MemoryLockouts(),
        )
        self.flow.listeners.append(self._on_step)
        self.screens = ScreenFactory(self)
        self.stack = QStackedWidget()
        layout = QVBoxLayout(self)
        layout.addWidget(self.stack)
        layout.setContentsMargins(0, 0, 0, 0)
        # Shadows QWidget.screen() (the QScreen): here it is the step's screen widget.
        self.screen: QWidget | None = None  # type: ignore[assignment]
        self.coordinator_pin = False  # the lock screen asks for a coordinator's PIN
        self.pin_verdict = False
        self.status_data: dict[str, Any] = {}
        self.preview_frames = 0
        self.analysed_frames = 0
        self._analyser: Any = None
        self._gen = 0
        self._analysing = False
        self._force = False
        self._last_index: int | None = None
        self._cam_lost = False
        self._closed = False
        self._frame_timer = QTimer(self, interval=33)
        self._frame_timer.timeout.connect(self._poll_frame)
        self._tick_timer = QTimer(self, interval=1000)
        self._tick_timer.timeout.connect(self._tick)
        self._status_timer = QTimer(self, interval=5000)
        self._status_timer.timeout.connect(self.refresh_status)
        self._folio_timer = QTimer(self, singleShot=True, interval=30000)
        self._folio_timer.timeout.connect(self._folio_timeout)
        self._activity = _Activity(lambda: self.flow.touch(time.monotonic()))
        _app().installEventFilter(self._activity)
        self.init_enroll()
        self._tick_timer.start()
        self._status_timer.start()
        self._on_step(self.flow.step)
        self.refresh_status()
        # The model chooser's pictures are drawn by the card generator: ready them early, off-thread.
        # With `self` as context the timer dies with the window (tests open and close windows fast).
        QTimer.singleShot(500, self, lambda: self.jobs.run(card_pictures, self._pictures_ready))

    def _pictures_ready(self, pictures: dict[str, np.ndarray]) -> None:
        self.screens.pictures = pictures
        if self.flow.step == Step.CARD_MODEL:
            self.rebuild()

    # -- flow -> screens ------------------------------------------------------------------
    def _on_step(self, step: Step) -> None:
        if step not in CAPTURE:
            self._frame_timer.stop()
        if step != Step.FIRST_RUN:
            self.stop_qr_scan()
        if step in (Step.LOCKED, Step.FIRST_RUN):
            self._camera(False)
        self.show_screen(self.screens.build(step))
        if step in CAPTURE:
            self._begin_capture(step)
        if step == Step.FOLIO:
            self._folio_timer.start()
        if step == Step.HOME:
            self.refresh_status()

    def show_screen(self, w: QWidget) -> None:
        old = self.screen
        self.screen = w
        self.stack.addWidget(w)
        self.stack.setCurrentWidget(w)
        if old is not None:
            self.stack.removeWidget(old)
            old.deleteLater()
        self.show_notice()

    def show_notice(self, notice: Notice | None = None) -> None:
        n = notice or self.flow.notice
        target = getattr(self.screen, "notice", None)
        if target is not None and hasattr(target, "show_text"):
            target.show_text(n.text if n else None, n.error if n else False)

    def rebuild(self) -> None:
        self.show_screen(self.screens.build(self.flow.step))

    # -- lock -------------------------------------------------------------------------------
    def _verify(self, _aux: str, _pin: str) -> bool:
        return self.pin_verdict  # computed off the UI thread just before unlock()

    def people(self, coordinator: bool) -> list[tuple[str, str, str]]:
        """(id, name, pin hash) of the config's coordinators, or of its auxiliaries who capture."""
        cfg = self.sv.config
        found = (coordinators(cfg) if coordinator else auxiliaries(cfg)) if cfg else []
        return [(a.id, a.name, a.pin_hash) for a in found]

    def try_unlock(self, aux_id: str, name: str, pin: str) -> None:
        coordinator = self.coordinator_pin
        stored = next((h for i, _n, h in self.people(coordinator) if i == aux_id), "")

        def done(ok: bool) -> None:
            if self.flow.step not in (Step.LOCKED, Step.HOME):
                return
            self.pin_verdict = ok
            unlocked = self.flow.unlock(aux_id, name, pin, time.monotonic(), coordinator=coordinator)
            self.pin_verdict = False
            if unlocked:
                self.coordinator_pin = False
                if not coordinator:
                    self._camera(True)
            else:
                self.show_notice()
                self._tick()

        if self.flow.lockout_remaining(aux_id, time.monotonic()) > 0:
            done(False)
        else:
            self.jobs.run(lambda: bool(stored) and verify_pin(pin, stored), done)

    def toggle_coordinator_pin(self) -> None:
        self.coordinator_pin = not self.coordinator_pin
        self.rebuild()

    def _tick(self) -> None:
        now = time.monotonic()
        if self.flow.tick(now):
            self.show_notice()
        lock = getattr(self.screen, "set_lockout", None)
        sel = getattr(self.screen, "selected", None)
        if lock is not None and sel:
            lock(self.flow.lockout_remaining(sel[0], now))

    # -- shutting down ----------------------------------------------------------------------
    def close_services(self) -> None:
        """Stop timers, camera and workers, drop any draft, close the outbox (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._frame_timer.stop()
        self._tick_timer.stop()
        self._status_timer.stop()
        self.stop_qr_scan()
        self.flow.draft = None  # an unsaved capture never outlives the window
        _app().removeEventFilter(self._activity)
        self.jobs.close()
        if self.sv.camera is not None:
            self.cam_jobs.close()
            self.sv.camera.stop()
        if self.sv.save_ctx is not None:
            self.sv.save_ctx.close()

    def closeEvent(self, e: Any) -> None:
        self.close_services()
        super().closeEvent(e)
