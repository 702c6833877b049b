"""Look and language: a high-contrast style sheet scaled to the screen, and Spanish/English.

Sizes are in "design pixels" of an 800x480 screen and scale with the window, so
touch targets stay >= 9 mm on both the 7" (800x480) and 10" (1280x800) panels:
a 7" 800x480 panel has ~5.2 px/mm, so 9 mm is 47 px; buttons are 56 px high.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from kiosk.i18n import N_, tr

__all__ = ["CITIZEN_ZOOM", "DANGER", "INK", "MUTED", "N_", "OK", "PAPER", "PRIMARY", "WARN", "Scale",
           "citizen_style", "style_sheet", "tr"]

INK = "#000000"
PAPER = "#ffffff"
PRIMARY = "#003a8c"  # dark blue: white text on it is 11:1
DANGER = "#a8001a"
OK = "#00612a"
WARN = "#8a4b00"
MUTED = "#3a3a3a"  # still 11:1 on white


class Scale:
    """Design pixels (800x480) to screen pixels."""

    factor = 1.0

    @classmethod
    def set_for(cls, width: int, height: int) -> None:
        cls.factor = max(0.75, min(width / 800, height / 480))

    @classmethod
    def px(cls, design: float) -> int:
        return max(1, round(design * cls.factor))


# Self-service screens speak to citizens, not to a trained auxiliary: larger text and targets.
CITIZEN_ZOOM = 1.15


def style_sheet(zoom: float = 1.0) -> str:
    """The application's style; `zoom` > 1 for a screen of its own (the citizen's), set on
    that screen, whose rules then win over the application's."""

    def p(design: float) -> int:
        return Scale.px(design * zoom)

    return f"""
    QWidget {{ background: {PAPER}; color: {INK}; font-size: {p(19)}px; }}
    QLabel#title {{ font-size: {p(26)}px; font-weight: 700; }}
    QLabel#big {{ font-size: {p(44)}px; font-weight: 800; }}
    QLabel#notice {{ font-size: {p(20)}px; font-weight: 700; padding: {p(4)}px; }}
    QLabel#notice[error="true"] {{ color: {PAPER}; background: {DANGER}; }}
    QLabel#notice[error="false"] {{ color: {INK}; background: #ffe066; }}
    QLabel#warnings {{ font-size: {p(18)}px; font-weight: 700; padding: {p(4)}px; color: {PAPER};
                      background: {WARN}; }}
    QLabel#guide {{ font-size: {p(22)}px; font-weight: 800; color: {PAPER}; background: {INK};
                   padding: {p(6)}px; }}
    QLabel#muted {{ color: {MUTED}; }}
    QFrame#statusbar {{ background: {INK}; }}
    QFrame#statusbar QLabel {{ background: {INK}; color: {PAPER}; font-size: {p(14)}px; font-weight: 700; }}
    QFrame#statusbar QLabel[warn="true"] {{ color: #ffd400; }}
    QPushButton {{ min-height: {p(56)}px; min-width: {p(56)}px; padding: 0 {p(14)}px;
                   border: {p(3)}px solid {INK}; border-radius: {p(8)}px; background: {PAPER};
                   font-size: {p(20)}px; font-weight: 700; }}
    QPushButton:pressed {{ background: #cccccc; }}
    QPushButton:disabled {{ color: #777777; border-color: #999999; }}
    QPushButton[role="primary"] {{ background: {PRIMARY}; color: {PAPER}; border-color: {PRIMARY}; }}
    QPushButton[role="primary"]:disabled {{ background: #8899bb; border-color: #8899bb; }}
    QPushButton[role="danger"] {{ background: {PAPER}; color: {DANGER}; border-color: {DANGER}; }}
    QPushButton[role="key"] {{ font-size: {p(24)}px; padding: 0; min-width: {p(40)}px; }}
    QPushButton[role="kb"] {{ font-size: {p(22)}px; padding: 0; min-width: {p(36)}px;
                              min-height: {p(48)}px; }}
    QPushButton[role="huge"] {{ background: {PRIMARY}; color: {PAPER}; border-color: {PRIMARY};
                                font-size: {p(30)}px; min-height: {p(96)}px; }}
    QPushButton[role="huge"]:disabled {{ background: #c4c4c4; color: #5a5a5a; border-color: #c4c4c4; }}
    QPushButton:checked {{ background: {PRIMARY}; color: {PAPER}; border-color: {PRIMARY}; }}
    QLineEdit {{ min-height: {p(52)}px; font-size: {p(24)}px; border: {p(3)}px solid {INK};
                 border-radius: {p(6)}px; padding: 0 {p(8)}px; }}
    QCheckBox {{ font-size: {p(19)}px; font-weight: 700; spacing: {p(12)}px; }}
    QCheckBox::indicator {{ width: {p(44)}px; height: {p(44)}px; border: {p(3)}px solid {INK};
                            border-radius: {p(6)}px; background: {PAPER}; }}
    QCheckBox::indicator:checked {{ background: {PRIMARY}; }}
    QScrollBar:vertical {{ width: {p(30)}px; }}
    QTextBrowser {{ border: {p(2)}px solid {INK}; font-size: {p(16)}px; }}
    """


def citizen_style(w: QWidget) -> None:
    """The citizen's larger text and targets on a screen (or a part of one): its own style
    sheet, whose rules win over the application's."""
    w.setStyleSheet(style_sheet(CITIZEN_ZOOM))
