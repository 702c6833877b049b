"""Signature pad screen and the optional e-mail screen with its on-screen keyboard."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from kiosk.ui.signature_pad import SignaturePad
from kiosk.ui.theme import tr
from kiosk.ui.widgets import Header, Keyboard, NoticeLabel, OverlayNotice, button, label
from sync.wire.record import Signature


class SignatureScreen(QWidget):
    done = Signal(object, object)  # Signature, problem (a signature.* Msg, or None)
    cancel = Signal()
    retake_selfie = Signal()

    def __init__(self, citizen_name: str, citizen: bool = False) -> None:
        """`citizen`: the self-service screen, which speaks to the one who signs ("usted")."""
        super().__init__()
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 6)
        col.setSpacing(4)
        col.addWidget(Header("Firma", self.cancel.emit, tr("Paso 4 de 5") if citizen else tr("Paso 4 de 6")))
        who = citizen_name or tr("(nombre no leído)")
        firma_de = tr("Firma de")  # a literal Babel can extract (not inside an f-string)
        self.name = label(f"{firma_de}: {who}", "title")
        self.name.setObjectName("citizen_name")
        col.addWidget(self.name)
        col.addWidget(label(
            tr("Firme dentro del recuadro, con el lápiz o con el dedo, como en su credencial.") if citizen
            else tr("Pida a la persona que firme dentro del recuadro, con el lápiz o con el dedo, "
                    "como en su credencial.")))
        self.notice = NoticeLabel()
        col.addWidget(self.notice)
        self.pad = SignaturePad()
        self.pad.setObjectName("signature_pad")
        self.pad.changed.connect(lambda: self.notice.show_text(None))
        col.addWidget(self.pad, 1)
        row = QHBoxLayout()
        row.addWidget(button(tr("Repetir foto"), None, self.retake_selfie.emit, name="retake_selfie"))
        row.addWidget(button(tr("Borrar"), "danger", self.pad.clear, name="clear"))
        row.addStretch(1)
        row.addWidget(button(tr("Listo"), "primary", self._done, name="signature_done"))
        col.addLayout(row)

    def _done(self) -> None:
        sig: Signature | None = None if self.pad.is_empty() else self.pad.signature()
        self.done.emit(sig, self.pad.problem())


class EmailScreen(QWidget):
    done = Signal(str)
    cancel = Signal()

    def __init__(self, citizen: bool = False) -> None:
        """`citizen`: the self-service activation's address, not optional: the code goes there."""
        super().__init__()
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 6)
        col.setSpacing(4)
        if citizen:
            col.addWidget(Header("Su correo electrónico", self.cancel.emit))
            self.help = label(tr("Escriba su correo: ahí le enviaremos su código de activación."))
        else:
            col.addWidget(Header("Correo electrónico (opcional)", self.cancel.emit, tr("Paso 5 de 6")))
            self.help = label(
                tr(
                    "Si la persona quiere recibir el acuse de su apoyo, escriba su correo. "
                    "Si no, toque «Omitir»."
                )
            )
        col.addWidget(self.help)
        # An error covers the help line: at 800x480 a line more pushes the keyboard's bottom
        # row off the screen.
        self.notice = OverlayNotice(self.help, errors_only=True)
        row = QHBoxLayout()
        self.email = QLineEdit()
        self.email.setObjectName("email")
        self.email.setPlaceholderText("nombre@ejemplo.com")
        row.addWidget(self.email, 1)
        if not citizen:
            row.addWidget(button(tr("Omitir"), None, lambda: self.done.emit(""), name="skip_email"))
        row.addWidget(
            button(tr("Continuar"), "primary", lambda: self.done.emit(self.email.text()), name="email_done")
        )
        col.addLayout(row)
        kb = Keyboard()
        kb.key.connect(self._key)
        col.addWidget(kb, 1)

    def _key(self, k: str) -> None:
        self.notice.show_text(None)   # the address is being corrected: the error no longer applies
        if k == "<":
            self.email.backspace()
        else:
            self.email.insert(k)
