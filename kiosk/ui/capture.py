"""Front, back and selfie capture: live preview, guidance, auto-capture, manual shutter."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from kiosk.ui.preview import Preview
from kiosk.ui.texts import TITLES
from kiosk.ui.theme import Scale, tr
from kiosk.ui.widgets import Header, NoticeLabel, button, label


class CaptureScreen(QWidget):
    shutter = Signal()
    cancel = Signal()
    retry_challenge = Signal()

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        title, step, help_text = TITLES[kind]
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 6)
        col.setSpacing(4)
        col.addWidget(Header(title, self.cancel.emit, tr(step)))
        self.help = label(tr(help_text))
        col.addWidget(self.help)
        self.notice = NoticeLabel(errors_only=True)
        col.addWidget(self.notice)
        self.challenge = label("", "title")
        self.challenge.setObjectName("challenge")
        self.challenge.setVisible(kind == "selfie")
        col.addWidget(self.challenge)
        body = QHBoxLayout()
        self.preview = Preview(face=kind == "selfie")
        body.addWidget(self.preview, 1)
        side_box = QWidget()
        side_box.setFixedWidth(Scale.px(190))
        side = QVBoxLayout(side_box)
        side.setContentsMargins(0, 0, 0, 0)
        side.addStretch(1)
        self.retry_button = button(tr("Otra prueba"), None, self.retry_challenge.emit, name="retry_challenge")
        self.retry_button.setVisible(kind == "selfie")
        side.addWidget(self.retry_button)
        self.shutter_button = button(tr("Tomar foto"), "primary", self.shutter.emit, name="shutter")
        side.addWidget(self.shutter_button)
        self._liveness = ""
        self._camera_ok = True
        body.addWidget(side_box)
        col.addLayout(body, 1)
        self.guide = label(tr("Buscando…"), "guide")
        self.guide.setObjectName("guide")
        col.addWidget(self.guide)
        self._enable_shutter()

    def show_frame(self, rgb: np.ndarray) -> None:
        self.preview.set_frame(rgb)

    def set_guidance(self, text: str, quad: np.ndarray | None = None, good: bool = False) -> None:
        self.guide.setText(tr(text))
        self._style_guide("good" if good else "")
        self.preview.set_detection(quad, good)

    def _style_guide(self, tone: str) -> None:
        self.guide.setStyleSheet({"good": "background: #00612a;",
                                  "bad": "background: #a31515; color: white;"}.get(tone, ""))

    def set_challenge(self, text: str) -> None:
        self.challenge.setText(tr("Prueba de vida") + ": " + tr(text) if text else "")

    def set_liveness_state(self, state: str) -> None:
        """Selfie: "pending", "passed", "failed" or "unavailable". The shutter only takes a photo
        once liveness passed; a failed or impossible check is shown in red, and «Otra prueba»
        becomes the way on."""
        self._liveness = state
        if state in ("failed", "unavailable"):
            self._style_guide("bad")
        self.retry_button.setVisible(self.kind == "selfie" and state != "unavailable")  # nothing to retry
        self.retry_button.setProperty("role", "primary" if state == "failed" else "")
        self.retry_button.style().polish(self.retry_button)
        self._enable_shutter()

    def _enable_shutter(self) -> None:
        selfie_ready = self.kind != "selfie" or self._liveness == "passed"
        self.shutter_button.setEnabled(self._camera_ok and selfie_ready)

    def set_camera_error(self, message: str | None) -> None:
        """The camera's own Spanish message while it is lost; None when it is back."""
        self._camera_ok = not message
        if message:
            self.notice.show_text(message + "\n" + tr("Reintentando…"), error=True)
            self.preview.clear()
            self.preview.set_detection(None, False)
            self.guide.setText(tr("Sin imagen de la cámara"))
            self._style_guide("bad")
        else:
            self.notice.show_text(None)
            self.guide.setText(tr("Buscando…"))
            self._style_guide("")
        self._enable_shutter()
