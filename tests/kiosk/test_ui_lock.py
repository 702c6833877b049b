"""Lock screen, lockout, idle auto-lock, first run and the coordinator menu (offscreen)."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import QWidget

from kiosk import i18n
from kiosk.capture.flow import Step
from kiosk.capture.lockouts import MAX_PIN_FAILURES
from tests.helpers.ui import COORD_PIN, click, find, make_window, offline_device


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
        # one plural form per count, from the catalogue: "Le queda 1 intento.", "Le quedan 2 intentos."
        want = ("Le queda 1 intento." if left == 1 else f"Le quedan {left} intentos.") if left else "Espere"
        qtbot.waitUntil(lambda want=want: want in (w.flow.notice.text if w.flow.notice else ""),
                        timeout=10000)
        qtbot.waitUntil(lambda: not w.jobs.busy(), timeout=10000)  # the PIN check has finished
    notice = find(w.screen, "notice")
    qtbot.waitUntil(lambda: "Espere" in notice.text(), timeout=10000)
    assert not w.screen.keypad.isEnabled()           # locked out: keypad disabled, countdown shown
    assert w.flow.lockout_remaining("aux-0001", __import__("time").monotonic()) > 50
    # The coordinator unlocks the auxiliary from the menu.
    click(w, "coordinator")
    assert w.lock.coordinator_pin
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
    # No config path to enroll into: the screen says how to enroll, no code entry
    # (enrolling from the screen: tests/kiosk/test_ui_enroll.py).
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


def _signed_unlock(cfg_path: Path, aux_id: str) -> bytes:
    """A config command with `unlock`, signed with the device's provisioned server key."""
    import json
    import uuid

    from server_stub.deploy.keys import load_sign_private
    from sync.device.config import load_config
    from sync.wire.command import Command, sign_command

    cfg = load_config(cfg_path)
    key = load_sign_private(cfg.keys.server_sign_public.with_name("server-sign.key"))
    now = int(time.time() * 1000)
    cmd = Command(uuid.uuid4(), cfg.device.id, 1, now, now + 600_000, "config",
                  json.dumps({"unlock": [aux_id]}).encode())
    return sign_command(cmd, key)


def test_coordinators_come_from_the_config_and_do_not_capture(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg_path = offline_device(tmp_path / "dev")
    w = make_window(qtbot, cfg_path, None)
    roles = {a.id: a.role for a in w.sv.config.auxiliaries}
    assert roles == {"aux-0001": "auxiliar", "coord-01": "coordinador"}
    assert w.screen.findChild(QWidget, "aux_coord-01") is None      # not among who capture
    find(w.screen, "aux_aux-0001")
    # Its PIN does not open a capture session either (it is not offered; forced, it fails).
    w.lock.try_unlock("coord-01", "COORDINACIÓN MUESTRA", COORD_PIN)
    qtbot.waitUntil(lambda: "PIN incorrecto" in (w.flow.notice.text if w.flow.notice else ""), timeout=10000)
    assert w.flow.step == Step.LOCKED
    click(w, "coordinator")
    click(w, "aux_coord-01")
    type_pin(w, COORD_PIN)
    qtbot.waitUntil(lambda: w.flow.step == Step.COORDINATOR, timeout=10000)
    w.close_services()


def test_lockout_survives_a_restart_and_a_signed_config_update_clears_it(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sync.device.command_exec import LOCKOUT_FILE, apply_command, is_locked_out
    from sync.device.config import load_config

    cfg_path = offline_device(tmp_path / "dev")
    w = make_window(qtbot, cfg_path, None)
    for _ in range(MAX_PIN_FAILURES):
        type_pin(w, "0000")
        qtbot.waitUntil(lambda: not w.jobs.busy(), timeout=10000)
    qtbot.waitUntil(lambda: "Espere" in find(w.screen, "notice").text(), timeout=10000)
    cfg = load_config(cfg_path)
    assert is_locked_out(cfg, "aux-0001")           # the fleet's lockout file, not memory
    assert (cfg.device.data_dir / LOCKOUT_FILE).exists()
    w.close_services()
    w.close()
    # The kiosk restarts: still locked out, keypad disabled with the countdown.
    w = make_window(qtbot, cfg_path, None)
    qtbot.waitUntil(lambda: not w.screen.keypad.isEnabled(), timeout=3000)
    assert w.flow.lockout_remaining("aux-0001", time.monotonic()) > 50
    # The server's signed config update with `unlock` (the coordinator's remote unlock) clears it.
    result = apply_command(cfg, _signed_unlock(cfg_path, "aux-0001"))
    assert result.applied, result.reason
    qtbot.waitUntil(lambda: w.screen.keypad.isEnabled(), timeout=3000)
    type_pin(w, "123456")
    qtbot.waitUntil(lambda: w.flow.step == Step.HOME, timeout=10000)
    w.close_services()
