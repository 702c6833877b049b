"""Small shared widgets: buttons, notice line, numeric keypad, on-screen keyboard, images,
and kinetic (finger-drag) scrolling for scroll areas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QEvent, QPointF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScroller,
    QScrollerProperties,
    QSizePolicy,
    QStyle,
    QStyleOptionButton,
    QVBoxLayout,
    QWidget,
)

from kiosk.i18n import Msg, render
from kiosk.ui.theme import PAPER, Scale, tr


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
        self.setWordWrap(True)  # a text in place of a missing image
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
            if self.pixmap() is not None and not self.pixmap().isNull():
                self.clear()  # an image before: gone; a text put in its place stays
            return
        size = self.contentsRect().size()
        self.setPixmap(QPixmap.fromImage(rgb_to_qimage(self._rgb, size)))


class NoticeLabel(QLabel):
    """The line where the flow's notice (or any message) appears; hidden when empty. A `Msg` is
    rendered in the chosen language; a text arrives already in it and is shown as it is."""

    def __init__(self, errors_only: bool = False) -> None:
        super().__init__()
        self.errors_only = errors_only      # the screen already says what the flow's hint would
        self.setObjectName("notice")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hide()

    def show_text(self, text: Msg | str | None, error: bool = False) -> None:
        if not text or (self.errors_only and not error):
            self.hide()
            return
        self.setProperty("error", "true" if error else "false")
        self.style().unpolish(self)
        self.style().polish(self)
        self.setText(render(text) if isinstance(text, Msg) else text)
        self.show()


class TickBox(QCheckBox):
    """A check box that shows a tick when ticked: the style sheet can only fill the square
    (a mark needs an image file), and a filled square alone is easy to misread."""

    def paintEvent(self, e: Any) -> None:
        super().paintEvent(e)
        if not self.isChecked():
            return
        opt = QStyleOptionButton()
        self.initStyleOption(opt)
        r = self.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, opt, self)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(PAPER), max(3.0, r.width() / 8), Qt.PenStyle.SolidLine,
                      Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        p.drawPolyline([QPointF(r.x() + r.width() * fx, r.y() + r.height() * fy)
                        for fx, fy in ((0.24, 0.52), (0.43, 0.72), (0.78, 0.30))])
        p.end()


class HelpOrNotice(NoticeLabel):
    """A notice that takes a help line's place while it shows, so a screen with no room to
    spare (800x480) does not push its bottom rows off when an error appears."""

    def __init__(self, help_label: QWidget, errors_only: bool = False) -> None:
        super().__init__(errors_only)
        self.help = help_label

    def show_text(self, text: Msg | str | None, error: bool = False) -> None:
        super().show_text(text, error)
        self.help.setVisible(self.isHidden())


class OverlayNotice(NoticeLabel):
    """A notice laid over a help line instead of taking a place in the layout, so the screen's
    minimum size is the same with or without it. (Qt sizes a window for its minimum width: a
    wrapping line that appears there counts as two and grows the window past the panel.)
    Make it after `over` is in its screen's layout."""

    def __init__(self, over: QWidget, errors_only: bool = False) -> None:
        super().__init__(errors_only)
        self.over = over
        self.setParent(over.parentWidget())
        over.installEventFilter(self)

    def eventFilter(self, obj: Any, e: Any) -> bool:
        if obj is self.over and e.type() in (QEvent.Type.Move, QEvent.Type.Resize):
            self.setGeometry(self.over.geometry())
        return False

    def show_text(self, text: Msg | str | None, error: bool = False) -> None:
        super().show_text(text, error)
        self.setGeometry(self.over.geometry())
        self.raise_()


def touch_scroll(area: QAbstractScrollArea) -> None:
    """Kinetic scrolling by finger drag on a scroll area.

    The left-button gesture, not the touch one: a target takes one gesture type, and touches
    that no widget accepts reach Qt as synthesised mouse events too (the Pi panel), so this
    one serves finger, stylus and mouse. Presses on buttons inside are delayed briefly and
    replayed when no drag follows. Overshoot is off: content that springs past its edge reads
    as a glitch on a kiosk."""
    viewport = area.viewport()
    QScroller.grabGesture(viewport, QScroller.ScrollerGestureType.LeftMouseButtonGesture)
    scroller = QScroller.scroller(viewport)
    props = scroller.scrollerProperties()
    off = QScrollerProperties.OvershootPolicy.OvershootAlwaysOff
    props.setScrollMetric(QScrollerProperties.ScrollMetric.VerticalOvershootPolicy, off)
    props.setScrollMetric(QScrollerProperties.ScrollMetric.HorizontalOvershootPolicy, off)
    scroller.setScrollerProperties(props)


def has_touch_scroll(area: QAbstractScrollArea) -> bool:
    return QScroller.hasScroller(area.viewport())


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
    """Screen title, optional step counter and a Cancel button on the right.

    `title` is Spanish and translated here, so `Header` is an extraction keyword
    (kiosk.i18n.catalogue.KEYWORDS): a literal title is a catalogue sentence, a title from a
    table must be marked N_. `step` arrives translated."""

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


def pin_column(name: str, on_key: Callable[[str], None]) -> tuple[QVBoxLayout, QLineEdit, Keypad]:
    """A masked, read-only PIN field over the on-screen keypad (the lock screen and the
    failure screen's coordinator PIN): the keypad is the only way to type."""
    col = QVBoxLayout()
    pin = QLineEdit()
    pin.setObjectName(name)
    pin.setEchoMode(QLineEdit.EchoMode.Password)
    pin.setReadOnly(True)
    pin.setAlignment(Qt.AlignmentFlag.AlignCenter)
    pin.setPlaceholderText("PIN")
    col.addWidget(pin)
    keypad = Keypad()
    keypad.key.connect(on_key)
    col.addWidget(keypad, 1)
    return col, pin, keypad
