"""Home: the processes and aspirants, "Nuevo apoyo", the always-visible sync status, warnings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from kiosk.ui.theme import tr
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

        f = self.fields
        f["pending"].setText(f"{tr('Por enviar')}: {n(s.pending)}")
        f["pending"].setProperty("warn", "true" if s.pending else "false")
        f["sent"].setText(f"{tr('Enviados hoy')}: {n(s.sent_today)}")
        f["conn"].setText(("● " if s.online else "○ ") + s.connection)
        f["conn"].setProperty("warn", "false" if s.online else "true")
        f["battery"].setText(f"{tr('Batería')}: {s.battery}")
        f["battery"].setProperty("warn", "true" if s.battery_low else "false")
        f["last"].setText(f"{tr('Último envío')} {s.last_sync}")
        for lab in f.values():
            lab.style().unpolish(lab)
            lab.style().polish(lab)
            lab.updateGeometry()  # the re-polished font changes the width the text needs


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
        self.status = StatusBar()
        col.addWidget(self.status)
        body = QVBoxLayout()
        body.setContentsMargins(12, 6, 12, 10)
        col.addLayout(body, 1)
        top = QHBoxLayout()
        top.addWidget(label(f"{tr('Auxiliar')}: {operator}", "title", wrap=False), 1)
        top.addWidget(button(tr("Cerrar sesión"), None, self.sign_out.emit, name="sign_out"))
        body.addLayout(top)
        self.warnings = label("", "warnings")
        self.warnings.hide()
        body.addWidget(self.warnings)
        self.notice = NoticeLabel()
        body.addWidget(self.notice)
        self._buttons = []
        self.selected: str | None = processes[0][0] if processes else None
        if len(processes) > 1:
            body.addWidget(label(tr("Toque el proceso para el que capta:")))
        elif not processes:  # none in its collection period (or none assigned): say so
            none_open = tr("No hay procesos abiertos para captar en este momento.")
            body.addWidget(label(none_open, name="no_process"))
        for pid, name, aspirant in processes:
            b = button(f"{name}\n{tr('Aspirante')}: {aspirant}", name=f"process_{pid}")
            b.setCheckable(True)
            b.setChecked(pid == self.selected)
            b.setStyleSheet("text-align: left; padding: 6px 12px;")
            b.clicked.connect(lambda _=False, p=pid: self.select(p))
            self._buttons.append((pid, b))
            body.addWidget(b)
        body.addStretch(1)
        self.new_button = button(tr("Nuevo apoyo"), "huge", self._new, name="new_support")
        self.new_button.setEnabled(bool(processes))
        body.addWidget(self.new_button)
        bottom = QHBoxLayout()
        bottom.addWidget(button(tr("Enviar ahora"), None, self.send_now.emit, name="send_now"))
        bottom.addStretch(1)
        bottom.addWidget(button(tr("Coordinador"), None, self.coordinator.emit, name="coordinator"))
        body.addLayout(bottom)

    def select(self, pid: str) -> None:
        self.selected = pid
        for p, b in self._buttons:
            b.setChecked(p == pid)

    def _new(self) -> None:
        if self.selected:
            self.new_support.emit(self.selected)

    def set_warnings(self, lines: list[str]) -> None:
        self.warnings.setVisible(bool(lines))
        self.warnings.setText("\n".join(lines))
        self.warnings.setAlignment(Qt.AlignmentFlag.AlignCenter)
