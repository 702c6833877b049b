"""Front, back and selfie capture: live preview, guidance, auto-capture, manual shutter.

Guidance arrives as a message (`Msg`, rendered here in the chosen language: the selfie's in the
citizen's register, "usted") or as a text already rendered, shown as it is."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from kiosk.i18n import Msg, render
from kiosk.ui.preview import Preview
from kiosk.ui.texts import TITLES
from kiosk.ui.theme import Scale, tr
from kiosk.ui.widgets import Header, NoticeLabel, button, label


class CaptureScreen(QWidget):
    shutter = Signal()
    cancel = Signal()
    retry_challenge = Signal()

    def __init__(self, kind: str, texts: tuple[str, str, str] | None = None, citizen: bool = False) -> None:
        """`kind`: "front", "back" or "selfie"; `texts`: (title, step, help) in place of
        TITLES[kind]; `citizen`: the self-service screen (every message in the citizen's words)."""
        super().__init__()
        self.kind = kind
        # The selfie screen speaks to the person in front of the camera; a self-service one, all.
        self.register = "ciudadano" if kind == "selfie" or citizen else "auxiliar"
        title, step, help_text = texts or TITLES[kind]
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 6)
        col.setSpacing(4)
        col.addWidget(Header(title, self.cancel.emit, tr(step) if step else ""))
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
        self._camera_ok = True
        body.addWidget(side_box)
        col.addLayout(body, 1)
        self.guide = label(tr("Buscando…"), "guide")
        self.guide.setObjectName("guide")
        col.addWidget(self.guide)
        self._enable_shutter()

    def show_frame(self, rgb: np.ndarray) -> None:
        self.preview.set_frame(rgb)

    def _text(self, said: Msg | str) -> str:
        return render(said, self.register) if isinstance(said, Msg) else said

    def set_guidance(self, text: Msg | str, quad: np.ndarray | None = None, good: bool = False) -> None:
        self.guide.setText(self._text(text))
        self._style_guide("good" if good else "")
        self.preview.set_detection(quad, good)

    def _style_guide(self, tone: str) -> None:
        self.guide.setStyleSheet({"good": "background: #00612a;",
                                  "bad": "background: #a31515; color: white;"}.get(tone, ""))

    def set_challenge(self, text: Msg | str | None) -> None:
        """The challenge's prompt (the citizen's words); empty or None while none is asked."""
        said = render(text, "ciudadano") if isinstance(text, Msg) else text
        self.challenge.setText(tr("Prueba de vida") + ": " + said if said else "")

    def set_liveness_state(self, state: str) -> None:
        """Selfie: "pending", "passed", "failed" or "unavailable". The photo takes itself once
        liveness passed, of the face that passed it (kiosk.capture.analysis), so the shutter
        stays off here; a failed or impossible check is shown in red, and «Otra prueba» becomes
        the way on."""
        if state in ("failed", "unavailable"):
            self._style_guide("bad")
        self.retry_button.setVisible(self.kind == "selfie" and state != "unavailable")  # nothing to retry
        self.retry_button.setProperty("role", "primary" if state == "failed" else "")
        self.retry_button.style().polish(self.retry_button)

    def _enable_shutter(self) -> None:
        # A selfie the shutter took would not be bound to the face that passed liveness.
        self.shutter_button.setEnabled(self._camera_ok and self.kind != "selfie")

    def set_camera_error(self, message: Msg | str | None) -> None:
        """The camera's message while it is lost; None when it is back."""
        self._camera_ok = not message
        if message:
            said = render(message) if isinstance(message, Msg) else message
            self.notice.show_text(said + "\n" + tr("Reintentando…"), error=True)
            self.preview.clear()
            self.preview.set_detection(None, False)
            self.guide.setText(tr("Sin imagen de la cámara"))
            self._style_guide("bad")
        else:
            self.notice.show_text(None)
            self.guide.setText(tr("Buscando…"))
            self._style_guide("")
        self._enable_shutter()
