"""The self-service screens ("modo ciudadano"): the start ("Dar mi apoyo"), the code sent, the
code typed on its own keyboard, the choice of aspirant, and the idle warning laid over any
screen. They speak to the citizen ("usted") in larger text (`theme.CITIZEN_ZOOM`).

The capture screens themselves are the auxiliary's, built with `citizen=True`
(kiosk.app.citizen_screens)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLineEdit, QSizePolicy, QVBoxLayout, QWidget

from kiosk.i18n import text
from kiosk.ui.texts import CITIZEN_START_TEXT
from kiosk.ui.theme import PAPER, PRIMARY, Scale, citizen_style, tr
from kiosk.ui.widgets import Header, HelpOrNotice, NoticeLabel, button, label

CENTER = Qt.AlignmentFlag.AlignCenter
# The code's alphabet as the keyboard offers it (Crockford base32: no I, L, O, U; the parser
# reads those as 1, 1, 0, V anyway), three rows of eleven with the backspace.
CODE_ROWS = ("0123456789<", "ABCDEFGHJKM", "NPQRSTVWXYZ")
CODE_LENGTH = 12
GROUP = 4


class CitizenStartScreen(QWidget):
    """What a self-service device shows to whoever walks up: no PIN."""

    request_code = Signal()
    have_code = Signal()
    coordinator = Signal()

    def __init__(self) -> None:
        super().__init__()
        citizen_style(self)
        col = QVBoxLayout(self)
        col.setContentsMargins(Scale.px(16), Scale.px(8), Scale.px(16), Scale.px(8))
        col.setSpacing(Scale.px(8))
        col.addWidget(label(tr("Dar mi apoyo"), "big", align=CENTER))
        col.addWidget(label(tr(CITIZEN_START_TEXT), align=CENTER))
        self.notice = NoticeLabel()
        col.addWidget(self.notice)
        col.addStretch(1)
        col.addWidget(button(tr("Pedir mi código de activación"), "huge", self.request_code.emit,
                             name="request_code"))
        col.addWidget(button(tr("Ya tengo mi código"), "huge", self.have_code.emit, name="have_code"))
        col.addStretch(1)
        row = QHBoxLayout()
        coord = button(tr("Coordinador"), None, self.coordinator.emit, name="coordinator")
        # Small on purpose: for the staff, out of the citizen's way.
        coord.setStyleSheet(f"font-size: {Scale.px(15)}px; min-height: {Scale.px(48)}px;")
        row.addWidget(coord)
        row.addStretch(1)
        col.addLayout(row)


class ActivationSentScreen(QWidget):
    """The server e-mailed a code: where it went (masked), how long it lasts, where it works."""

    have_code = Signal()
    finish = Signal()

    def __init__(self, sent: str) -> None:
        """`sent`: the flow's notice, already in the chosen language."""
        super().__init__()
        citizen_style(self)
        col = QVBoxLayout(self)
        col.setContentsMargins(Scale.px(16), Scale.px(8), Scale.px(16), Scale.px(8))
        col.addWidget(Header("Revise su correo"))
        col.addStretch(1)
        self.sent = label(sent, "code_sent", align=CENTER)
        self.sent.setStyleSheet(f"font-size: {Scale.px(30)}px; font-weight: 800;")
        col.addWidget(self.sent)
        col.addWidget(label(tr("Cuando lo reciba, toque «Ya tengo mi código» y escríbalo."), align=CENTER))
        col.addStretch(1)
        col.addWidget(button(tr("Ya tengo mi código"), "huge", self.have_code.emit, name="have_code"))
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(button(tr("Terminar"), None, self.finish.emit, name="finish"))
        col.addLayout(row)


class CodeKeyboard(QWidget):
    """The code's characters only: digits, the Crockford letters and a backspace ("<")."""

    key = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(Scale.px(4))
        for r, chars in enumerate(CODE_ROWS):
            for c, ch in enumerate(chars):
                b = button("⌫" if ch == "<" else ch, "danger" if ch == "<" else "key", name=f"ck_{ch}")
                b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
                b.clicked.connect(lambda _=False, ch=ch: self.key.emit(ch))
                grid.addWidget(b, r, c)


