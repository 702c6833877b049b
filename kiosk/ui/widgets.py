"""Small shared widgets: buttons, notice line, numeric keypad, on-screen keyboard, images."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from kiosk.ui.theme import Scale, tr


def button(
    text: str, role: str | None = None, on_click: Callable[[], Any] | None = None, name: str | None = None
) -> QPushButton:
    b = QPushButton(text)
    b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    if role:
        b.setProperty("role", role)
    if name:
        b.setObjectName(name)
    if on_click is not None:
        b.clicked.connect(lambda _=False: on_click())
    return b


def label(
    text: str = "",
    name: str | None = None,
    wrap: bool = True,
    align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
) -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(wrap)
    lab.setAlignment(align)
    if name:
        lab.setObjectName(name)
    return lab


def rgb_to_qimage(rgb: np.ndarray, fit: QSize | None = None) -> QImage:
    """A deep-copied QImage of an RGB uint8 array, scaled down to fit `fit` first (cheap)."""
    img = rgb
    if fit is not None and fit.width() > 0 and fit.height() > 0:
        h, w = img.shape[:2]
        s = min(fit.width() / w, fit.height() / h)
        if s < 1.0:
            img = cv2.resize(img, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
    img = np.ascontiguousarray(img)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    h, w = img.shape[:2]
    return QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class ImageBox(QLabel):
    """Shows an RGB array scaled to fit, keeping proportions."""

    def __init__(self, min_w: int = 120, min_h: int = 80) -> None:
        super().__init__()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(Scale.px(min_w), Scale.px(min_h))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setStyleSheet("border: 2px solid #000;")
        self._rgb: np.ndarray | None = None

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSizeHint(self) -> QSize:
        return self.minimumSize()

    def set_image(self, rgb: np.ndarray | None) -> None:
        self._rgb = rgb
        self._refresh()

    def resizeEvent(self, e: Any) -> None:
        super().resizeEvent(e)
        self._refresh()

    def _refresh(self) -> None:
        if self._rgb is None:
            self.clear()
            return
        size = self.contentsRect().size()
        self.setPixmap(QPixmap.fromImage(rgb_to_qimage(self._rgb, size)))


class NoticeLabel(QLabel):
    """The line where the flow's notice (or any message) appears; hidden when empty."""

    def __init__(self, errors_only: bool = False) -> None:
        super().__init__()
        self.errors_only = errors_only      # the screen already says what the flow's hint would
        self.setObjectName("notice")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hide()

    def show_text(self, text: str | None, error: bool = False) -> None:
        if not text or (self.errors_only and not error):
            self.hide()
            return
        self.setProperty("error", "true" if error else "false")
        self.style().unpolish(self)
        self.style().polish(self)
        self.setText(tr(text))
        self.show()


class Keypad(QWidget):
    """Numeric keypad for PINs: emits digits, backspace ("<") and OK ("ok")."""

    key = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        grid = QGridLayout(self)
        grid.setSpacing(Scale.px(6))
        grid.setContentsMargins(0, 0, 0, 0)
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "<", "0", "ok"]
        for i, k in enumerate(keys):
            text = {"<": "⌫", "ok": tr("Entrar")}.get(k, k)
            b = button(text, "primary" if k == "ok" else "key", name=f"key_{k}")
            b.clicked.connect(lambda _=False, k=k: self.key.emit(k))
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            grid.addWidget(b, i // 3, i % 3)


class Keyboard(QWidget):
    """On-screen keyboard for an e-mail address (eglfs has no virtual keyboard)."""

    key = Signal(str)  # a character, "<" for backspace

    ROWS = (
        "1234567890",
        "qwertyuiop",
        "asdfghjklñ",
        "zxcvbnm",
    )

    def __init__(self, email: bool = True) -> None:
        super().__init__()
        col = QVBoxLayout(self)
        col.setSpacing(Scale.px(4))
        col.setContentsMargins(0, 0, 0, 0)
        extra = {3: ["@", ".", "-", "_", "<"]}
        for r, chars in enumerate(self.ROWS):
            row = QHBoxLayout()
            row.setSpacing(Scale.px(4))
            for ch in list(chars) + extra.get(r, []):
                b = button("⌫" if ch == "<" else ch, "kb", name=f"kb_{ch}")
                b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
                b.clicked.connect(lambda _=False, ch=ch: self.key.emit(ch))
                row.addWidget(b)
            col.addLayout(row)
        if not email:
            return
        row = QHBoxLayout()
        for text in ("@gmail.com", "@hotmail.com", "@outlook.com", ".com", ".mx"):
            b = button(text, "kb", name=f"kb_{text}")
            b.setStyleSheet(f"font-size: {Scale.px(16)}px;")
            b.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            b.clicked.connect(lambda _=False, t=text: self.key.emit(t))
            row.addWidget(b, 2 if text.startswith("@") else 1)
        col.addLayout(row)


class Header(QWidget):
    """Screen title, optional step counter and a Cancel button on the right."""

    def __init__(self, title: str, on_cancel: Callable[[], Any] | None = None, step: str = "") -> None:
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.title = label(tr(title), "title", wrap=False)
        row.addWidget(self.title, 1)
        if step:
            row.addWidget(label(step, "muted", wrap=False))
        if on_cancel is not None:
            row.addWidget(button(tr("Cancelar"), "danger", on_cancel, name="cancel"))
