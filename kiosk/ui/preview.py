"""Live camera preview with the card outline (or a face oval) and the detected card drawn on it."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from kiosk.ui.widgets import rgb_to_qimage

ID1_ASPECT = 85.60 / 53.98


class Preview(QWidget):
    def __init__(self, face: bool = False) -> None:
        super().__init__()
        self.face = face
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._image: QImage | None = None
        self._frame_size: tuple[int, int] = (1280, 720)
        self._quad: np.ndarray | None = None
        self._good = False
        self.frames_shown = 0

    def set_frame(self, rgb: np.ndarray) -> None:
        self._frame_size = (rgb.shape[1], rgb.shape[0])
        self._image = rgb_to_qimage(rgb, self.size())
        self.frames_shown += 1
        self.update()

    def set_detection(self, quad: np.ndarray | None, good: bool) -> None:
        """Card corners in frame pixels (4x2) or None; `good`: the verdict is capture-ready."""
        self._quad, self._good = quad, good
        self.update()

    def clear(self) -> None:
        self._image, self._quad = None, None
        self.update()

    def _target(self) -> QRectF:
        fw, fh = self._frame_size
        s = min(self.width() / fw, self.height() / fh)
        w, h = fw * s, fh * s
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, _e: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#000000"))
        target = self._target()
        if self._image is not None:
            p.drawImage(target, self._image)
        # The guide: where to hold the card (ID-1 proportions) or the face.
        gw = target.width() * (0.50 if self.face else 0.70)
        gh = gw * 1.3 if self.face else gw / ID1_ASPECT
        if gh > target.height() * 0.9:
            gh = target.height() * 0.9
            gw = gh / 1.3 if self.face else gh * ID1_ASPECT
        guide = QRectF(target.center().x() - gw / 2, target.center().y() - gh / 2, gw, gh)
        pen = QPen(QColor("#ffffff"), 4, Qt.PenStyle.DashLine)
        p.setPen(pen)
        if self.face:
            p.drawEllipse(guide)
        else:
            p.drawRoundedRect(guide, 12, 12)
        if self._quad is not None and len(self._quad) == 4:
            fw, _fh = self._frame_size
            s = target.width() / fw
            poly = QPolygonF([QPointF(target.x() + x * s, target.y() + y * s) for x, y in self._quad])
            p.setPen(QPen(QColor("#00e05a" if self._good else "#ffd400"), 5))
            p.drawPolygon(poly)
        p.end()
