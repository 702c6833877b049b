"""Every screen renders inside 800x480 (nothing pushes the window larger); with
FIELDKIT_SCREENS_DIR set, the PNGs are written there (docs/screens/ in the repo).

Two kinds of shots: the window driven through a capture (NN_name.png), and the gallery: every
state of the registry in tests/helpers/screen_states.py at 800x480 and 1280x800
(gallery_<state>_<W>x<H>.png)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from hardware.camera import Camera
from hardware.camera.replay import ReplayBackend
from kiosk.capture.flow import Step
from tests.helpers.screen_states import STATES, host
from tests.helpers.ui import (
    click,
    find,
    make_window,
    offline_device,
    replay_folder,
    tablet_stroke,
    unlock,
    wave,
)


def _out(tmp_path: Path) -> Path:
    out = Path(os.environ.get("FIELDKIT_SCREENS_DIR") or tmp_path / "screens")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _save(pixmap, path: Path) -> None:  # type: ignore[no-untyped-def]
    """A 256-colour PNG: a third of the size of a full-colour one, still sharp for text (the
    gallery is ~100 pictures kept in docs/screens)."""
    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice

    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    pixmap.save(buf, "PNG")
    img = Image.open(io.BytesIO(bytes(buf.data()))).convert("RGB")
    img.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def _shooter(tmp_path: Path, size: tuple[int, int]):  # type: ignore[no-untyped-def]
    out = _out(tmp_path)
    suffix = "" if size == (800, 480) else f"_{size[0]}x{size[1]}"

    def shot(w, name: str) -> None:  # type: ignore[no-untyped-def]
        w.resize(*size)
        QApplication.processEvents()  # pending layout passes run first, as in the event loop
        img = w.grab()
        assert (img.width(), img.height()) == size, f"{name} does not fit {size}: {img.size()}"
        _save(img, out / f"{name}{suffix}.png")

    return shot


def test_every_screen_fits_800x480(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shot = _shooter(tmp_path, (800, 480))
    from tests.kiosk.test_ui_enroll import first_run_window, type_text

    first = first_run_window(qtbot, tmp_path / "new" / "device.toml")
    click(first, "focus_code")
    type_text(first, "7KQ2-M9XB-T4RP-3HDA")
    click(first, "focus_server")
    click(first, "kb_https")
    type_text(first, "apoyo.example.mx")
    shot(first, "01_first_run")
    click(first, "enroll")   # one character short: refused on the device, before any network
    qtbot.waitUntil(lambda: "no es válido" in find(first.screen, "notice").text(), timeout=10000)
    assert first.flow.step == Step.FIRST_RUN
    shot(first, "01_first_run_error")
    first.close_services()
    frames = tmp_path / "frames"
    replay_folder(frames)
    w = make_window(qtbot, offline_device(tmp_path / "dev"), Camera(ReplayBackend(frames, 15, (1280, 720))))
    w.home.status_data = {"pending": 3, "connection": "offline", "sent_today": 12, "battery": 64.0,
                          "last_success_age_s": 1260.0}
    shot(w, "02_lock")
    unlock(qtbot, w)
    w.home.refresh_status()
    qtbot.waitUntil(lambda: find(w.screen, "status_pending").text() != "", timeout=5000)
    # What home shows for an agent's local-channel answer (the real one: tests/kiosk/test_ui_flow.py).
    w.status_timer.stop()
    w.jobs.wait()
    QApplication.processEvents()   # the last local snapshot delivered before the agent's answer
    assert w.home.status_view is not None
    w.home.status_view.set_status_data({"pending": 3, "connection": "online", "transport": "mqtt",
                                        "sent_today": 12, "battery": 64.0, "last_success_age_s": 1260.0})
    shot(w, "03_home")
    click(w, "new_support")
    qtbot.waitUntil(lambda: getattr(getattr(w.screen, "preview", None), "_quad", None) is not None,
                    timeout=20000)
    shot(w, "04_front")
    qtbot.waitUntil(lambda: w.flow.step == Step.CARD_PHOTO, timeout=30000)   # model read: no chooser
    shot(w, "06_card_photo")
    w.flow.retake_front()
    w.flow.ask_model()   # the chooser, as when the layout does not tell the model
    qtbot.waitUntil(lambda: w.screen.objectName() != "busy" and hasattr(w.screen, "chosen"), timeout=30000)
    shot(w, "05_card_model")
    click(w, "model_G")
    assert w.flow.step == Step.CARD_PHOTO
    click(w, "same_person")

    def back_in_view() -> bool:   # the replay plays the back's scene: picture it on a back
        f = w.sv.camera.latest_frame(1.0)
        return f.index == w.capture.last_index and Path(f.meta["source"]).name.startswith("back_") \
            and w.screen.preview._quad is not None and "firme" in w.screen.guide.text()

    qtbot.waitUntil(back_in_view, timeout=20000)
    shot(w, "07_back")
    qtbot.waitUntil(lambda: w.flow.step == Step.SELFIE, timeout=40000)
    qtbot.waitUntil(lambda: w.screen.challenge.text() != "" and w.screen.preview.frames_shown > 0,
                    timeout=5000)
    shot(w, "08_selfie")
    # The replay's live face does what the challenge asks: liveness passes, the selfie takes itself.
    qtbot.waitUntil(lambda: w.flow.step == Step.SIGNATURE, timeout=30000)
    click(w, "signature_done")
    pad = find(w.screen, "signature_pad")
    shot(w, "09_signature_refused")
    tablet_stroke(pad, wave(pad.width(), pad.height()), pressure=0.7)
    shot(w, "10_signature")
    click(w, "signature_done")
    for ch in "ana.perez":
        click(w, f"kb_{ch}")
    click(w, "email_done")                          # no domain: refused, the error on screen
    assert w.flow.step == Step.EMAIL and find(w.screen, "notice").isVisible()
    shot(w, "11_email_invalid")
    click(w, "kb_@gmail.com")
    assert not find(w.screen, "notice").isVisible()  # corrected: the error does not linger
    shot(w, "11_email")
    click(w, "email_done")
    assert w.flow.step == Step.REVIEW
    save = find(w.screen, "save")
    assert not save.isEnabled()                     # no consent yet: "Guardar" says why
    shot(w, "12_review_consent_missing")
    find(w.screen, "consent_support").setChecked(True)
    find(w.screen, "consent_biometric").setChecked(True)
    assert save.isEnabled()                         # the replay's live face passed liveness
    shot(w, "12_review")
    click(w, "save")
    qtbot.waitUntil(lambda: w.flow.step == Step.FOLIO, timeout=20000)
    shot(w, "13_folio")
    click(w, "finish")
    click(w, "coordinator")
    shot(w, "14_coordinator_pin")
    click(w, "aux_coord-01")
    for d in "9999":
        click(w, f"key_{d}")
    click(w, "key_ok")
    qtbot.waitUntil(lambda: w.flow.step == Step.COORDINATOR, timeout=3000)
    click(w, "diag_storage")
    click(w, "diag_camera")
    qtbot.waitUntil(lambda: find(w.screen, "diagnostics").toPlainText().count("\n") >= 1, timeout=8000)
    shot(w, "15_coordinator")
    click(w, "leave")
    w.close_services()


def test_large_screen_1280x800(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shot = _shooter(tmp_path, (1280, 800))
    frames = tmp_path / "frames"
    replay_folder(frames, repeat=2)
    w = make_window(qtbot, offline_device(tmp_path / "dev"), Camera(ReplayBackend(frames, 15, (1280, 720))),
                    size=(1280, 800))
    shot(w, "02_lock")
    unlock(qtbot, w)
    shot(w, "03_home")
    click(w, "new_support")
    qtbot.waitUntil(lambda: getattr(getattr(w.screen, "preview", None), "_quad", None) is not None,
                    timeout=20000)
    shot(w, "04_front")
    w.close_services()


@pytest.mark.parametrize("size", [(800, 480), (1280, 800)], ids=["800x480", "1280x800"])
def test_gallery_of_every_state(qtbot, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """Pictures only: whether each state fits and its targets are big enough is asserted by
    tests/kiosk/test_touch_geometry.py (a state that does not fit is pictured as it grew)."""
    out = _out(tmp_path)
    for name, builder in STATES:
        win, _screen = host(builder, size)
        qtbot.addWidget(win)
        img = win.grab()
        assert not img.isNull()
        _save(img, out / f"gallery_{name}_{size[0]}x{size[1]}.png")
        win.close()
