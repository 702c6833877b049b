"""Coordinator menu: send now, diagnostics, language, unlock an auxiliary, sign out."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QTextBrowser, QVBoxLayout, QWidget

from kiosk.i18n import language
from kiosk.ui.theme import N_, tr
from kiosk.ui.widgets import button, label, touch_scroll


class CoordinatorScreen(QWidget):
    send_now = Signal()
    diagnose = Signal(str)  # "camera", "connection", "storage", "version"
    set_language = Signal(str)
    clear_lockout = Signal(str)  # auxiliary id
    sign_out = Signal()
    leave = Signal()

    def __init__(self, locked_out: list[tuple[str, str]]) -> None:
        super().__init__()
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 6)
        top = QHBoxLayout()
        top.addWidget(label(tr("Menú del coordinador"), "title"), 1)
        top.addWidget(button(tr("Salir del menú"), "primary", self.leave.emit, name="leave"))
        col.addLayout(top)
        row = QHBoxLayout()
        grid = QGridLayout()
        items = [
            (N_("Enviar ahora"), lambda: self.send_now.emit(), "send_now"),
            (N_("Probar cámara"), lambda: self.diagnose.emit("camera"), "diag_camera"),
            (N_("Probar conexión"), lambda: self.diagnose.emit("connection"), "diag_connection"),
            (N_("Almacenamiento"), lambda: self.diagnose.emit("storage"), "diag_storage"),
            (N_("Versión"), lambda: self.diagnose.emit("version"), "diag_version"),
            (
                "English" if language() == "es" else "Español",
                lambda: self.set_language.emit("en" if language() == "es" else "es"),
                "language",
            ),
            (N_("Cerrar sesión"), lambda: self.sign_out.emit(), "sign_out"),
        ]
        for i, (text, fn, name) in enumerate(items):
            grid.addWidget(
                button(tr(text) if name != "language" else text, None, fn, name=name), i // 2, i % 2
            )
        row.addLayout(grid, 3)
        side = QVBoxLayout()
        side.addWidget(label(tr("Desbloquear auxiliar:") if locked_out else tr("Ningún auxiliar bloqueado.")))
        for aid, name in locked_out:
            side.addWidget(
                button(name, "danger", partial(self.clear_lockout.emit, aid), name=f"clear_{aid}")
            )
        side.addStretch(1)
        row.addLayout(side, 2)
        col.addLayout(row)
        self.output = QTextBrowser()
        self.output.setObjectName("diagnostics")
        touch_scroll(self.output)
        col.addWidget(self.output, 1)

    def show_result(self, text: str) -> None:
        self.output.append(text)
