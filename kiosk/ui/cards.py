"""Card model chooser (only when the model was not detected) and the card-photo check."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QToolButton, QVBoxLayout, QWidget

from kiosk.ui.theme import N_, Scale, tr
from kiosk.ui.widgets import Header, ImageBox, NoticeLabel, button, label, rgb_to_qimage

MODEL_CAPTIONS = {
    "E": N_("Modelo E (2014)"),
    "F": N_("Modelo F (extranjero)"),
    "G": N_("Modelo G (2019)"),
    "H": N_("Modelo H (2019+)"),
    "D": N_("IFE modelo D (sin QR)"),
    "C": N_("IFE modelo C (sin QR)"),
}


class CardModelScreen(QWidget):
    chosen = Signal(str)
    cancel = Signal()

    def __init__(self, pictures: dict[str, np.ndarray]) -> None:
        super().__init__()
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 6)
        col.addWidget(Header("¿Cómo es la credencial?", self.cancel.emit))
        self.notice = NoticeLabel()
        col.addWidget(self.notice)
        grid = QGridLayout()
        models = [m for m in ("E", "F", "G", "H", "D", "C") if m in pictures]
        icon = QSize(Scale.px(200), Scale.px(126))
        for i, m in enumerate(models):
            b = QToolButton()
            b.setObjectName(f"model_{m}")
            b.setIcon(QIcon(QPixmap.fromImage(rgb_to_qimage(pictures[m], icon))))
            b.setIconSize(icon)
            b.setText(tr(MODEL_CAPTIONS[m]))
            b.setToolButtonStyle(b.toolButtonStyle().ToolButtonTextUnderIcon)
            b.setStyleSheet("QToolButton { border: 3px solid #000; border-radius: 8px; font-weight: 700; }")
            b.clicked.connect(lambda _=False, m=m: self.chosen.emit(m))
            grid.addWidget(b, i // 3, i % 3)
        col.addLayout(grid, 1)


class CardPhotoScreen(QWidget):
    same = Signal(bool)
    retake = Signal()
    cancel = Signal()

    def __init__(self, citizen: bool = False) -> None:
        """`citizen`: the self-service screen, which asks the one in front of it."""
        super().__init__()
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 6)
        col.addWidget(Header("Fotografía de la credencial", self.cancel.emit,
                             tr("Paso 1 de 5") if citizen else tr("Paso 1 de 6")))
        col.addWidget(label(
            tr("¿Es usted la persona de la fotografía?") if citizen
            else tr("Compare la fotografía de la credencial con la persona que tiene enfrente. "
                    "¿Es la misma persona?"),
            "title"))
        self.notice = NoticeLabel(errors_only=citizen)  # the citizen's question is the line above
        col.addWidget(self.notice)
        row = QHBoxLayout()
        self.photo = ImageBox(160, 200)
        self.photo.setObjectName("card_photo")
        self.front = ImageBox(240, 150)
        row.addWidget(self.photo, 2)
        row.addWidget(self.front, 3)
        col.addLayout(row, 1)
        buttons = QHBoxLayout()
        no, yes = (tr("No soy yo"), tr("Sí, soy yo")) if citizen else \
            (tr("No es la persona"), tr("Sí, es la misma persona"))
        buttons.addWidget(button(tr("Repetir frente"), None, self.retake.emit, name="retake_front"))
        buttons.addWidget(button(no, "danger", lambda: self.same.emit(False), name="not_same"))
        buttons.addWidget(button(yes, "primary", lambda: self.same.emit(True), name="same_person"), 1)
        col.addLayout(buttons)

    def set_images(self, photo: np.ndarray | None, front: np.ndarray | None) -> None:
        self.photo.set_image(photo)
        if photo is None:
            self.photo.setText(tr("No se encontró la fotografía en la credencial: compare con la imagen."))
        self.front.set_image(front)
