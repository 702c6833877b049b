"""First run (device not enrolled) and the lock screen (auxiliary + PIN keypad)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from kiosk.ui.theme import Scale, tr
from kiosk.ui.widgets import Keyboard, Keypad, NoticeLabel, button, label

FIRST_RUN_TEXT = (
    "Este dispositivo todavía no está inscrito, así que no puede captar apoyos.\n\n"
    "Para inscribirlo: pida a su coordinador un código de inscripción (vale 24 horas y sólo "
    "para un dispositivo), conecte el dispositivo a internet y escriba el código aquí."
)


class FirstRunScreen(QWidget):
    enroll = Signal(str)

    def __init__(self, device_text: str, can_enroll: bool) -> None:
        super().__init__()
        col = QVBoxLayout(self)
        col.addWidget(label(tr("Dispositivo no inscrito"), "title"))
        col.addWidget(label(tr(FIRST_RUN_TEXT)))
        col.addWidget(label(device_text, "muted"))
        self.notice = NoticeLabel()
        col.addWidget(self.notice)
        if not can_enroll:
            info = label(tr("La inscripción desde esta pantalla aún no está disponible en esta "
                            "versión: use «fieldkit-kiosk enroll» o pida ayuda a su coordinador."),)
            info.setObjectName("warnings")
            col.addWidget(info)
            col.addStretch(1)
            return
        row = QHBoxLayout()
        self.code = QLineEdit()
        self.code.setObjectName("enroll_code")
        self.code.setPlaceholderText(tr("Código de inscripción"))
        row.addWidget(self.code, 1)
        self.go = button(tr("Inscribir"), "primary", self._submit, name="enroll")
        row.addWidget(self.go)
        col.addLayout(row)
        kb = Keyboard(email=False)
        kb.key.connect(self._key)
        col.addWidget(kb)

    def _key(self, k: str) -> None:
        if k == "<":
            self.code.backspace()
        elif len(k) == 1:
            self.code.insert(k.upper())

    def _submit(self) -> None:
        self.enroll.emit(self.code.text().strip())


class LockScreen(QWidget):
    unlock = Signal(str, str, str)  # auxiliary id, name, PIN
    coordinator = Signal()

    def __init__(self, auxiliaries: list[tuple[str, str]], title: str = "Iniciar sesión") -> None:
        super().__init__()
        self._aux = auxiliaries
        self.selected: tuple[str, str] | None = auxiliaries[0] if len(auxiliaries) == 1 else None
        row = QHBoxLayout(self)
        left = QVBoxLayout()
        left.addWidget(label(tr(title), "title"))
        left.addWidget(label(tr("1. Toque su nombre.   2. Escriba su PIN.   3. Toque «Entrar».")))
        self.buttons = []
        grid = QGridLayout()
        for i, (aid, name) in enumerate(auxiliaries):
            b = button(name, name=f"aux_{aid}")
            b.setCheckable(True)
            b.setChecked(self.selected is not None and self.selected[0] == aid)
            b.clicked.connect(lambda _=False, a=(aid, name): self.select(*a))
            self.buttons.append(b)
            grid.addWidget(b, i // 2, i % 2)
        left.addLayout(grid)
        left.addStretch(1)
        self.notice = NoticeLabel()
        left.addWidget(self.notice)
        self.coord_button = button(tr("Coordinador"), None, self.coordinator.emit, name="coordinator")
        left.addWidget(self.coord_button, 0, Qt.AlignmentFlag.AlignLeft)
        row.addLayout(left, 3)
        right = QVBoxLayout()
        self.pin = QLineEdit()
        self.pin.setObjectName("pin")
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setReadOnly(True)
        self.pin.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pin.setPlaceholderText("PIN")
        right.addWidget(self.pin)
        self.keypad = Keypad()
        self.keypad.key.connect(self._key)
        right.addWidget(self.keypad, 1)
        row.addLayout(right, 2)
        self.setMinimumWidth(Scale.px(400))

    def select(self, aid: str, name: str) -> None:
        self.selected = (aid, name)
        for b, (a, _n) in zip(self.buttons, self._aux, strict=False):
            b.setChecked(a == aid)
        self.pin.clear()

    def _key(self, k: str) -> None:
        if k == "<":
            self.pin.backspace()
        elif k == "ok":
            if self.selected is None:
                self.notice.show_text(tr("Primero toque su nombre."), error=True)
                return
            pin, _ = self.pin.text(), self.pin.clear()
            self.unlock.emit(self.selected[0], self.selected[1], pin)
        elif len(self.pin.text()) < 12:
            self.pin.insert(k)

    def set_lockout(self, seconds: float) -> None:
        """Disable the keypad while the selected auxiliary is locked out, with a countdown."""
        locked = seconds > 0
        self.keypad.setEnabled(not locked)
        if locked:
            self.notice.show_text(
                tr("Demasiados intentos. Espere {} s.").format(int(seconds) + 1), error=True
            )
