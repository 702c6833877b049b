"""The lock screen (auxiliary + PIN keypad)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QVBoxLayout, QWidget

from kiosk.i18n import text
from kiosk.ui.theme import N_, Scale, tr
from kiosk.ui.widgets import NoticeLabel, button, label, pin_column


class LockScreen(QWidget):
    unlock = Signal(str, str, str)  # auxiliary id, name, PIN
    coordinator = Signal()

    def __init__(self, auxiliaries: list[tuple[str, str]], title: str = N_("Iniciar sesión")) -> None:
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
        right, self.pin, self.keypad = pin_column("pin", self._key)
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
            pin = self.pin.text()
            self.pin.clear()
            self.unlock.emit(self.selected[0], self.selected[1], pin)
        elif len(self.pin.text()) < 12:
            self.pin.insert(k)

    def set_lockout(self, seconds: float) -> None:
        """Disable the keypad while the selected auxiliary is locked out, with a countdown."""
        locked = seconds > 0
        self.keypad.setEnabled(not locked)
        if locked:
            # The flow's own lockout message: one text for the countdown and the refusal.
            self.notice.show_text(text("pin.locked", seconds=int(seconds) + 1), error=True)
