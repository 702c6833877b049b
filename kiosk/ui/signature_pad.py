"""The signature pad: stylus (QTabletEvent, with pressure), touch and mouse; smooth ink.

Points are kept as `sync.wire.record.Point` (pad pixels, ms since the first point,
pressure 0..1 for a stylus, None otherwise). Ink is drawn incrementally into a
pixmap as quadratic curves through the midpoints of successive samples, with
the width following the pressure.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QEvent, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from kiosk.capture.signature import signature_problem
from kiosk.i18n import Msg
from sync.wire.record import Point, Signature


class SignaturePad(QWidget):
    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setAttribute(Qt.WidgetAttribute.WA_AcceptTouchEvents, True)
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents, True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(300, 150)
        self._strokes: list[list[Point]] = []
        self._current: list[Point] | None = None
        self._t0: float | None = None
        self._pressure = False
        self._ink = QPixmap()
        self._source: str | None = None  # "tablet", "touch" or "mouse" of the current stroke

    # -- data -------------------------------------------------------------
    def clear(self) -> None:
        self._strokes, self._current, self._t0, self._pressure = [], None, None, False
        self._ink = QPixmap()
        self.update()
        self.changed.emit()

    def is_empty(self) -> bool:
        return not any(self._strokes)

    def problem(self) -> Msg | None:
        """Why this signature cannot be accepted (a `signature.*` message), or None: save's rule,
        asked early."""
        return signature_problem(self.signature())

    def signature(self) -> Signature:
        strokes = tuple(tuple(s) for s in self._strokes if s)
        return Signature(self.width(), self.height(), strokes, has_pressure=self._pressure)

    # -- input ------------------------------------------------------------
    def _ms(self) -> int:
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        return int((now - self._t0) * 1000)

    def _begin(self, pos: QPointF, pressure: float | None, source: str) -> None:
        self._source = source
        self._current = [Point(pos.x(), pos.y(), self._ms(), pressure)]
        self._strokes.append(self._current)
        if pressure is not None:
            self._pressure = True
        self._draw_tail()

    def _extend(self, pos: QPointF, pressure: float | None) -> None:
        if self._current is None:
            return
        last = self._current[-1]
        if abs(pos.x() - last.x) + abs(pos.y() - last.y) < 0.5:
            return
        self._current.append(Point(pos.x(), pos.y(), self._ms(), pressure))
        self._draw_tail()

    def _end(self) -> None:
        if self._current is not None:
            self._current = None
            self._source = None
            self.changed.emit()

    def tabletEvent(self, e: Any) -> None:
        t = e.type()
        pressure = float(min(max(e.pressure(), 0.0), 1.0))
        if t == QEvent.Type.TabletPress:
            self._begin(e.position(), pressure, "tablet")
        elif t == QEvent.Type.TabletMove and self._source == "tablet":
            self._extend(e.position(), pressure)
        elif t == QEvent.Type.TabletRelease and self._source == "tablet":
            self._extend(e.position(), pressure)
            self._end()
        e.accept()

    def event(self, e: QEvent) -> bool:
        t = e.type()
        if t in (QEvent.Type.TouchBegin, QEvent.Type.TouchUpdate, QEvent.Type.TouchEnd):
            pts = e.points()  # type: ignore[attr-defined]
            if pts:
                pos = pts[0].position()
                if t == QEvent.Type.TouchBegin:
                    self._begin(pos, None, "touch")
                elif self._source == "touch":
                    self._extend(pos, None)
                    if t == QEvent.Type.TouchEnd:
                        self._end()
            e.accept()
            return True
        return super().event(e)

    def mousePressEvent(self, e: Any) -> None:
        if self._source is None and e.button() == Qt.MouseButton.LeftButton:
            self._begin(e.position(), None, "mouse")

    def mouseMoveEvent(self, e: Any) -> None:
        if self._source == "mouse":
            self._extend(e.position(), None)

    def mouseReleaseEvent(self, e: Any) -> None:
        if self._source == "mouse":
            self._extend(e.position(), None)
            self._end()

    # -- ink --------------------------------------------------------------
    def _width(self, p: Point) -> float:
        base = max(2.0, self.height() / 90)
        return base * (0.5 + 1.2 * p.pressure) if p.pressure is not None else base

    def _ensure_ink(self) -> None:
        if self._ink.size() != self.size():
            old = self._ink
            self._ink = QPixmap(self.size())
            self._ink.fill(QColor("white"))
            if not old.isNull():
                QPainter(self._ink).drawPixmap(0, 0, old)

    def _draw_tail(self) -> None:
        """Draw the newest piece of the current stroke: a curve through the last midpoints."""
        s = self._current
        if not s:
            return
        self._ensure_ink()
        painter = QPainter(self._ink)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(
            QColor("#001a66"),
            self._width(s[-1]),
            Qt.PenStyle.SolidLine,
            Qt.PenCapStyle.RoundCap,
            Qt.PenJoinStyle.RoundJoin,
        )
        painter.setPen(pen)
        if len(s) == 1:
            painter.drawPoint(QPointF(s[0].x, s[0].y))
        else:
            a = s[-3] if len(s) >= 3 else s[-2]
            b, c = s[-2], s[-1]
            path = QPainterPath(
                QPointF((a.x + b.x) / 2, (a.y + b.y) / 2) if len(s) >= 3 else QPointF(b.x, b.y)
            )
            path.quadTo(QPointF(b.x, b.y), QPointF((b.x + c.x) / 2, (b.y + c.y) / 2))
            painter.drawPath(path)
        painter.end()
        self.update()

    def paintEvent(self, _e: Any) -> None:
        self._ensure_ink()
        p = QPainter(self)
        p.drawPixmap(0, 0, self._ink)
        p.setPen(QPen(QColor("#000000"), 3))
        p.drawRect(self.rect().adjusted(1, 1, -2, -2))
        y = int(self.height() * 0.78)
        p.setPen(QPen(QColor("#555555"), 2, Qt.PenStyle.DashLine))
        p.drawLine(int(self.width() * 0.06), y, int(self.width() * 0.94), y)
        p.end()
