"""Review and consent: every image and field, the process and aspirant, the privacy notice,
express consent for the biometric data, and "Guardar"."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QScrollArea,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from kiosk.ui.texts import AVISO
from kiosk.ui.theme import Scale, tr
from kiosk.ui.widgets import Header, ImageBox, NoticeLabel, button, label


@dataclass
class ReviewData:
    process: str
    aspirant: str
    fields: list[tuple[str, str]]
    front: np.ndarray | None = None
    back: np.ndarray | None = None
    selfie: np.ndarray | None = None
    signature: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)


class ReviewScreen(QWidget):
    save = Signal(bool)  # consent
    redo = Signal(str)  # "front", "back", "selfie", "signature", "email"
    cancel = Signal()

    def __init__(self, data: ReviewData) -> None:
        super().__init__()
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 6)
        col.setSpacing(4)
        col.addWidget(Header("Revisar y guardar", self.cancel.emit, tr("Paso 6 de 6")))
        self.notice = NoticeLabel()
        col.addWidget(self.notice)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget()
        body = QVBoxLayout(inner)
        body.addWidget(label(f"{tr('Proceso')}: {data.process}\n{tr('Aspirante')}: {data.aspirant}", "title"))
        for w in data.warnings:
            body.addWidget(label("⚠ " + tr(w), "notice"))
        images = QHBoxLayout()
        for key, img, title in (
            ("front", data.front, "Frente"),
            ("back", data.back, "Reverso"),
            ("selfie", data.selfie, "Rostro"),
            ("signature", data.signature, "Firma"),
        ):
            box = QVBoxLayout()
            ib = ImageBox(80, 60)
            ib.setObjectName(f"review_{key}")
            ib.setFixedHeight(Scale.px(110))
            ib.set_image(img)
            box.addWidget(ib)
            box.addWidget(label(tr(title), "muted", align=Qt.AlignmentFlag.AlignCenter))
            box.addWidget(button(tr("Rehacer"), None, partial(self.redo.emit, key), name=f"redo_{key}"))
            images.addLayout(box)
        body.addLayout(images)
        grid = QGridLayout()
        for i, (k, v) in enumerate(data.fields):
            grid.addWidget(label(tr(k), "muted"), i // 2, (i % 2) * 2)
            val = label(v or "—")
            val.setStyleSheet("font-weight: 700;")
            grid.addWidget(val, i // 2, (i % 2) * 2 + 1)
        body.addLayout(grid)
        aviso = QTextBrowser()
        aviso.setObjectName("aviso")
        aviso.setHtml(tr(AVISO).format(aspirant=data.aspirant, process=data.process))
        aviso.setMinimumHeight(Scale.px(150))
        body.addWidget(aviso)
        self.support = QCheckBox(tr("La persona da su apoyo a este aspirante."))
        self.support.setObjectName("consent_support")
        self.biometric = QCheckBox(tr("Consiente el uso de su rostro y su firma."))
        self.biometric.setObjectName("consent_biometric")
        body.addWidget(label(tr("Lea el aviso a la persona y marque sólo lo que ella acepte:"), "title"))
        for cb in (self.support, self.biometric):
            cb.setStyleSheet("QCheckBox { padding: 6px; }")
            body.addWidget(cb)
        scroll.setWidget(inner)
        col.addWidget(scroll, 1)
        row = QHBoxLayout()
        row.addWidget(button(tr("Cambiar correo"), None, lambda: self.redo.emit("email"), name="redo_email"))
        row.addStretch(1)
        self.save_button = button(tr("Guardar"), "primary", self._save, name="save")
        self.save_button.setMinimumWidth(Scale.px(220))
        row.addWidget(self.save_button)
        col.addLayout(row)

    def _save(self) -> None:
        self.save.emit(self.support.isChecked() and self.biometric.isChecked())

    def set_saving(self, saving: bool) -> None:
        self.save_button.setEnabled(not saving)
        self.save_button.setText(tr("Guardando…") if saving else tr("Guardar"))
