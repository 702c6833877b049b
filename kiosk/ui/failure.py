"""The failure screen: what the panel shows when the kiosk cannot start.

Full screen, for the auxiliary first: what happened and what to do, in plain words, and the
device's id when it is known. The coordinator's diagnostics (the error, paths, versions) stay
behind a coordinator PIN; with no PIN to check (the config that holds them is what failed, or
the device is not enrolled) they are not shown at all, and the screen says where they are
instead (the journal) with only a line that holds no secret.

Widgets only: the PIN check and the texts of the diagnostics come from `kiosk.app.failure`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPlainTextEdit,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk.i18n import text
from kiosk.ui.theme import DANGER, N_, PAPER, Scale, tr
from kiosk.ui.widgets import NoticeLabel, button, label, pin_column, touch_scroll

TITLE = N_("El kiosco no pudo arrancar")
REPEAT = N_("Reinicie el equipo. Si este mensaje vuelve a aparecer, avise a su coordinador.")
# What happened and what to do, by failure code (kiosk.app.failure.classify).
TEXTS: dict[str, tuple[str, str]] = {
    "outbox_damaged": (
        N_("El archivo donde este equipo guarda los apoyos está dañado. No se borró ni se cambió nada."),
        N_("No capture apoyos en este equipo. Avise a su coordinador y entréguele el equipo como "
        "está: no borre nada, los apoyos guardados pueden recuperarse."),
    ),
    "outbox_key": (
        N_("La llave que abre los apoyos guardados en este equipo falta o no corresponde. "
        "No se borró ni se cambió nada."),
        N_("Avise a su coordinador. No vuelva a inscribir el equipo ni borre nada: "
        "los apoyos guardados se perderían."),
    ),
    "storage": (
        N_("No se puede escribir en la memoria del equipo: está llena o en sólo lectura."),
        N_("Avise a su coordinador. No borre nada del equipo."),
    ),
    "config": (
        N_("La configuración de este equipo no se puede leer o no corresponde con sus datos."),
        N_("Avise a su coordinador para que la revise. Mientras tanto no se pueden capturar apoyos."),
    ),
    "camera": (
        N_("No se pudo abrir la cámara."),
        N_("Revise que la cámara esté bien conectada y reinicie el equipo. "
        "Si este mensaje vuelve a aparecer, avise a su coordinador."),
    ),
    "unexpected": (N_("Ocurrió un error inesperado al arrancar el kiosco."), REPEAT),
    "repeated": (N_("El kiosco se detuvo varias veces seguidas al arrancar."), REPEAT),
}
JOURNAL_HINT = (N_("Los detalles para el coordinador quedaron en el registro del sistema: "
                "journalctl -u fieldkit-kiosk -b"))
NOTE = "#ffe066"       # the notice line's yellow (theme.style_sheet): black on it is 16:1
MAX_TRIES = 5          # wrong PINs in a row before the keypad rests
REST_S = 60            # how long it rests
DIAGNOSTICS_S = 120    # the diagnostics close by themselves: the panel is in a public place


class FailureScreen(QWidget):
    """Three pages: the message, the coordinator's PIN, the diagnostics.

    `check_pin` answers whether a PIN is a coordinator's (None: there is no PIN to check, and
    no diagnostics are shown); `summary` is the one line with no secret shown in that case."""

    def __init__(self, kind: str, *, device_id: str = "", diagnostics: str = "", summary: str = "",
                 check_pin: Callable[[str], bool] | None = None) -> None:
        super().__init__()
        self.setObjectName("failure")
        self.kind = kind if kind in TEXTS else "unexpected"
        self._check_pin = check_pin
        self._diagnostics = diagnostics
        self._wrong = 0
        self._rest_until = 0.0
        self.pages = QStackedWidget()
        self.message_page = self._message_page(device_id, summary)
        self.pin_page = self._pin_page()
        self.diagnostics_page = self._diagnostics_page()
        for page in (self.message_page, self.pin_page, self.diagnostics_page):
            self.pages.addWidget(page)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.pages)
        self._rest_timer = QTimer(self)
        self._rest_timer.setInterval(1000)
        self._rest_timer.timeout.connect(self._rest_tick)
        self._close_timer = QTimer(self)
        self._close_timer.setSingleShot(True)
        self._close_timer.timeout.connect(self.back)

    # --- pages ---------------------------------------------------------------------------

    def _message_page(self, device_id: str, summary: str) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        p = Scale.px
        col.setContentsMargins(p(14), p(10), p(14), p(10))
        col.setSpacing(p(8))
        band = label("⚠ " + tr(TITLE), "failure_title")
        band.setStyleSheet(f"background: {DANGER}; color: {PAPER}; font-size: {p(28)}px; "
                           f"font-weight: 800; padding: {p(8)}px;")
        col.addWidget(band)
        what, todo = TEXTS[self.kind]
        self.what = label(tr(what), "failure_what")
        self.what.setStyleSheet(f"font-size: {p(23)}px; font-weight: 700;")
        col.addWidget(self.what)
        self.todo = label(tr(todo), "failure_todo")
        # What to do stands out: the auxiliary may read nothing else.
        self.todo.setStyleSheet(f"font-size: {p(22)}px; font-weight: 600; background: {NOTE}; "
                                f"padding: {p(6)}px;")
        col.addWidget(self.todo)
        device = (tr("Dispositivo: {}", device_id) if device_id
                  else tr("Dispositivo: desconocido (no hay una configuración que se pueda leer)."))
        self.device = label(device, "failure_device")
        self.device.setStyleSheet(f"font-size: {p(20)}px;")
        col.addWidget(self.device)
        col.addStretch(1)
        if self._check_pin is not None:
            self.open_diagnostics = button(tr("Diagnóstico (coordinador)"), None, self.ask_pin,
                                           name="failure_diagnostics")
            col.addWidget(self.open_diagnostics, 0, Qt.AlignmentFlag.AlignLeft)
        else:
            hint = label(tr(JOURNAL_HINT) + ("\n" + summary if summary else ""), "muted")
            hint.setObjectName("failure_journal")
            hint.setStyleSheet(f"font-size: {p(16)}px;")
            hint.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
            col.addWidget(hint)
        return page

    def _pin_page(self) -> QWidget:
        page = QWidget()
        row = QHBoxLayout(page)
        left = QVBoxLayout()
        left.addWidget(label(tr("PIN del coordinador"), "title"))
        left.addWidget(label(tr("Escriba su PIN de coordinador y toque «Entrar».")))
        left.addStretch(1)
        self.notice = NoticeLabel()
        left.addWidget(self.notice)
        left.addWidget(button(tr("Volver"), None, self.back, name="failure_back_pin"), 0,
                       Qt.AlignmentFlag.AlignLeft)
        row.addLayout(left, 3)
        right, self.pin, self.keypad = pin_column("failure_pin", self._key)
        row.addLayout(right, 2)
        return page

    def _diagnostics_page(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        top = QHBoxLayout()
        top.addWidget(label(tr("Diagnóstico para el coordinador"), "title"), 1)
        top.addWidget(button(tr("Volver"), "primary", self.back, name="failure_back_diagnostics"))
        col.addLayout(top)
        self.text = QPlainTextEdit()
        self.text.setObjectName("failure_text")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPixelSize(Scale.px(14))
        self.text.setFont(font)
        touch_scroll(self.text)
        col.addWidget(self.text, 1)
        return page

    # --- navigation and the PIN ----------------------------------------------------------

    def ask_pin(self) -> None:
        if self._check_pin is None:
            return
        self.pin.clear()
        self.notice.show_text(None)
        self._rest_tick()
        self.pages.setCurrentWidget(self.pin_page)

    def back(self) -> None:
        """To the message; the diagnostics text is dropped, so seeing it again takes the PIN."""
        self._close_timer.stop()
        self.text.clear()
        self.pin.clear()
        self.pages.setCurrentWidget(self.message_page)

    def showing(self) -> str:
        current = self.pages.currentWidget()
        return ("pin" if current is self.pin_page
                else "diagnostics" if current is self.diagnostics_page else "message")

    def _key(self, k: str) -> None:
        if k == "<":
            self.pin.backspace()
        elif k == "ok":
            self._submit(self.pin.text())
        elif len(self.pin.text()) < 12:
            self.pin.insert(k)

    def _submit(self, pin: str) -> None:
        self.pin.clear()
        if self._check_pin is None or time.monotonic() < self._rest_until:
            return
        # scrypt, once per coordinator: tens of ms each on a Pi. On the UI thread on purpose:
        # this screen has nothing else to keep alive, and no worker pool to depend on.
        if pin and self._check_pin(pin):
            self._wrong = 0
            self.notice.show_text(None)
            self.text.setPlainText(self._diagnostics)
            self.pages.setCurrentWidget(self.diagnostics_page)
            self._close_timer.start(DIAGNOSTICS_S * 1000)
            return
        self._wrong += 1
        if self._wrong >= MAX_TRIES:
            self._wrong = 0
            self._rest_until = time.monotonic() + REST_S
            self._rest_tick()
            self._rest_timer.start()
        else:
            self.notice.show_text(tr("PIN incorrecto."), error=True)

    def _rest_tick(self) -> None:
        left = self._rest_until - time.monotonic()
        self.keypad.setEnabled(left <= 0)
        if left > 0:
            self.notice.show_text(text("pin.locked", seconds=int(left) + 1), error=True)
        elif self._rest_timer.isActive():
            self._rest_timer.stop()
            self.notice.show_text(None)
