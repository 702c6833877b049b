"""Touch geometry of every screen in every state (tests/helpers/screen_states.py), on the two
panels the kiosk runs on: a 7" 800x480 (~5.2 px/mm) and a 10.1" 1280x800 (~5.9 px/mm).

Every visible interactive widget lies inside the window (inside its scroll area's content,
when it scrolls) and is at least 9 mm both ways; every scroll area scrolls by finger drag and
none sits inside another; a drag on the review scrolls it, by mouse (what the Pi's panel
synthesises from touches) and by touch events. Then what the screens promise a finger: the
review's consent and "Guardar" outside the scroll area, refused with the reason beside it
until both boxes are ticked and liveness passed; the server field showing where its address
starts; the e-mail error gone once the address is corrected."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QScrollArea,
    QWidget,
)

from kiosk.ui.review import CONSENT_MISSING, LIVENESS_FAILED, ReviewData, ReviewScreen
from kiosk.ui.sign import EmailScreen
from kiosk.ui.signature_pad import SignaturePad
from kiosk.ui.theme import Scale
from kiosk.ui.widgets import has_touch_scroll
from tests.helpers.screen_states import STATES, host
from tests.helpers.ui import find

PANELS = {(800, 480): 5.2, (1280, 800): 5.9}  # size -> px per mm
MIN_MM = 9.0
INTERACTIVE = (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox, SignaturePad)
SIZES = list(PANELS)


def _scroll_area_of(w: QWidget, win: QWidget) -> QAbstractScrollArea | None:
    p = w.parentWidget()
    while p is not None and p is not win:
        if isinstance(p, QAbstractScrollArea):
            return p
        p = p.parentWidget()
    return None


def _problems(win: QWidget, size: tuple[int, int]) -> list[str]:
    min_px = MIN_MM * PANELS[size]
    out = []
    if (win.width(), win.height()) != size:
        out.append(f"the window grew to {win.width()}x{win.height()}")
    frame = QRect(QPoint(0, 0), win.size())
    for w in win.findChildren(QWidget):
        if not isinstance(w, INTERACTIVE) or not w.isVisibleTo(win):
            continue
        name = w.objectName() or f"{type(w).__name__} «{getattr(w, 'text', lambda: '')()}»"
        area = _scroll_area_of(w, win)
        content = area.widget() if isinstance(area, QScrollArea) else None
        if area is not None and content is not None:
            r = QRect(w.mapTo(content, QPoint(0, 0)), w.size())
            wider = content.width() > area.viewport().width()   # no horizontal scrolling here
            if wider or not QRect(QPoint(0, 0), content.size()).contains(r):
                out.append(f"{name} at {r} is outside its scroll area's content {content.size()}")
        else:
            r = QRect(w.mapTo(win, QPoint(0, 0)), w.size())
            if not frame.contains(r):
                out.append(f"{name} at {r} is outside the window")
        if w.width() < min_px or w.height() < min_px:
            out.append(f"{name} is {w.width()}x{w.height()} px, under {MIN_MM:g} mm ({min_px:.0f} px)")
    return out


@pytest.fixture(autouse=True)
def _scale_restored(qapp: Any) -> Iterator[None]:
    """`host` scales the whole application: later tests find it as it was."""
    factor, sheet = Scale.factor, qapp.styleSheet()
    yield
    Scale.factor = factor
    qapp.setStyleSheet(sheet)


CASES = [pytest.param(builder, size, id=f"{name}-{size[0]}x{size[1]}")
         for name, builder in STATES for size in SIZES]


def test_registry_names_are_unique() -> None:
    names = [n for n, _b in STATES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("builder", "size"), CASES)
def test_state_fits_and_its_targets_are_9mm(qtbot: Any, builder: Any, size: tuple[int, int]) -> None:
    win, _screen = host(builder, size)
    qtbot.addWidget(win)
    found = _problems(win, size)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("builder", "size"), CASES)
def test_scroll_areas_scroll_by_finger_and_none_is_nested(qtbot: Any, builder: Any,
                                                          size: tuple[int, int]) -> None:
    win, _screen = host(builder, size)
    qtbot.addWidget(win)
    found = []
    for area in win.findChildren(QAbstractScrollArea):
        if not area.isVisibleTo(win):
            continue
        label = area.objectName() or type(area).__name__
        if not has_touch_scroll(area):
            found.append(f"{label} has no kinetic (finger-drag) scrolling")
        if _scroll_area_of(area, win) is not None:
            found.append(f"{label} is a scroll box inside another scroll area")
    assert not found, "\n".join(found)


def _review(qtbot: Any, size: tuple[int, int]) -> tuple[QWidget, QAbstractScrollArea]:
    win, screen = host(dict(STATES)["review_consent_missing"], size)
    qtbot.addWidget(win)
    QTest.qWaitForWindowExposed(win)
    area = screen.findChild(QAbstractScrollArea, "review_scroll")
    assert area is not None and area.verticalScrollBar().maximum() > 0, "the review has nothing to scroll"
    assert area.verticalScrollBar().value() == 0
    return win, area


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_a_mouse_drag_scrolls_the_review(qtbot: Any, size: tuple[int, int]) -> None:
    """A drag as the panel's synthesised mouse events: press, move up, release."""
    win, area = _review(qtbot, size)
    vp, bar, handle = area.viewport(), area.verticalScrollBar(), win.windowHandle()
    x, y0 = vp.width() // 2, int(vp.height() * 0.85)

    def at(y: int) -> QPoint:
        return vp.mapTo(win, QPoint(x, y))

    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    # Real time between the moves: the scroller moves the content on its own timer while dragging.
    QTest.mousePress(handle, left, none, at(y0))
    for i in range(1, 11):
        QTest.qWait(20)
        QTest.mouseMove(handle, at(y0 - i * y0 // 12))
    QTest.qWait(20)
    QTest.mouseRelease(handle, left, none, at(y0 // 6))
    qtbot.waitUntil(lambda: bar.value() > 0, timeout=3000)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_a_touch_drag_scrolls_the_review(qtbot: Any, size: tuple[int, int]) -> None:
    """The same drag as touch events from a touchscreen device."""
    _win, area = _review(qtbot, size)
    vp, bar = area.viewport(), area.verticalScrollBar()
    x, y0 = vp.width() // 2, int(vp.height() * 0.85)
    device = QTest.createTouchDevice()
    QTest.touchEvent(vp, device).press(0, QPoint(x, y0), vp).commit()
    for i in range(1, 11):
        QTest.qWait(20)
        QTest.touchEvent(vp, device).move(0, QPoint(x, y0 - i * y0 // 12), vp).commit()
    QTest.qWait(20)
    QTest.touchEvent(vp, device).release(0, QPoint(x, y0 // 6), vp).commit()
    qtbot.waitUntil(lambda: bar.value() > 0, timeout=3000)


# -- what the screens promise a finger ------------------------------------------------------------
def _review_screen(qtbot: Any, state: str) -> tuple[QWidget, ReviewScreen]:
    """The window too: the caller keeps it (pytest-qt holds it only weakly)."""
    win, screen = host(dict(STATES)[state], (800, 480))
    qtbot.addWidget(win)
    assert isinstance(screen, ReviewScreen)
    return win, screen


def test_review_consent_and_guardar_never_scroll_away(qtbot: Any) -> None:
    _win, s = _review_screen(qtbot, "review_consent_missing")
    for name in ("consent_support", "consent_biometric", "save"):
        w = find(s, name)
        assert not s.body_scroll.isAncestorOf(w), f"{name} scrolls with the review"
        assert w.isVisible()


def test_guardar_waits_for_both_consents_and_says_so(qtbot: Any) -> None:
    _win, s = _review_screen(qtbot, "review_consent_missing")
    saved: list[bool] = []
    s.save.connect(saved.append)
    save, support, biometric = find(s, "save"), find(s, "consent_support"), find(s, "consent_biometric")
    assert not save.isEnabled() and s.reason.isVisible() and s.reason.text() == CONSENT_MISSING
    support.setChecked(True)
    assert not save.isEnabled() and s.reason.text() == CONSENT_MISSING
    biometric.setChecked(True)
    assert save.isEnabled() and s.reason.text() == ""
    save.click()
    assert saved == [True]
    s.set_saving(True)
    assert not save.isEnabled()
    support.setChecked(False)
    s.set_saving(False)                 # back from a failed save: still refused, still says why
    assert not save.isEnabled() and s.reason.text() == CONSENT_MISSING


@pytest.mark.parametrize("state", ["review_liveness_failed", "review_liveness_not_done"])
def test_liveness_not_passed_refuses_guardar_and_offers_the_selfie_again(qtbot: Any, state: str) -> None:
    _win, s = _review_screen(qtbot, state)
    redone: list[str] = []
    s.redo.connect(redone.append)
    find(s, "consent_support").setChecked(True)
    find(s, "consent_biometric").setChecked(True)
    assert not find(s, "save").isEnabled()
    assert s.reason.isVisible() and s.reason.text() == LIVENESS_FAILED
    assert find(s, "liveness").text().startswith("✗")
    retake = find(s, "redo_selfie_live")
    assert retake.isVisible()
    retake.click()
    assert redone == ["selfie"]


def test_liveness_passed_is_said_and_offers_no_retake(qtbot: Any) -> None:
    _win, s = _review_screen(qtbot, "review_ready")
    assert find(s, "liveness").text().startswith("✓")
    assert not find(s, "redo_selfie_live").isVisible() and find(s, "save").isEnabled()


def test_review_data_takes_only_the_three_liveness_states() -> None:
    with pytest.raises(ValueError):
        ReviewData("p", "a", [], liveness="maybe")


def test_a_save_error_shows_beside_guardar_until_a_box_is_touched(qtbot: Any) -> None:
    _win, s = _review_screen(qtbot, "review_save_failed")
    assert s.notice.isVisible() and not s.reason.isVisible()
    assert not s.body_scroll.isAncestorOf(s.notice)
    find(s, "consent_support").setChecked(True)
    assert not s.notice.isVisible() and s.reason.isVisible()


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_server_field_shows_where_the_address_starts(qtbot: Any, size: tuple[int, int]) -> None:
    win, s = host(dict(STATES)["first_run"], size)
    qtbot.addWidget(win)
    server = find(s, "enroll_server")
    find(s, "focus_server").click()
    find(s, "kb_https").click()
    for ch in "enrolamiento.apoyo-ciudadano.example.mx":
        find(s, f"kb_{ch}").click()
    win.grab()   # paint: the field scrolls its text as it paints
    assert server.cursorRect().left() > server.width() // 2   # typing: the end shows
    find(s, "focus_code").click()                              # editing the address ended
    win.grab()
    assert server.cursorPosition() == 0
    assert server.cursorRect().left() < server.width() // 10  # the text is not scrolled: "https://…"
    find(s, "focus_server").click()
    find(s, "kb_slash").click()                                # typing again goes on at the end
    assert server.text() == "https://enrolamiento.apoyo-ciudadano.example.mx/"
    find(s, "enroll").click()
    win.grab()
    assert server.cursorPosition() == 0 and server.cursorRect().left() < server.width() // 10


def test_email_error_covers_the_help_and_goes_once_corrected(qtbot: Any) -> None:
    win, s = host(dict(STATES)["email_invalid"], (800, 480))
    qtbot.addWidget(win)
    assert isinstance(s, EmailScreen)
    notice, help_line = find(s, "notice"), s.help
    assert notice.isVisible() and notice.geometry() == help_line.geometry()
    find(s, "kb_@gmail.com").click()
    assert not notice.isVisible() and s.email.text() == "ana.perez@@gmail.com"


def test_card_photo_not_found_says_so_after_layout(qtbot) -> None:  # type: ignore[no-untyped-def]
    """The card photo check with no portrait found: the box says so (a resize used to wipe it)."""
    win, screen = host(dict(STATES)["card_photo_not_found"], (800, 480))
    qtbot.addWidget(win)
    win.resize(1280, 800)
    QApplication.processEvents()
    assert "No se encontró la fotografía" in screen.photo.text()
