"""Lock screen, lockout, idle auto-lock, first run and the coordinator menu (offscreen)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget
from ui_helpers import COORD_PIN, click, find, make_window, offline_device

from kiosk.flow import MAX_PIN_FAILURES, Step
from kiosk.ui import i18n


def type_pin(w, pin: str) -> None:  # type: ignore[no-untyped-def]
    for d in pin:
        click(w, f"key_{d}")
    click(w, "key_ok")


def test_wrong_pin_locks_out_with_countdown_and_coordinator_clears_it(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w = make_window(qtbot, offline_device(tmp_path / "dev"), None)
    assert w.flow.step == Step.LOCKED
    for i in range(MAX_PIN_FAILURES):
        type_pin(w, "0000")
        left = MAX_PIN_FAILURES - i - 1
        want = f"Le quedan {left} intento" if left else "Espere"
        qtbot.waitUntil(lambda want=want: want in (w.flow.notice.text if w.flow.notice else ""),
                        timeout=10000)
    notice = find(w.screen, "notice")
    qtbot.waitUntil(lambda: "Espere" in notice.text(), timeout=10000)
    assert not w.screen.keypad.isEnabled()           # locked out: keypad disabled, countdown shown
    assert w.flow.lockout_remaining("aux-0001", __import__("time").monotonic()) > 50
    # The coordinator unlocks the auxiliary from the menu.
    click(w, "coordinator")
    assert w.coordinator_pin
    click(w, "aux_coord-01")
    type_pin(w, COORD_PIN)
    qtbot.waitUntil(lambda: w.flow.step == Step.COORDINATOR, timeout=10000)
    click(w, "clear_aux-0001")
    assert w.flow.lockout_remaining("aux-0001", 0.0) == 0
    click(w, "leave")
    assert w.flow.step == Step.LOCKED
    type_pin(w, "123456")
    qtbot.waitUntil(lambda: w.flow.step == Step.HOME, timeout=10000)
    w.close_services()


def test_idle_auto_lock(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w = make_window(qtbot, offline_device(tmp_path / "dev"), None)
    type_pin(w, "123456")
    qtbot.waitUntil(lambda: w.flow.step == Step.HOME, timeout=10000)
    w.flow.idle_lock_seconds = 1.5                  # config minimum is a minute; same code path
    qtbot.waitUntil(lambda: w.flow.step == Step.LOCKED, timeout=6000)
    assert w.flow.operator is None
    assert "inactividad" in find(w.screen, "notice").text()
    w.close_services()


def test_first_run_screen_when_not_enrolled(qtbot) -> None:  # type: ignore[no-untyped-def]
    w = make_window(qtbot, None, None)
    assert w.flow.step == Step.FIRST_RUN
    # No device-side enrollment function yet: the screen says how to enroll, no code entry.
    assert "fieldkit-kiosk enroll" in find(w.screen, "warnings").text()
    assert w.screen.findChild(QWidget, "enroll_code") is None
    w.close_services()


def test_coordinator_menu_diagnostics_and_language(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w = make_window(qtbot, offline_device(tmp_path / "dev"), None)
    type_pin(w, "123456")
    qtbot.waitUntil(lambda: w.flow.step == Step.HOME, timeout=10000)
    click(w, "coordinator")
    click(w, "aux_coord-01")
    type_pin(w, COORD_PIN)
    qtbot.waitUntil(lambda: w.flow.step == Step.COORDINATOR, timeout=10000)
    out = find(w.screen, "diagnostics")
    for what in ("storage", "version", "camera"):
        click(w, f"diag_{what}")
    qtbot.waitUntil(lambda: out.toPlainText().count("\n") >= 2, timeout=5000)
    text = out.toPlainText()
    assert "Almacenamiento" in text and "Versión" in text and "Cámara: no configurada" in text
    click(w, "language")
    assert i18n.language() == "en"
    assert find(w.screen, "send_now").text() == "Send now"
    click(w, "language")
    assert i18n.language() == "es"
    click(w, "leave")
    assert w.flow.step == Step.HOME
    w.close_services()
