"""First run: the device is not enrolled. Type the coordinator's code and the server address
on the on-screen keyboard, or scan the coordinator's QR (code + CA fingerprint + server) with
the camera; progress and the server's answer (Spanish) below."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QProgressBar, QVBoxLayout, QWidget

from kiosk.ui.preview import Preview
from kiosk.ui.texts import FIRST_RUN_TEXT
from kiosk.ui.theme import tr
from kiosk.ui.widgets import Keyboard, NoticeLabel, button, label


class _HelpOrNotice(NoticeLabel):
    """The notice takes the help line's place (800x480 has room for one of them)."""

    def __init__(self, help_label: QWidget) -> None:
        super().__init__()
        self.help = help_label

    def show_text(self, text: str | None, error: bool = False) -> None:
        super().show_text(text, error)
        self.help.setVisible(self.isHidden())


class FirstRunScreen(QWidget):
    enroll = Signal(str, str)  # code (or the QR's text), server URL ("" when the QR has it)
    scan = Signal(bool)  # start / stop scanning the QR with the camera

    def __init__(self, device_text: str, can_enroll: bool) -> None:
        super().__init__()
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 4)
        col.setSpacing(4)
        if not can_enroll:
            col.addWidget(label(tr("Dispositivo no inscrito"), "title"))
        self.help = label(tr(FIRST_RUN_TEXT) if can_enroll else tr(
            "Este dispositivo todavía no está inscrito, así que no puede captar apoyos."))
        col.addWidget(self.help)
        self.notice = _HelpOrNotice(self.help) if can_enroll else NoticeLabel()
        if not can_enroll:
            col.addWidget(label(device_text, "muted"))
            col.addWidget(self.notice)
            info = label(tr("Sin dirección de configuración: use «fieldkit-kiosk enroll» o pida "
                            "ayuda a su coordinador."))
            info.setObjectName("warnings")
            col.addWidget(info)
            col.addStretch(1)
            return
        self.qr_text = ""
        fields = QHBoxLayout()
        self.code = QLineEdit(placeholderText=tr("Código: XXXX-XXXX-…"))
        self.code.setObjectName("enroll_code")
        self.server = QLineEdit(placeholderText=tr("Servidor: https://…"))
        self.server.setObjectName("enroll_server")
        for f in (self.code, self.server):
            f.textEdited.connect(self._typed)
            fields.addWidget(f, 3 if f is self.code else 2)
        col.addLayout(fields)
        self.focus: QLineEdit = self.code
        self.code.setFocus()
        self.progress = QProgressBar(maximum=100, textVisible=False)
        self.progress.setObjectName("enroll_progress")
        self.progress.setVisible(False)
        self.progress.setFixedHeight(8)
        col.insertWidget(col.indexOf(self.help), self.notice)
        col.addWidget(self.progress)
        self.preview = Preview()
        self.preview.setObjectName("qr_preview")
        self.preview.setVisible(False)
        col.addWidget(self.preview, 1)
        self.keyboard = Keyboard(email=False)
        self.keyboard.key.connect(self._key)
        col.addWidget(self.keyboard)
        row = QHBoxLayout()
        self.focus_buttons = {}
        for text, fn, name in (("Código", lambda: self._focus(self.code), "focus_code"),
                               ("Servidor", lambda: self._focus(self.server), "focus_server"),
                               ("https://", lambda: self._key("https://"), "kb_https"),
                               (":", lambda: self._key(":"), "kb_colon"),
                               ("/", lambda: self._key("/"), "kb_slash")):
            b = button(text if name.startswith("kb_") else tr(text), "kb", fn, name=name)
            row.addWidget(b)
            if name.startswith("focus_"):
                b.setCheckable(True)
                self.focus_buttons[name] = b
        self.focus_buttons["focus_code"].setChecked(True)
        self.scan_button = button(tr("Escanear QR"), None, self._toggle_scan, name="scan_qr")
        self.go = button(tr("Inscribir"), "primary", self._submit, name="enroll")
        row.addWidget(self.scan_button)
        row.addWidget(self.go)
        col.addLayout(row)

    # -- typing --------------------------------------------------------------------------
    def _focus(self, field: QLineEdit) -> None:
        self.focus = field
        field.setFocus()
        for name, b in self.focus_buttons.items():
            b.setChecked((name == "focus_code") == (field is self.code))

    def _typed(self, _text: str) -> None:
        self.qr_text = ""  # typed by hand: the QR's fingerprint no longer applies

    def _key(self, k: str) -> None:
        f = self.focus
        if k == "<":
            f.backspace()
        else:
            f.insert(k.upper() if f is self.code else k)
        self._typed("")

    def _submit(self) -> None:
        self.enroll.emit(self.qr_text or self.code.text().strip(), self.server.text().strip())

    # -- QR --------------------------------------------------------------------------------
    def _toggle_scan(self) -> None:
        self.set_scanning(not self.preview.isVisible())
        self.scan.emit(self.preview.isVisible())

    def set_scanning(self, on: bool) -> None:
        self.preview.setVisible(on)
        self.keyboard.setVisible(not on)
        self.scan_button.setText(tr("Teclado") if on else tr("Escanear QR"))
        if not on:
            self.preview.clear()

    def show_frame(self, rgb: np.ndarray) -> None:
        self.preview.set_frame(rgb)

    def set_qr(self, text: str, code: str, server: str) -> None:
        """The coordinator's QR was read: show what it holds; enrolling uses the whole text."""
        self.set_scanning(False)
        self.code.setText(code)
        self.server.setText(server)
        self.qr_text = text

    # -- enrolling ---------------------------------------------------------------------------
    def set_busy(self, busy: bool) -> None:
        for w in (self.go, self.scan_button, self.keyboard, self.code, self.server):
            w.setEnabled(not busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setValue(0)

    def set_progress(self, text: str, fraction: float) -> None:
        self.progress.setValue(int(fraction * 100))
        self.notice.show_text(text)
