"""Capture screens: a card without QR is refused, cancel stores nothing, a lost camera shows its
error and recovers, the signature pad takes the mouse and refuses trivial strokes."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, Qt

from hardware.camera import Backoff, Camera
from hardware.camera.replay import ReplayBackend
from kiosk.capture.flow import Step
from kiosk.capture.signature import TOO_SHORT, signature_problem
from kiosk.ui.signature_pad import SignaturePad
from tests.helpers.ui import (
    LosableReplay,
    click,
    find,
    make_window,
    no_qr_back,
    offline_device,
    replay_folder,
    through_front,
    unlock,
    wave,
)


def test_card_without_qr_ends_with_ines_message(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frames = tmp_path / "frames"
    replay_folder(frames, back=no_qr_back())
    cam = Camera(ReplayBackend(frames, fps=15, preview_size=(1280, 720)))
    w = make_window(qtbot, offline_device(tmp_path / "dev"), cam)
    unlock(qtbot, w)
    through_front(qtbot, w)
    qtbot.waitUntil(lambda: w.flow.step == Step.REFUSED, timeout=40000)
    assert find(w.screen, "refusal").text() == (
        "Sólo será posible captar las credenciales que cuenten al reverso con código QR")
    assert w.flow.draft is None
    click(w, "finish")
    assert w.flow.step == Step.HOME
    assert w.sv.save_ctx.counts().put_total == 0
    w.close_services()


def test_cancel_mid_flow_leaves_nothing(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frames = tmp_path / "frames"
    replay_folder(frames)
    cam = Camera(ReplayBackend(frames, fps=15, preview_size=(1280, 720)))
    w = make_window(qtbot, offline_device(tmp_path / "dev"), cam)
    unlock(qtbot, w)
    through_front(qtbot, w)
    assert w.flow.draft is not None and w.flow.draft.front is not None
    click(w, "cancel")
    assert w.flow.step == Step.HOME and w.flow.draft is None
    assert "no se guardó nada" in find(w.screen, "notice").text()
    assert w.sv.save_ctx.counts().put_total == 0
    w.close_services()


def test_camera_lost_mid_capture_shows_error_and_recovers(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frames = tmp_path / "frames"
    replay_folder(frames)
    backend = LosableReplay(frames)
    cam = Camera(backend, backoff=Backoff(0.1, 2.0, 0.3))
    w = make_window(qtbot, offline_device(tmp_path / "dev"), cam)
    unlock(qtbot, w)
    click(w, "new_support")
    qtbot.waitUntil(lambda: w.flow.step == Step.FRONT, timeout=10000)  # after the device checks
    qtbot.waitUntil(lambda: w.screen.preview.frames_shown > 0, timeout=10000)
    backend.lost.set()
    notice = find(w.screen, "notice")
    qtbot.waitUntil(lambda: notice.isVisible() and "Se perdió la conexión con la cámara" in notice.text(),
                    timeout=10000)
    assert not find(w.screen, "shutter").isEnabled()
    assert w.flow.step == Step.FRONT                 # the capture waits; nothing is lost
    backend.lost.clear()
    qtbot.waitUntil(lambda: not notice.isVisible(), timeout=10000)
    assert find(w.screen, "shutter").isEnabled()
    qtbot.waitUntil(lambda: w.flow.step == Step.CARD_PHOTO, timeout=30000)   # and capture resumes
    w.close_services()


def test_signature_pad_mouse_and_trivial(qtbot) -> None:  # type: ignore[no-untyped-def]
    pad = SignaturePad()
    qtbot.addWidget(pad)
    pad.resize(600, 250)
    pad.show()
    assert pad.problem() is not None and pad.is_empty()
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(pad, QPoint(104, 102))
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(106, 103))
    assert pad.problem() == TOO_SHORT                # a dot is not a signature
    pad.clear()
    pts = wave(600, 250)
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(int(pts[0][0]), int(pts[0][1])))
    for x, y in pts[1:]:
        qtbot.mouseMove(pad, QPoint(int(x), int(y)))
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(int(pts[-1][0]), int(pts[-1][1])))
    assert pad.problem() is None
    sig = pad.signature()
    assert not sig.has_pressure and len(sig.strokes) == 1 and len(sig.strokes[0]) >= 20
    assert (sig.width, sig.height) == (600, 250)


def _drag(qtbot, pad: SignaturePad, pts: list[tuple[int, int]]) -> None:  # type: ignore[no-untyped-def]
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(*pts[0]))
    for p in pts[1:]:
        qtbot.mouseMove(pad, QPoint(*p))
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(*pts[-1]))


def test_the_pad_and_save_apply_one_signature_rule(qtbot) -> None:  # type: ignore[no-untyped-def]
    """The pad asks save's rule: what the pad lets through, save keeps, and the reverse. A short
    tick across a tenth of the pad (once refused by the pad alone) is a signature for both."""
    pad = SignaturePad()
    qtbot.addWidget(pad)
    pad.resize(600, 250)
    pad.show()
    strokes = {
        "dot": [(100, 100), (101, 100), (102, 101)],
        "tiny scribble": [(100 + i % 3, 100 + i % 2) for i in range(12)],
        "short tick": [(100 + 6 * i, 120 - 2 * i) for i in range(12)],
        "wave": [(int(x), int(y)) for x, y in wave(600, 250)],
    }
    verdicts = {}
    for name, pts in strokes.items():
        pad.clear()
        _drag(qtbot, pad, pts)
        assert pad.problem() == signature_problem(pad.signature()), name
        verdicts[name] = pad.problem() is None
    assert verdicts == {"dot": False, "tiny scribble": False, "short tick": True, "wave": True}
