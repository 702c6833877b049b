"""First-run enrollment in the kiosk window against the real server (enrollment listener, CA,
registry): the coordinator's QR read by the camera, a code typed on the on-screen keyboard,
and an expired and a used code showing the server's Spanish message (offscreen)."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtWidgets import QApplication, QWidget

from kiosk.app.services import services_for
from kiosk.app.window import KioskWindow
from kiosk.capture.flow import Step
from kiosk.i18n import Msg, render, set_language
from kiosk.ui.theme import Scale, style_sheet
from tests.helpers.fleet import Fleet
from tests.helpers.ui import IN_PERIOD_MS, click, find, replay_camera


def first_run_window(qtbot, cfg_path: Path, camera=None) -> KioskWindow:  # type: ignore[no-untyped-def]
    Scale.set_for(800, 480)
    QApplication.instance().setStyleSheet(style_sheet())  # type: ignore[union-attr]
    sv = services_for(None, camera, str(cfg_path))
    sv.now_ms = lambda: IN_PERIOD_MS
    w = KioskWindow(sv, "es")
    qtbot.addWidget(w)
    w.resize(800, 480)
    w.show()
    assert w.flow.step == Step.FIRST_RUN
    return w


def type_text(w: KioskWindow, text: str) -> None:
    """On the on-screen keyboard (letters, digits, '-', '.', ':', '/')."""
    names = {":": "kb_colon", "/": "kb_slash"}
    for ch in text.lower():
        click(w, names.get(ch, f"kb_{ch}"))


def type_code(w: KioskWindow, code: str, server: str) -> None:
    click(w, "focus_code")
    type_text(w, code)
    click(w, "focus_server")
    click(w, "kb_https")
    type_text(w, server.removeprefix("https://"))
    assert find(w.screen, "enroll_code").text() == code.upper()
    assert find(w.screen, "enroll_server").text() == server


def test_qr_from_the_camera_enrolls_and_opens_the_lock_screen(qtbot, fleet_env: Fleet, tmp_path: Path  # type: ignore[no-untyped-def]
                                                               ) -> None:
    issued = fleet_env.code(["aux-0001", "coord-01"])
    # The coordinator's QR shown to the camera: its PNG on a grey desk, as replay frames.
    qr = cv2.imread(str(issued.qr_png(tmp_path / "qr.png", scale=6)))
    frames = tmp_path / "frames"
    frames.mkdir()
    frame = np.full((720, 1280, 3), 110, np.uint8)
    y, x = (720 - qr.shape[0]) // 2, (1280 - qr.shape[1]) // 2
    frame[y:y + qr.shape[0], x:x + qr.shape[1]] = qr
    for i in range(3):
        cv2.imwrite(str(frames / f"qr_{i}.png"), frame)
    cfg_path = tmp_path / "kiosk" / "device.toml"
    w = first_run_window(qtbot, cfg_path, replay_camera(frames))
    progress: list[tuple[Msg, float]] = []
    w.enrollment.progress.step.connect(lambda m, f: progress.append((m, f)))
    click(w, "scan_qr")
    assert find(w.screen, "qr_preview").isVisible()
    qtbot.waitUntil(lambda: w.flow.step == Step.LOCKED, timeout=60000)
    assert cfg_path.exists() and w.sv.config is not None and w.sv.save_ctx is not None
    assert w.sv.config.device.id.startswith("fk-")
    assert [f for _m, f in progress] == sorted(f for _m, f in progress) and len(progress) >= 3
    # The steps come up as codes, rendered on the UI thread in the language chosen.
    assert all(m.code.startswith("enroll.step.") for m, _f in progress)
    assert progress[-1] == (Msg("enroll.step.done"), 1.0)
    assert "inscrito" in find(w.screen, "notice").text()
    # The bundle's coordinator is not an auxiliary who can capture; the coordinator menu has it.
    assert w.screen.findChild(QWidget, "aux_coord-01") is None
    find(w.screen, "aux_aux-0001")
    click(w, "coordinator")
    find(w.screen, "aux_coord-01")
    w.close_services()


def test_typed_code_enrolls_and_expired_or_used_codes_show_the_message(qtbot, fleet_env: Fleet,  # type: ignore[no-untyped-def]
                                                                      tmp_path: Path) -> None:
    w = first_run_window(qtbot, tmp_path / "a" / "device.toml")
    old = fleet_env.code(now_ms=int(time.time() * 1000) - 25 * 3600 * 1000)
    type_code(w, old.code, fleet_env.enroll_url)
    click(w, "enroll")
    notice = find(w.screen, "notice")
    qtbot.waitUntil(lambda: "venció" in notice.text(), timeout=30000)
    assert w.flow.step == Step.FIRST_RUN and find(w.screen, "enroll").isEnabled()
    assert not (tmp_path / "a" / "device.toml").exists()
    # A good code, typed: enrolled, lock screen.
    good = fleet_env.code()
    for _ in range(40):
        click(w, "kb_<")          # clear the server field, then the code
    click(w, "focus_code")
    for _ in range(30):
        click(w, "kb_<")
    type_code(w, good.code, fleet_env.enroll_url)
    click(w, "enroll")
    qtbot.waitUntil(lambda: w.flow.step == Step.LOCKED, timeout=60000)
    w.close_services()
    # The same code on another device: "ya se usó".
    w2 = first_run_window(qtbot, tmp_path / "b" / "device.toml")
    type_code(w2, good.code, fleet_env.enroll_url)
    click(w2, "enroll")
    qtbot.waitUntil(lambda: "ya se usó" in find(w2.screen, "notice").text(), timeout=30000)
    assert w2.flow.step == Step.FIRST_RUN
    w2.close_services()


def test_a_failure_shows_its_code_in_the_chosen_language_and_logs_the_detail(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path, caplog) -> None:
    """The server's or an exception's words go to the log, never to the screen."""
    from kiosk import i18n
    from sync.device.enroll import EnrollError

    errors = iter([EnrollError("refused", "internal: db locked"), RuntimeError("socket 7 reset")])

    def fail(*_a, **_k):  # type: ignore[no-untyped-def]
        raise next(errors)

    w = first_run_window(qtbot, tmp_path / "device.toml")
    w.sv.enroll = fail
    notice = find(w.screen, "notice")
    try:
        i18n.set_language("en")
        w.rebuild()
        notice = find(w.screen, "notice")
        click(w, "focus_code")
        type_text(w, "abcd")
        click(w, "enroll")
        qtbot.waitUntil(lambda: notice.text() == i18n.render(i18n.Msg("enroll.refused")), timeout=10000)
        click(w, "enroll")
        qtbot.waitUntil(lambda: notice.text() == i18n.render(i18n.Msg("enroll.failed")), timeout=10000)
        assert notice.text().startswith("Could not enroll")
        assert "db locked" not in notice.text() and "socket" not in notice.text()
        assert "db locked" in caplog.text and "socket 7 reset" in caplog.text
    finally:
        i18n.set_language("es")
        w.close_services()


def test_progress_and_the_device_line_are_in_the_chosen_language(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A step arrives as a code and the screen shows it in English; so does the line that says
    where the config is expected (a device that cannot enroll)."""
    w = first_run_window(qtbot, tmp_path / "device.toml")
    try:
        set_language("en")
        w.rebuild()
        w.enrollment.enrolling = True        # as while enroll() runs on the worker
        w.enrollment.progress.step.emit(Msg("enroll.step.connect"), 0.3)
        assert find(w.screen, "notice").text() == "Connecting to the server…"
        assert find(w.screen, "enroll_progress").value() == 30
        sv = services_for(None, None, "")      # no config path: nowhere to enroll
        assert sv.device_text == Msg("diag.config_expected", {"path": ""})
        sv = services_for(None, None, str(tmp_path / "device.toml"))
        assert render(sv.device_text) == f"Configuration expected at: {tmp_path / 'device.toml'}"  # type: ignore[arg-type]
    finally:
        w.enrollment.enrolling = False
        set_language("es")
        w.close_services()
