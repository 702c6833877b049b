"""The folio after a save, and the end of a refused capture."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from kiosk.ui.theme import DANGER, MUTED, N_, OK, PAPER, PRIMARY, WARN, Scale, tr
from kiosk.ui.widgets import button, label

CENTER = Qt.AlignmentFlag.AlignCenter


# What the folio screen says about sending, by state (set_sending): never more than is known.
SENDING = {
    "sent": N_("Enviado al servidor."),
    "pending_online": N_("Enviando…"),
    "offline": N_("Se enviará en cuanto haya conexión."),
    "unknown": N_("Guardado en este dispositivo; se enviará más tarde."),
}
SENDING_COLOURS = {"sent": OK, "pending_online": PRIMARY, "offline": WARN, "unknown": MUTED}


class FolioScreen(QWidget):
    finish = Signal()

    def __init__(self, folio: str, sending: str = "unknown", citizen: bool = False) -> None:
        """`citizen`: the self-service screen, which tells the citizen their own folio."""
        super().__init__()
        col = QVBoxLayout(self)
        col.addStretch(1)
        col.addWidget(label(tr("Su apoyo quedó guardado con el folio") if citizen
                            else tr("Apoyo guardado con folio"), "title", align=CENTER))
        self.folio = label(folio, "big", align=CENTER)
        self.folio.setObjectName("folio")
        self.folio.setStyleSheet(f"font-size: {Scale.px(64)}px; font-weight: 800; color: {PRIMARY};")
        self.folio.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col.addWidget(self.folio)
        col.addWidget(label(tr("Anote su folio: con él puede consultar su apoyo.") if citizen
                            else tr("Dígale el folio a la persona o pídale que lo anote: con él puede "
                                    "consultar su apoyo."), align=CENTER))
        if citizen:
            # The device only checks the code for typos: a wrong code with a right check character
            # is caught by the server, and the acuse is what tells the citizen.
            checked = label(tr("El servidor revisará su código y le enviará el acuse por correo."),
                            align=CENTER)
            checked.setObjectName("code_check")
            col.addWidget(checked)
        self.sending = label("", align=CENTER)
        self.sending.setObjectName("sending")
        col.addWidget(self.sending)
        self.set_sending(sending)
        col.addStretch(1)
        col.addWidget(button(tr("Terminar"), "huge", self.finish.emit, name="finish"))

    def set_sending(self, state: str) -> None:
        """"sent" (the server acknowledged it), "pending_online" (the agent is online and it is
        queued), "offline", or "unknown" (no agent answering); anything else is "unknown"."""
        state = state if state in SENDING else "unknown"
        self.sending.setProperty("state", state)
        self.sending.setText(("✓ " if state == "sent" else "") + tr(SENDING[state]))
        self.sending.setStyleSheet(f"font-size: {Scale.px(24)}px; font-weight: 800; "
                                   f"color: {SENDING_COLOURS[state]};")


class RefusedScreen(QWidget):
    finish = Signal()

    def __init__(self, reason: str, citizen: bool = False) -> None:
        """`reason` arrives in the chosen language; `citizen`: the self-service screen."""
        super().__init__()
        col = QVBoxLayout(self)
        col.addStretch(1)
        col.addWidget(label(tr("No se puede continuar") if citizen else tr("No se puede captar este apoyo"),
                            "title", align=CENTER))
        self.reason = label(tr(reason), "notice", align=CENTER)
        self.reason.setObjectName("refusal")
        self.reason.setStyleSheet(f"font-size: {Scale.px(24)}px; font-weight: 800; color: {PAPER}; "
                                  f"background: {DANGER}; padding: {Scale.px(10)}px;")
        col.addWidget(self.reason)
        col.addWidget(label(tr("No se guardó nada. Puede volver a empezar cuando quiera.") if citizen
                            else tr("No se guardó nada. Devuelva la credencial a la persona."), align=CENTER))
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
