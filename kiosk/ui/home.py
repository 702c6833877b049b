"""Home: the processes and aspirants, "Nuevo apoyo", the always-visible sync status, and the
warnings as banners (colour by severity, errors first).

The banners take at most three lines of text; what does not fit, in those lines or in the room
the processes leave (three processes at 800x480 leave one), is counted on a button beside the
title ("2 avisos más", red when one of them is an error) that shows every warning in the
processes' place, and hides them again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLayout, QPushButton, QVBoxLayout, QWidget

from kiosk.i18n import Msg, render
from kiosk.i18n import text as plural
from kiosk.ui.theme import DANGER, INK, PAPER, WARN, Scale, tr
from kiosk.ui.widgets import NoticeLabel, button, label


@dataclass
class HomeStatus:
    """What the status bar shows; None = not known (agent not answering)."""

    pending: int | None = None
    sent_today: int | None = None
    connection: str = "—"  # already a display text
    online: bool | None = None
    battery: str = "—"
    battery_low: bool = False
    last_sync: str = "—"


class StatusBar(QFrame):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("statusbar")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.setSpacing(10)
        self.fields: dict[str, QLabel] = {}
        for key in ("pending", "sent", "conn", "battery", "last"):
            lab = QLabel()
            lab.setObjectName(f"status_{key}")
            self.fields[key] = lab
            row.addWidget(lab)  # each as wide as its text: none is cut when another is short
        row.addStretch(1)

    def set_status(self, s: HomeStatus) -> None:
        def n(v: int | None) -> str:
            return "—" if v is None else str(v)

        # tr() outside the f-strings: Babel does not extract a call inside one.
        f = self.fields
        f["pending"].setText(tr("Por enviar") + f": {n(s.pending)}")
        f["pending"].setProperty("warn", "true" if s.pending else "false")
        f["sent"].setText(tr("Enviados hoy") + f": {n(s.sent_today)}")
        f["conn"].setText(("● " if s.online else "○ ") + s.connection)
        f["conn"].setProperty("warn", "false" if s.online else "true")
        f["battery"].setText(tr("Batería") + f": {s.battery}")
        f["battery"].setProperty("warn", "true" if s.battery_low else "false")
        f["last"].setText(tr("Último envío") + f" {s.last_sync}")
        for lab in f.values():
            lab.style().unpolish(lab)
            lab.style().polish(lab)
            lab.updateGeometry()  # the re-polished font changes the width the text needs


class Banner(Protocol):
    """What a banner shows: kiosk.capture.warnings.HomeWarning has this shape."""

    @property
    def msg(self) -> Msg | str: ...
    @property
    def severity(self) -> str: ...  # "warn" or "error"


# A message (or a screen's Spanish sentence) alone is a "warn".
BannerLike = Banner | tuple[Msg | str, str] | Msg | str
MAX_LINES = 3  # of banner text while the processes show


def _shown(m: Msg | str) -> str:
    """A message rendered from the catalogues; a plain sentence through tr()."""
    return render(m) if isinstance(m, Msg) else tr(m)


def _banner(item: BannerLike) -> tuple[str, str]:
    if isinstance(item, (str, Msg)):
        return _shown(item), "warn"
    if isinstance(item, tuple):
        return _shown(item[0]), item[1]
    return _shown(item.msg), item.severity


def _colours(severity: str) -> str:
    return (f"color: {PAPER}; background: {DANGER}; border-color: {DANGER};" if severity == "error"
            else f"color: {INK}; background: #ffd84d; border-color: {WARN};")


class Banners(QWidget):
    """The banners, one row each (large bold text; red for errors, yellow for warnings)."""

    def __init__(self) -> None:
        super().__init__()
        self.col = QVBoxLayout(self)
        self.col.setContentsMargins(0, 0, 0, 0)
        self.col.setSpacing(Scale.px(4))
        # The banners give way rather than push the screen past the window: squeezed until
        # HomeScreen._fit hides the rows that no longer fit.
        self.col.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.rows: list[QLabel] = []

    def minimumSizeHint(self) -> QSize:
        return QSize(0, 0)

    def row(self, i: int, text: str, severity: str) -> QLabel:
        """Row `i` showing `text`, made if needed (hidden until shown)."""
        while len(self.rows) <= i:
            lab = label("", f"banner_{len(self.rows)}")
            lab.setTextFormat(Qt.TextFormat.PlainText)
            self.col.addWidget(lab)
            self.rows.append(lab)
        lab = self.rows[i]
        px = Scale.px
        lab.setStyleSheet(f"font-size: {px(20)}px; font-weight: 800; padding: {px(3)}px {px(8)}px; "
                          f"border: 0; border-left: {px(8)}px solid; {_colours(severity)}")
        lab.setProperty("severity", severity)
        lab.setText("⚠ " + text)
        return lab

    def row_height(self, i: int, text: str, severity: str, width: int) -> int:
        lab = self.row(i, text, severity)
        lab.ensurePolished()
        lab.setMinimumHeight(0)  # measure the text, not the height it was last fixed at
        lab.setMaximumHeight(16777215)
        return lab.heightForWidth(width)

    def show_rows(self, heights: list[int]) -> None:
        """The first rows, at these heights (their text's at this width); the others hidden."""
        for i, lab in enumerate(self.rows):
            lab.setVisible(i < len(heights))
            if i < len(heights):
                lab.setFixedHeight(heights[i])
        self.setMaximumHeight(sum(heights) + self.col.spacing() * max(0, len(heights) - 1))


class HomeScreen(QWidget):
    new_support = Signal(str)  # process id
    send_now = Signal()
    coordinator = Signal()
    sign_out = Signal()
    # Installed by kiosk.app.screens (status bar and warnings from the agent's status).
    set_status_data: Callable[[dict[str, Any]], None]

    def __init__(self, operator: str, processes: list[tuple[str, str, str]]) -> None:
        """`processes`: (process id, process name, aspirant name)."""
        super().__init__()
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        self.status = StatusBar()
        col.addWidget(self.status)
        self.body = QVBoxLayout()
        self.body.setContentsMargins(Scale.px(12), Scale.px(6), Scale.px(12), Scale.px(8))
        self.body.setSpacing(Scale.px(6))
        col.addLayout(self.body, 1)
        self.top = QWidget()
        top = QHBoxLayout(self.top)
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(label(tr("Auxiliar") + f": {operator}", "title", wrap=False), 1)
        # The warnings that do not fit, summed up where they cost no height: beside the title.
        self.more = button("", None, self._toggle, name="warnings_more")
        self.more.hide()
        top.addWidget(self.more)
        top.addWidget(button(tr("Cerrar sesión"), None, self.sign_out.emit, name="sign_out"))
        self.body.addWidget(self.top)
        self.banners = Banners()
        self.banners.hide()
        self.body.addWidget(self.banners)
        self.notice = NoticeLabel()
        self.notice.installEventFilter(self)  # a notice shown or hidden changes the banners' room
        self.body.addWidget(self.notice)
        self._buttons: list[tuple[str, QPushButton]] = []
        self.selected: str | None = processes[0][0] if processes else None
        self.procs = self._process_list(processes)
        self.body.addWidget(self.procs)
        self.body.addStretch(1)
        # "Nuevo apoyo" between the two other actions: one row, so three processes still fit.
        self.action_row = QWidget()
        row = QHBoxLayout(self.action_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(button(tr("Enviar ahora"), None, self.send_now.emit, name="send_now"),
                      0, Qt.AlignmentFlag.AlignBottom)
        self.new_button = button(tr("Nuevo apoyo"), "huge", self._new, name="new_support")
        self.new_button.setEnabled(bool(processes))
        row.addWidget(self.new_button, 1)
        row.addWidget(button(tr("Coordinador"), None, self.coordinator.emit, name="coordinator"),
                      0, Qt.AlignmentFlag.AlignBottom)
        self.body.addWidget(self.action_row)
        self._warnings: list[tuple[str, str]] = []
        self._expanded = False

    def _process_list(self, processes: list[tuple[str, str, str]]) -> QWidget:
        box = QWidget()
        col = QVBoxLayout(box)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(Scale.px(6))
        if len(processes) > 1:  # one aspirant per auxiliary (the config's rule): named once
            pick = tr("Toque el proceso para el que capta:")
            col.addWidget(label(tr("Aspirante") + f": {processes[0][2]}. {pick}"))
        elif not processes:  # none in its collection period (or none assigned): say so
            none_open = tr("No hay procesos abiertos para captar en este momento.")
            col.addWidget(label(none_open, name="no_process"))
        for pid, name, aspirant in processes:
            text = f"{name}\n" + tr("Aspirante") + f": {aspirant}" if len(processes) == 1 else name
            b = button(text, name=f"process_{pid}")
            b.setCheckable(True)
            b.setChecked(pid == self.selected)
            pad = Scale.px(6) if len(processes) == 1 else 0  # two lines need it, one does not
            b.setStyleSheet(f"text-align: left; padding: {pad}px {Scale.px(12)}px;")
            b.clicked.connect(lambda _=False, p=pid: self.select(p))
            self._buttons.append((pid, b))
            col.addWidget(b)
        return box

    def select(self, pid: str) -> None:
        self.selected = pid
        for p, b in self._buttons:
            b.setChecked(p == pid)

    def _new(self) -> None:
        if self.selected:
            self.new_support.emit(self.selected)

    def set_warnings(self, items: Sequence[BannerLike]) -> None:
        """The warnings to show, most urgent first: HomeWarning-like objects (msg, severity),
        (msg, severity) pairs or a message alone ("warn"). A `Msg` is rendered in the chosen
        language; a plain Spanish sentence goes through tr()."""
        self._warnings = list(map(_banner, items))
        if not self._warnings:
            self._expanded = False
        self._fit()

    def warnings_text(self) -> str:
        """Every warning's text, one a line, shown or only counted (what tests and logs read)."""
        return "\n".join(t for t, _ in self._warnings)

    def _toggle(self) -> None:
        self._expanded = not self._expanded
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.notice and event.type() in (QEvent.Type.Show, QEvent.Type.Hide):
            self._fit()
        return super().eventFilter(watched, event)

    def _height(self, w: QWidget, width: int) -> int:
        return w.heightForWidth(width) if w.hasHeightForWidth() else w.sizeHint().height()

    def _room(self, width: int) -> int:
        """Height left for the banners by everything else shown (at the natural sizes)."""
        m = self.body.contentsMargins()
        others = [w for w in (self.top, self.notice, self.procs, self.action_row) if not w.isHidden()]
        used = self.status.sizeHint().height() + m.top() + m.bottom()
        used += sum(self._height(w, width) for w in others) + self.body.spacing() * len(others)
        return self.height() - used

    def _fit(self) -> None:
        """Which banners show: all of them that fit within MAX_LINES and the room left, the rest
        summed up on the "more" button; expanded, all of them in the processes' place."""
        items, b = self._warnings, self.banners
        b.setVisible(bool(items))
        self.procs.setVisible(not self._expanded)
        self._more(None)
        if not items:
            return
        m = self.body.contentsMargins()
        width = max(1, self.width() - m.left() - m.right())
        heights = [b.row_height(i, t, sev, width) for i, (t, sev) in enumerate(items)]
        gap = b.col.spacing()
        if self._expanded:
            b.show_rows(heights)
            self._more(tr("Ocultar avisos"))
            return
        one_line = b.row_height(len(items), "x", "warn", width)
        cap = min(self._room(width), MAX_LINES * one_line + (MAX_LINES - 1) * gap)
        used, shown = -gap, 0
        while shown < len(items) and used + gap + heights[shown] <= cap:
            used += gap + heights[shown]
            shown += 1
        b.show_rows(heights[:shown])
        b.setVisible(shown > 0)
        rest = items[shown:]
        if rest:
            n = len(rest)
            text = plural("home.more_warnings" if shown else "home.warnings", n=n)
            self._more(text,
                       "error" if any(sev == "error" for _, sev in rest) else "warn")

    def _more(self, text: str | None, severity: str = "") -> None:
        self.more.setVisible(text is not None)
        self.more.setText(("⚠ " if severity else "") + (text or ""))
        self.more.setStyleSheet(_colours(severity) if severity else "")
