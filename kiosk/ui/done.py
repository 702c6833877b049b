"""The folio after a save, and the end of a refused capture."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from kiosk.ui.theme import DANGER, PAPER, PRIMARY, Scale, tr
from kiosk.ui.widgets import button, label

CENTER = Qt.AlignmentFlag.AlignCenter


class FolioScreen(QWidget):
    finish = Signal()

    def __init__(self, folio: str) -> None:
        super().__init__()
        col = QVBoxLayout(self)
        col.addStretch(1)
        col.addWidget(label(tr("Apoyo guardado con folio"), "title", align=CENTER))
        self.folio = label(folio, "big", align=CENTER)
        self.folio.setObjectName("folio")
        self.folio.setStyleSheet(f"font-size: {Scale.px(64)}px; font-weight: 800; color: {PRIMARY};")
        self.folio.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col.addWidget(self.folio)
        col.addWidget(
            label(
                tr(
                    "Dígale el folio a la persona o pídale que lo anote: con él puede consultar "
                    "su apoyo. Se enviará en cuanto haya conexión."
                ),
                align=CENTER,
            )
        )
        col.addStretch(1)
        col.addWidget(button(tr("Terminar"), "huge", self.finish.emit, name="finish"))


class RefusedScreen(QWidget):
    finish = Signal()

    def __init__(self, reason: str) -> None:
        super().__init__()
        col = QVBoxLayout(self)
        col.addStretch(1)
        col.addWidget(label(tr("No se puede captar este apoyo"), "title", align=CENTER))
        self.reason = label(tr(reason), "notice", align=CENTER)
        self.reason.setObjectName("refusal")
        self.reason.setStyleSheet(f"font-size: {Scale.px(24)}px; font-weight: 800; color: {PAPER}; "
                                  f"background: {DANGER}; padding: {Scale.px(10)}px;")
        col.addWidget(self.reason)
        col.addWidget(label(tr("No se guardó nada. Devuelva la credencial a la persona."), align=CENTER))
        col.addStretch(1)
        col.addWidget(button(tr("Volver al inicio"), "huge", self.finish.emit, name="finish"))


class BusyScreen(QWidget):
    """While saving: nothing to touch."""

    def __init__(self, text: str) -> None:
        super().__init__()
        col = QVBoxLayout(self)
        col.addStretch(1)
        col.addWidget(label(tr(text), "big", align=CENTER))
        col.addStretch(1)
