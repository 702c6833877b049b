"""Review and consent: every image and field, the process and aspirant, the liveness result,
the privacy notice, express consent for the biometric data, and "Guardar".

What is read scrolls (by finger drag); what is decided does not: the two consent boxes,
the reason "Guardar" is refused and "Guardar" itself stay in a bar below the scroll area,
so they are reachable by touch at 800x480 whatever the length of the notice."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from kiosk.i18n import Msg, render
from kiosk.ui.texts import AVISO
from kiosk.ui.theme import DANGER, N_, OK, PAPER, Scale, citizen_style, tr
from kiosk.ui.widgets import Header, HelpOrNotice, ImageBox, TickBox, button, label, touch_scroll

LIVENESS_STATES = ("passed", "failed", "not_done")
LIVENESS_FAILED = N_("Prueba de vida no superada: este apoyo no contará. Repita la selfie.")
CONSENT_MISSING = N_("Marque las dos casillas de consentimiento para guardar")
# The self-service review speaks to the citizen, who consents for themselves.
CITIZEN_LIVENESS_FAILED = N_("Prueba de vida no superada: su apoyo no contaría. Repita la foto de su rostro.")
CITIZEN_CONSENT_MISSING = N_("Marque las dos casillas para guardar su apoyo")


@dataclass
class ReviewData:
    process: str
    aspirant: str
    fields: list[tuple[str, str]]
    front: np.ndarray | None = None
    back: np.ndarray | None = None
    selfie: np.ndarray | None = None
    signature: np.ndarray | None = None
    # The back's flags (`card.*` messages), or texts already in the chosen language.
    warnings: list[Msg | str] = field(default_factory=list)
    liveness: str = "not_done"  # "passed", "failed" or "not_done": only "passed" may be saved

    def __post_init__(self) -> None:
        if self.liveness not in LIVENESS_STATES:
            raise ValueError(f"liveness must be one of {LIVENESS_STATES}, not {self.liveness!r}")


class ReviewScreen(QWidget):
    save = Signal(bool)  # consent
    redo = Signal(str)  # "front", "back", "selfie", "signature", "email"
    cancel = Signal()

    def __init__(self, data: ReviewData, citizen: bool = False) -> None:
        """`citizen`: the self-service review (the citizen reads the notice and consents; the
        e-mail is the activation's, not changed here)."""
        super().__init__()
        self.live = data.liveness == "passed"
        self.citizen = citizen
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 6)
        col.setSpacing(4)
        col.addWidget(Header("Revisar y guardar", self.cancel.emit,
                             tr("Paso 5 de 5") if citizen else tr("Paso 6 de 6")))
        self.body_scroll = QScrollArea()
        self.body_scroll.setObjectName("review_scroll")
        self.body_scroll.setWidgetResizable(True)
        self.body_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = self._body(data)
        if citizen:  # the citizen reads it: larger text; the consent bar below keeps its size
            citizen_style(body)
        self.body_scroll.setWidget(body)
        touch_scroll(self.body_scroll)
        col.addWidget(self.body_scroll, 1)
        col.addWidget(self._bar())
        self._update()

    # -- what is read ------------------------------------------------------------------------
    def _body(self, data: ReviewData) -> QWidget:
        inner = QWidget()
        body = QVBoxLayout(inner)
        body.setContentsMargins(Scale.px(4), Scale.px(4), Scale.px(4), Scale.px(8))
        who = QGridLayout()
        for i, (k, v) in enumerate(((N_("Proceso"), data.process), (N_("Aspirante"), data.aspirant))):
            who.addWidget(label(tr(k), "muted"), i, 0)
            val = label(v)
            val.setStyleSheet("font-weight: 700;")
            who.addWidget(val, i, 1)
        who.setColumnStretch(1, 1)
        body.addLayout(who)
        passed, failed = "✓ " + tr("Prueba de vida superada"), "✗ " + tr("Prueba de vida no superada")
        live = label(passed if self.live else failed, "liveness")
        live.setStyleSheet(
            f"color: {PAPER}; background: {OK if self.live else DANGER}; font-weight: 800; "
            f"padding: {Scale.px(6)}px;"
        )
        body.addWidget(live)
        for w in data.warnings:
            body.addWidget(label("⚠ " + (render(w) if isinstance(w, Msg) else w), "notice"))
        body.addLayout(self._images(data))
        grid = QGridLayout()
        for i, (k, v) in enumerate(data.fields):
            grid.addWidget(label(tr(k), "muted"), i // 2, (i % 2) * 2)
            val = label(v or "—")
            val.setStyleSheet("font-weight: 700;")
            grid.addWidget(val, i // 2, (i % 2) * 2 + 1)
        body.addLayout(grid)
        if not self.citizen:
            email = QHBoxLayout()
            email.addWidget(button(tr("Cambiar correo"), None, partial(self.redo.emit, "email"),
                                   name="redo_email"))
            email.addStretch(1)
            body.addLayout(email)
        read = tr("Lea el aviso de privacidad y marque sólo lo que usted acepte:") if self.citizen \
            else tr("Lea el aviso a la persona y marque sólo lo que ella acepte:")
        body.addWidget(label(read, "title"))
        # A label, not a text browser: one scroll area, never a scroll box inside it.
        aviso = label(tr(AVISO, aspirant=data.aspirant, process=data.process), "aviso")
        aviso.setTextFormat(Qt.TextFormat.RichText)
        body.addWidget(aviso)
        body.addStretch(1)
        return inner

    def _images(self, data: ReviewData) -> QHBoxLayout:
        images = QHBoxLayout()
        for key, img, title in (
            ("front", data.front, N_("Frente")),
            ("back", data.back, N_("Reverso")),
            ("selfie", data.selfie, N_("Rostro")),
            ("signature", data.signature, N_("Firma")),
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
        return images

    # -- what is decided ---------------------------------------------------------------------
    def _bar(self) -> QWidget:
        bar = QWidget()
        bar.setObjectName("consent_bar")
        rows = QVBoxLayout(bar)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(Scale.px(2))
        if self.citizen:
            self.support = TickBox(tr("Doy mi apoyo a este aspirante."))
            self.biometric = TickBox(tr("Acepto el uso de mi rostro y mi firma."))
        else:
            self.support = TickBox(tr("La persona da su apoyo a este aspirante."))
            self.biometric = TickBox(tr("Consiente el uso de su rostro y su firma."))
        self.support.setObjectName("consent_support")
        self.biometric.setObjectName("consent_biometric")
        for cb in (self.support, self.biometric):
            cb.setStyleSheet(f"QCheckBox {{ padding: {Scale.px(2)}px; }}")
            cb.toggled.connect(self._toggled)
            rows.addWidget(cb)
        row = QHBoxLayout()
        self.reason = label("", "reason")
        row.addWidget(self.reason, 1)
        # The flow's hint repeats what the bar says; its errors ("No se pudo guardar…") take
        # the reason's place, beside "Guardar", where the auxiliary looks after touching it.
        self.notice = HelpOrNotice(self.reason, errors_only=True)
        row.addWidget(self.notice, 1)
        self.redo_selfie = button(tr("Repetir selfie"), None, lambda: self.redo.emit("selfie"),
                                  name="redo_selfie_live")
        self.redo_selfie.setVisible(not self.live)
        row.addWidget(self.redo_selfie)
        self.save_button = button(tr("Guardar"), "primary", self._save, name="save")
        self.save_button.setMinimumWidth(Scale.px(180))
        row.addWidget(self.save_button)
        rows.addLayout(row)
        return bar

    def _blocker(self) -> str | None:
        """Why "Guardar" is refused now (Spanish), or None."""
        if not self.live:
            return CITIZEN_LIVENESS_FAILED if self.citizen else LIVENESS_FAILED
        if not (self.support.isChecked() and self.biometric.isChecked()):
            return CITIZEN_CONSENT_MISSING if self.citizen else CONSENT_MISSING
        return None

    def _toggled(self) -> None:
        self.notice.show_text(None)   # the auxiliary acted: an earlier error no longer applies
        self._update()

    def _update(self) -> None:
        why = self._blocker()
        self.save_button.setEnabled(why is None)
        self.reason.setText(tr(why) if why else "")
        error = why in (LIVENESS_FAILED, CITIZEN_LIVENESS_FAILED)
        self.reason.setStyleSheet(
            f"color: {PAPER}; background: {DANGER}; font-weight: 800; padding: {Scale.px(4)}px;"
            if error else "font-weight: 700;"
        )

    def _save(self) -> None:
        self.save.emit(self.support.isChecked() and self.biometric.isChecked())

    def set_saving(self, saving: bool) -> None:
        self.save_button.setText(tr("Guardando…") if saving else tr("Guardar"))
        if saving:
            self.save_button.setEnabled(False)
        else:
            self._update()