class CodeEntryScreen(QWidget):
    """"Código de activación": three groups of four, typed on the code's own keyboard."""

    done = Signal(str)   # the code as typed, groups joined by dashes
    cancel = Signal()

    def __init__(self) -> None:
        super().__init__()
        citizen_style(self)
        self.typed = ""
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 6)
        col.setSpacing(Scale.px(6))
        col.addWidget(Header("Código de activación", self.cancel.emit))
        self.help = label(tr("Escriba el código de 12 caracteres que le llegó por correo."))
        col.addWidget(self.help)
        # In the help line's place: the keyboard's rows give up the few pixels more it takes.
        self.notice = HelpOrNotice(self.help, errors_only=True)
        col.addWidget(self.notice)
        row = QHBoxLayout()
        self.groups: list[QLineEdit] = []
        for i in range(CODE_LENGTH // GROUP):
            if i:
                row.addWidget(label("–", "title", wrap=False))
            g = QLineEdit()
            g.setObjectName(f"code_{i + 1}")
            g.setReadOnly(True)   # the keyboard below is the only way to type
            g.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            g.setAlignment(CENTER)
            g.setPlaceholderText("····")
            g.setStyleSheet(f"font-size: {Scale.px(34)}px; font-weight: 800; "
                            f"letter-spacing: {Scale.px(4)}px;")
            self.groups.append(g)
            row.addWidget(g, 1)
        self.ok = button(tr("Continuar"), "primary", self._done, name="code_done")
        row.addWidget(self.ok)
        col.addLayout(row)
        kb = CodeKeyboard()
        kb.key.connect(self._key)
        col.addWidget(kb, 1)
        self._show()

    def _key(self, k: str) -> None:
        self.notice.show_text(None)   # being corrected: the last refusal no longer applies
        if k == "<":
            self.typed = self.typed[:-1]
        elif len(self.typed) < CODE_LENGTH:
            self.typed += k
        self._show()

    def _show(self) -> None:
        for i, g in enumerate(self.groups):
            g.setText(self.typed[i * GROUP:(i + 1) * GROUP])
        self.ok.setEnabled(len(self.typed) == CODE_LENGTH)

    def _done(self) -> None:
        self.done.emit("-".join(self.typed[i:i + GROUP] for i in range(0, len(self.typed), GROUP)))

    def clear(self) -> None:
        self.typed = ""
        self._show()


class ChoiceCard(QFrame):
    """A large touch target of two wrapped lines (a button cuts a long process name)."""

    clicked = Signal()

    def __init__(self, title: str, detail: str, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setStyleSheet(f"QFrame#{name} {{ border: {Scale.px(3)}px solid #000; "
                           f"border-radius: {Scale.px(8)}px; }}")
        col = QVBoxLayout(self)
        col.setContentsMargins(Scale.px(14), Scale.px(8), Scale.px(14), Scale.px(8))
        col.setSpacing(Scale.px(2))
        head = label(title, "title")
        col.addWidget(head)
        col.addWidget(label(detail))
        self.setMinimumHeight(Scale.px(64))

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        if self.rect().contains(e.position().toPoint()):
            self.clicked.emit()


class ProcessChoiceScreen(QWidget):
    """The aspirants this citizen's sección may support now: one card each."""

    chosen = Signal(str)   # process id
    cancel = Signal()

    def __init__(self, processes: list[tuple[str, str, str]]) -> None:
        """`processes`: (process id, process name, aspirant name)."""
        super().__init__()
        citizen_style(self)
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 6)
        col.setSpacing(Scale.px(8))
        col.addWidget(Header("¿A quién da su apoyo?", self.cancel.emit))
        col.addWidget(label(tr("Toque el nombre de la persona aspirante a la que quiere dar su apoyo.")))
        self.notice = NoticeLabel(errors_only=True)   # the flow's hint is the line above
        col.addWidget(self.notice)
        for pid, name, aspirant in processes:
            card = ChoiceCard(aspirant, name, f"process_{pid}")
            card.clicked.connect(lambda p=pid: self.chosen.emit(p))
            col.addWidget(card)
        col.addStretch(1)


class IdleOverlay(QWidget):
    """"¿Sigue ahí?" over the whole window while the idle timeout runs out; a touch anywhere on
    it closes it (and the window's input filter counts that touch as activity)."""

    touched = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.host = parent
        self.setObjectName("idle_overlay")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet("QWidget#idle_overlay { background: rgba(0, 0, 0, 170); }")
        col = QVBoxLayout(self)
        col.addStretch(1)
        self.message = label("", "big", align=CENTER)
        self.message.setObjectName("idle_message")
        self.message.setStyleSheet(
            f"color: {PAPER}; background: {PRIMARY}; font-size: {Scale.px(34)}px; font-weight: 800; "
            f"padding: {Scale.px(24)}px; border-radius: {Scale.px(12)}px;")
        col.addWidget(self.message)
        col.addStretch(1)
        col.setContentsMargins(Scale.px(40), 0, Scale.px(40), 0)
        parent.installEventFilter(self)
        self.setGeometry(parent.rect())
        self.hide()

    def eventFilter(self, obj: QObject, e: QEvent) -> bool:
        if obj is self.host and e.type() == QEvent.Type.Resize:
            self.setGeometry(self.host.rect())
        return False

    def show_seconds(self, seconds: int | None) -> None:
        """The warning with the seconds left; None hides it."""
        if seconds is None:
            self.hide()
            return
        self.message.setText(text("citizen.idle_warning", "ciudadano", seconds=seconds))
        self.setGeometry(self.host.rect())
        self.show()
        self.raise_()

    def mousePressEvent(self, e: QMouseEvent) -> None:
        self.hide()
        self.touched.emit()
        e.accept()

