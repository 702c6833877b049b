"""The first-run controller: enrollment with `sync.device.enroll.enroll` on the pool, the code
typed on the screen or read from the coordinator's QR in camera frames (`decode_qr`).

Owned by `kiosk.app.window.KioskWindow`; it talks to the window through `Shell` and to the
first-run screen through `EnrollView`. On success the config is loaded, the services rebuilt
around the same camera (`Shell.sv` replaced), and the flow goes to the lock screen
(`Flow.enrolled_now`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from hardware.camera import CameraError
from kiosk.app.lockout import FileLockouts
from kiosk.app.services import services_for
from kiosk.app.shell import EnrollView, Shell
from kiosk.capture.flow import Notice, Step
from kiosk.i18n import render, tr
from kiosk.vision.qr import decode_qr
from sync.common.msg import Msg
from sync.device.config import load_config
from sync.device.enroll import EnrollError
from sync.wire.enrollment import URI_SCHEME, CodeFormatError, parse_code

_log = logging.getLogger("fieldkit.kiosk")


class _Progress(QObject):
    # An `enroll.step.*` message and the fraction done: emitted on the worker, delivered (and
    # rendered, in the language chosen then) on the UI thread.
    step = Signal(object, float)


class EnrollController:
    def __init__(self, shell: Shell, parent: QObject) -> None:
        self.shell = shell
        self.view: EnrollView | None = None
        self.enrolling = False
        self._qr_on = False
        self._qr_busy = False
        self._qr_index: int | None = None
        self._qr_timer = QTimer(parent, interval=100)
        self._qr_timer.timeout.connect(self._poll_qr)
        self.progress = _Progress(parent)
        self.progress.step.connect(self._on_enroll_progress)

    # -- enrolling ---------------------------------------------------------------------------
    def enroll(self, code: str, server: str = "") -> None:
        sh = self.shell
        fn = sh.sv.enroll
        if fn is None or self.enrolling or sh.flow.step != Step.FIRST_RUN:
            return
        if not code:
            sh.show_notice(Notice(tr("Escriba el código de inscripción o escanee el QR."), error=True))
            return
        self.stop_qr_scan()
        self.enrolling = True
        if self.view is not None:
            self.view.set_busy(True)
        emit, path = self.progress.step.emit, sh.sv.config_path

        def work() -> Any:
            return fn(code, server or None, config_path=path, progress=lambda m, f: emit(m, f))

        sh.jobs.run(work, self._enrolled, self._enroll_failed)

    def _on_enroll_progress(self, step: Msg, fraction: float) -> None:
        if self.enrolling and self.view is not None:
            self.view.set_progress(render(step), fraction)

    def _enroll_failed(self, e: Exception) -> None:
        self.enrolling = False
        if self.view is not None:
            self.view.set_busy(False)
        if isinstance(e, EnrollError):
            # The reason is the screen's; the server's or the file system's words are the log's.
            _log.warning("enrollment refused: %s%s", e.reason, f" ({e.detail})" if e.detail else "")
            msg = e.msg
        else:
            _log.error("enrollment failed", exc_info=e)
            msg = Msg("enroll.failed")
        self.shell.show_notice(Notice(msg, error=True))

    def _enrolled(self, result: Any) -> None:
        sh = self.shell
        try:
            cfg = load_config(result.config_path)
            sv = services_for(cfg, sh.sv.camera)
        except Exception as e:  # written but unusable: say so, stay on the first run
            self._enroll_failed(e)
            return
        sh.sv = dataclasses.replace(sv, now_ms=sh.sv.now_ms)
        sh.flow.lockouts = FileLockouts(cfg)
        sh.flow.idle_lock_seconds = cfg.idle_lock_minutes * 60.0
        self.enrolling = False
        sh.flow.enrolled_now()

    # -- the coordinator's QR ------------------------------------------------------------------
    def scan_qr(self, on: bool) -> None:
        sh = self.shell
        if not on:
            self.stop_qr_scan()
            return
        if sh.sv.camera is None:
            if self.view is not None:
                self.view.set_scanning(False)
            sh.show_notice(Notice(tr("No hay cámara configurada: escriba el código."), error=True))
            return
        self._qr_on = True
        sh.camera(True)
        self._qr_timer.start()
        sh.show_notice(Notice(tr("Muestre a la cámara el QR de inscripción del coordinador.")))

    def stop_qr_scan(self) -> None:
        if self._qr_on:
            self._qr_on = False
            self._qr_timer.stop()
            self.shell.camera(False)

    def _poll_qr(self) -> None:
        sh, view = self.shell, self.view
        cam = sh.sv.camera
        if cam is None or not self._qr_on or view is None:
            return
        try:
            frame = cam.latest_frame(0, newer_than=self._qr_index)
        except CameraError:
            return
        self._qr_index = frame.index
        view.show_frame(frame.image)
        if self._qr_busy:
            return
        self._qr_busy = True
        image = frame.image

        def read() -> str | None:
            return next((t for t in decode_qr(image).texts if t.lower().startswith(URI_SCHEME + ":")), None)

        def done(text: str | None) -> None:
            self._qr_busy = False
            if text is None or not self._qr_on or sh.flow.step != Step.FIRST_RUN:
                return
            try:
                c = parse_code(text)
            except CodeFormatError as e:
                _log.warning("enrollment QR refused: %s", e)
                sh.show_notice(Notice(Msg("enroll.bad_qr"), error=True))
                return
            self.stop_qr_scan()
            if self.view is not None:
                self.view.set_qr(text, c.display, c.server_url or "")
            self.enroll(text, "")

        def failed(_e: Exception) -> None:
            self._qr_busy = False

        sh.jobs.run(read, done, failed)
