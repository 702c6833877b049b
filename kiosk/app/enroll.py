"""The window's first-run half: enrollment with `sync.device.enroll.enroll` on the pool, the code
typed on the screen or read from the coordinator's QR in camera frames (`decode_qr`).

A mixin of `kiosk.app.window.KioskWindow`. On success the config is loaded, the services rebuilt
around the same camera, and the flow goes to the lock screen (`Flow.enrolled_now`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from PySide6.QtCore import QObject, QTimer, Signal

from hardware.camera import CameraError
from kiosk.app.lockout import FileLockouts
from kiosk.app.services import services_for
from kiosk.capture.flow import Notice, Step
from kiosk.vision.qr import decode_qr
from sync.device.config import load_config
from sync.wire.enrollment import URI_SCHEME, CodeFormatError, parse_code


class _Progress(QObject):
    step = Signal(str, float)  # emitted on the worker, delivered on the UI thread


class EnrollMixin:
    flow: Any
    sv: Any
    screen: Any
    jobs: Any
    show_notice: Any
    _camera: Any

    def init_enroll(self) -> None:
        self.enrolling = False
        self._qr_on = False
        self._qr_busy = False
        self._qr_index: int | None = None
        self._qr_timer = QTimer(cast(QObject, self), interval=100)  # a mixin of KioskWindow, a QWidget
        self._qr_timer.timeout.connect(self._poll_qr)
        self._enroll_progress = _Progress()
        self._enroll_progress.step.connect(self._on_enroll_progress)

    # -- enrolling ---------------------------------------------------------------------------
    def enroll(self, code: str, server: str = "") -> None:
        fn = self.sv.enroll
        if fn is None or self.enrolling or self.flow.step != Step.FIRST_RUN:
            return
        if not code:
            self.show_notice(Notice("Escriba el código de inscripción o escanee el QR.", error=True))
            return
        self.stop_qr_scan()
        self.enrolling = True
        self.screen.set_busy(True)
        emit, path = self._enroll_progress.step.emit, self.sv.config_path

        def work() -> Any:
            return fn(code, server or None, config_path=path, progress=lambda t, f: emit(t, f))

        self.jobs.run(work, self._enrolled, self._enroll_failed)

    def _on_enroll_progress(self, text: str, fraction: float) -> None:
        if self.enrolling and hasattr(self.screen, "set_progress"):
            self.screen.set_progress(text + "…", fraction)

    def _enroll_failed(self, e: Exception) -> None:
        self.enrolling = False
        if hasattr(self.screen, "set_busy"):
            self.screen.set_busy(False)
        self.show_notice(Notice(getattr(e, "message", None) or f"No se pudo inscribir: {e}", error=True))

    def _enrolled(self, result: Any) -> None:
        try:
            cfg = load_config(result.config_path)
            sv = services_for(cfg, self.sv.camera)
        except Exception as e:  # written but unusable: say so, stay on the first run
            self._enroll_failed(e)
            return
        self.sv = dataclasses.replace(sv, now_ms=self.sv.now_ms)
        self.flow.lockouts = FileLockouts(cfg)
        self.flow.idle_lock_seconds = cfg.idle_lock_minutes * 60.0
        self.enrolling = False
        self.flow.enrolled_now()

    # -- the coordinator's QR ------------------------------------------------------------------
    def scan_qr(self, on: bool) -> None:
        if not on:
            self.stop_qr_scan()
            return
        if self.sv.camera is None:
            self.screen.set_scanning(False)
            self.show_notice(Notice("No hay cámara configurada: escriba el código.", error=True))
            return
        self._qr_on = True
        self._camera(True)
        self._qr_timer.start()
        self.show_notice(Notice("Muestre a la cámara el QR de inscripción del coordinador."))

    def stop_qr_scan(self) -> None:
        if self._qr_on:
            self._qr_on = False
            self._qr_timer.stop()
            self._camera(False)

    def _poll_qr(self) -> None:
        cam, screen = self.sv.camera, self.screen
        if cam is None or not self._qr_on or not hasattr(screen, "show_frame"):
            return
        try:
            frame = cam.latest_frame(0, newer_than=self._qr_index)
        except CameraError:
            return
        self._qr_index = frame.index
        screen.show_frame(frame.image)
        if self._qr_busy:
            return
        self._qr_busy = True
        image = frame.image

        def read() -> str | None:
            return next((t for t in decode_qr(image).texts if t.lower().startswith(URI_SCHEME + ":")), None)

        def done(text: str | None) -> None:
            self._qr_busy = False
            if text is None or not self._qr_on or self.flow.step != Step.FIRST_RUN:
                return
            try:
                c = parse_code(text)
            except CodeFormatError as e:
                self.show_notice(Notice(f"Ese QR no es de inscripción válido: {e}", error=True))
                return
            self.stop_qr_scan()
            self.screen.set_qr(text, c.display, c.server_url or "")
            self.enroll(text, "")

        self.jobs.run(read, done, lambda _e: setattr(self, "_qr_busy", False))
