"""First run: the device is not enrolled. Type the coordinator's code and the server address
on the on-screen keyboard, or scan the coordinator's QR (code + CA fingerprint + server) with
the camera; progress and the server's answer below, in the language chosen."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QFocusEvent
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QProgressBar, QVBoxLayout, QWidget

from kiosk.i18n import Msg, render
from kiosk.ui.preview import Preview
from kiosk.ui.texts import FIRST_RUN_TEXT
from kiosk.ui.theme import N_, Scale, tr
from kiosk.ui.widgets import HelpOrNotice, Keyboard, NoticeLabel, button, label


class FirstRunScreen(QWidget):
    enroll = Signal(str, str)  # code (or the QR's text), server URL ("" when the QR has it)
    scan = Signal(bool)  # start / stop scanning the QR with the camera

    def __init__(self, device_text: Msg | str | None, can_enroll: bool) -> None:
        """`device_text`: where the config is expected (a `diag.*` message, rendered here), or a
        line already in the language chosen."""
        super().__init__()
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 4)
        col.setSpacing(4)
        if not can_enroll:
            col.addWidget(label(tr("Dispositivo no inscrito"), "title"))
        self.help = label(tr(FIRST_RUN_TEXT) if can_enroll else tr(
            "Este dispositivo todavía no está inscrito, así que no puede captar apoyos."))
        col.addWidget(self.help)
        # The notice takes the help line's place (800x480 has room for one of them).
        self.notice = HelpOrNotice(self.help) if can_enroll else NoticeLabel()
        if not can_enroll:
            shown = render(device_text) if isinstance(device_text, Msg) else device_text or ""
            col.addWidget(label(shown, "muted"))
            col.addWidget(self.notice)
            info = label(tr("Sin dirección de configuración: use «fieldkit-kiosk enroll» o pida "
                            "ayuda a su coordinador."))
            info.setObjectName("warnings")
            col.addWidget(info)
            col.addStretch(1)
            return
        self.qr_text = ""
        self._parked: set[QLineEdit] = set()
        self._parking = False
        fields = QHBoxLayout()
        self.code = QLineEdit(placeholderText=tr("Código: XXXX-XXXX-…"))
        self.code.setObjectName("enroll_code")
        self.server = QLineEdit(placeholderText=tr("Servidor: https://…"))
        self.server.setObjectName("enroll_server")
        for f in (self.code, self.server):
            f.textEdited.connect(self._typed)
            # Smaller than other fields: a whole code (24 characters) fits in half the width.
            f.setStyleSheet(f"font-size: {Scale.px(20)}px;")
            f.installEventFilter(self)   # a field touched directly takes the keyboard too
            f.cursorPositionChanged.connect(lambda *_, f=f: self._moved(f))
            fields.addWidget(f, 1)
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
        for text, fn, name in ((N_("Código"), lambda: self._focus(self.code), "focus_code"),
                               (N_("Servidor"), lambda: self._focus(self.server), "focus_server"),
                               ("https://", lambda: self._key("https://"), "kb_https"),
                               (":", lambda: self._key(":"), "kb_colon"),
                               ("/", lambda: self._key("/"), "kb_slash")):
            b = button(text if name.startswith("kb_") else tr(text), "kb", fn, name=name)
            if len(text) > 1:   # words on keys: a margin inside, so they do not touch the border
                b.setStyleSheet(f"font-size: {Scale.px(18)}px; padding: 0 {Scale.px(6)}px;")
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
        if field is not self.focus:
            field.end(False)      # the keyboard goes on where the text ends
        self._take(field)
        field.setFocus()

    def _take(self, field: QLineEdit) -> None:
        """`field` gets the keyboard; the other one shows the start of its text."""
        self._park(self.server if field is self.code else self.code)
        self.focus = field
        for name, b in self.focus_buttons.items():
            b.setChecked((name == "focus_code") == (field is self.code))

    def _park(self, field: QLineEdit) -> None:
        """Show the start of `field`'s text when nobody types in it: the scheme and host are what
        tell one server address from another, and the end of a long one hides them. The next
        key typed goes on at the end again."""
        self._parking = True
        field.setCursorPosition(0)
        self._parking = False
        self._parked.add(field)

    def _moved(self, field: QLineEdit) -> None:
        if not self._parking:   # a tap placed the cursor: typing goes there
            self._parked.discard(field)

    def eventFilter(self, obj: QObject, e: QEvent) -> bool:
        # Only a touch moves the keyboard: focus also moves when a field is disabled (busy).
        if (e.type() == QEvent.Type.FocusIn and isinstance(e, QFocusEvent)
                and e.reason() == Qt.FocusReason.MouseFocusReason
                and obj in (self.code, self.server) and obj is not self.focus):
            self._take(self.code if obj is self.code else self.server)
        return False

    def _typed(self, _text: str) -> None:
        self.qr_text = ""  # typed by hand: the QR's fingerprint no longer applies

    def _key(self, k: str) -> None:
        f = self.focus
        if f in self._parked:
            f.end(False)
        if k == "<":
            f.backspace()
        else:
            f.insert(k.upper() if f is self.code else k)
        self._typed("")

    def _submit(self) -> None:
        self._park(self.server)   # editing ended: the address shows from its scheme
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
        self._park(self.server)
        self.qr_text = text

    # -- enrolling ---------------------------------------------------------------------------
    def set_busy(self, busy: bool) -> None:
        for w in (self.go, self.scan_button, self.keyboard, self.code, self.server):
            w.setEnabled(not busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setValue(0)

    def set_progress(self, text: str, fraction: float) -> None:
        """A step of the enrollment, already in the language chosen (the controller renders it
        on the UI thread)."""
        self.progress.setValue(int(fraction * 100))
        self.notice.show_text(text)
