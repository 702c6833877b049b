"""Helpers for the kiosk UI tests: an offline provisioned device, replay frame folders made
from the synthetic card generator, a window on a replay camera, and input events."""

from __future__ import annotations

import functools
import json
import os
import random
import shutil
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication, QWidget

from hardware.camera import Backoff, Camera, CameraBackend, CameraError, CameraInfo, open_camera
from hardware.camera.replay import ReplayBackend
from kiosk.app.window import KioskWindow, Services
from kiosk.capture.flow import Step
from kiosk.capture.save import SaveContext
from kiosk.testdata import variants as V
from kiosk.testdata.cards import sample_card
from kiosk.ui.theme import Scale, style_sheet
from server_stub.deploy import keys as server_keys
from sync.common.pin import hash_pin
from sync.device.config import load_config
from sync.outbox.keyfile import create_key_file
from sync.wire.command import Command, sign_command
from sync.wire.envelope_open import ServerPrivateKey

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "device.example.toml"
PIN = "123456"  # the example config's auxiliary PIN
COORD_PIN = "9999"
# 2027-01-20, noon in Mexico City (UTC-6, no DST since 2022): inside the example process's
# collection period, as the device clock in ms.
IN_PERIOD_MS = int(datetime(2027, 1, 20, 18, 0, tzinfo=UTC).timestamp() * 1000)


def _q(p: Path | str) -> str:
    return '"' + str(p).replace("\\", "\\\\").replace('"', '\\"') + '"'


def offline_device(root: Path) -> Path:
    """A provisioned device config (keys, outbox key) with no server: for saving offline."""
    kdir = root / "keys"
    kdir.mkdir(parents=True, exist_ok=True)
    sign = ed25519.Ed25519PrivateKey.generate()
    (kdir / "device-sign.key").write_bytes(
        sign.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (kdir / "device-sign.key").chmod(0o600)
    create_key_file(kdir / "outbox.key")
    server_keys.write_seal_keys(
        kdir / "server-seal.key", kdir / "server-seal.pub", ServerPrivateKey.generate()
    )
    server_keys.write_sign_keys(
        kdir / "server-sign.key", kdir / "server-sign.pub", ed25519.Ed25519PrivateKey.generate()
    )
    for name in ("ca.pem", "device.crt", "device.key"):
        (kdir / name).write_text("")
    text = EXAMPLE.read_text()
    # A coordinator, as the enrollment bundle carries one: an auxiliary with role "coordinador".
    coord_id, coord_name, coord_hash = coordinators()[0]
    text = text.replace("[[secciones]]", (
        f'[[auxiliaries]]\nid = "{coord_id}"\nname = "{coord_name}"\npin_hash = "{coord_hash}"\n'
        'processes = ["ci-2027-df-0901"]\nrole = "coordinador"\n\n[[secciones]]'), 1)
    cfg = root / "device.toml"
    cfg.write_text(text)
    load_config(cfg).device.data_dir.mkdir(exist_ok=True)
    return cfg


def signed_config(cfg_path: Path, seq: int, payload: dict[str, Any]) -> bytes:
    """A config command for the device at `cfg_path`, signed with its deployment's server key."""
    cfg = load_config(cfg_path)
    key = server_keys.load_sign_private(cfg.keys.server_sign_public.with_name("server-sign.key"))
    now = int(time.time() * 1000)
    return sign_command(Command(uuid.uuid4(), cfg.device.id, seq, now, now + 600_000, "config",
                                json.dumps(payload).encode()), key)


def coordinators() -> list[tuple[str, str, str]]:
    return [("coord-01", "COORDINACIÓN MUESTRA", hash_pin(COORD_PIN, n=2**10))]


def _write(folder: Path, name: str, rgb: np.ndarray, ext: str = "png") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / f"{name}.{ext}"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def card_frames(seed: int, model: str | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Clean camera frames (1280x720) of a generated card's front and back, and its truth."""
    front, back, truth = sample_card(seed, model)
    rng, nprng = random.Random(seed), np.random.default_rng(seed)
    vf = V.photograph(front, "front", "genuine", "front", rng, nprng, [])
    vb = V.photograph(back, "back", "genuine", "back", rng, nprng, [])
    return vf.image, vb.image, truth


def selfie_frame(size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """A still face (scikit-image's astronaut) centred on a plain background."""
    from skimage import data

    face = data.astronaut()[0:300, 90:370]  # head and shoulders
    w, h = size
    out = np.full((h, w, 3), 90, np.uint8)
    scale = h * 0.9 / face.shape[0]
    f = cv2.resize(face, (int(face.shape[1] * scale), int(face.shape[0] * scale)))
    y, x = (h - f.shape[0]) // 2, (w - f.shape[1]) // 2
    out[y : y + f.shape[0], x : x + f.shape[1]] = f
    return out


@functools.lru_cache(maxsize=1)
def _selfie_scenes() -> Path:
    """The shipped synthetic live sequences, one scene per liveness challenge (a textured 3-D
    head that turns or blinks), rendered once per test process."""
    from kiosk.testdata.selfies import CHALLENGES, make_sequence

    root = Path(tempfile.mkdtemp(prefix="fieldkit-selfie-scenes-"))
    for challenge in CHALLENGES:
        seq = make_sequence("live", challenge, 0, size=(1280, 720), fps=15, seconds=4)
        for i, (frame, _t) in enumerate(seq):
            _write(root / f"selfie-{challenge}", f"{i:04d}", frame, "jpg")
    return root


def replay_folder(folder: Path, seed: int = 3, repeat: int = 6, back: np.ndarray | None = None) -> dict:
    """Scenes for the replay camera, as the GUI demo writes them: the card's front and back
    (`repeat` frames each) and a live face per liveness challenge; the kiosk selects the scene
    of each step, so the face does what the challenge asks. Until a scene is selected all of
    them play in turn."""
    folder.mkdir(parents=True, exist_ok=True)
    f, b, truth = card_frames(seed)
    for i in range(repeat):
        _write(folder / "front", f"front_{i:02d}", f)
        _write(folder / "back", f"back_{i:02d}", b if back is None else back)
    for scene in _selfie_scenes().iterdir():
        shutil.copytree(scene, folder / scene.name, copy_function=os.link)
    return truth


def no_qr_back(seed: int = 11) -> np.ndarray:
    _front, back, _truth = sample_card(seed, "D")
    rng, nprng = random.Random(seed), np.random.default_rng(seed)
    return V.photograph(back, "back", "no_qr", "back", rng, nprng, []).image


def find(root: QWidget, name: str) -> Any:
    w = root.findChild(QWidget, name)
    assert w is not None, f"no widget named {name!r} on {type(root).__name__}"
    return w


def tablet_stroke(widget: QWidget, points: list[tuple[float, float]], pressure: float = 0.6) -> None:
    """A stylus stroke as QTabletEvents (press, moves, release) with pressure."""
    dev = QPointingDevice.primaryPointingDevice()
    for i, (x, y) in enumerate(points):
        kind = (
            QTabletEvent.Type.TabletPress
            if i == 0
            else QTabletEvent.Type.TabletRelease
            if i == len(points) - 1
            else QTabletEvent.Type.TabletMove
        )
        local = QPointF(x, y)
        ev = QTabletEvent(
            kind,
            dev,
            local,
            widget.mapToGlobal(local),
            pressure,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            Qt.KeyboardModifier.NoModifier,
            Qt.MouseButton.LeftButton,
            Qt.MouseButton.LeftButton if kind != QTabletEvent.Type.TabletRelease else Qt.MouseButton.NoButton,
        )
        QApplication.sendEvent(widget, ev)


def wave(w: int, h: int, n: int = 40, x0: float = 0.1, x1: float = 0.9) -> list[tuple[float, float]]:
    return [(w * (x0 + (x1 - x0) * i / (n - 1)), h * (0.5 + 0.25 * np.sin(i / 3))) for i in range(n)]


class LosableReplay(CameraBackend):
    """A real replay camera whose cable can be "pulled" (the camera hardware is absent here):
    while `lost` is set, opening and reading fail as an unplugged webcam does."""

    def __init__(self, folder: Path, fps: float = 15.0) -> None:
        self.inner = ReplayBackend(folder, fps=fps, preview_size=(1280, 720))
        self.pace_fps = self.inner.pace_fps
        self.lost = threading.Event()

    def _check(self) -> None:
        if self.lost.is_set():
            raise CameraError("disconnected", detail="test: cable pulled")

    def open(self) -> CameraInfo:
        self._check()
        return self.inner.open()

    def read(self, timeout: float) -> tuple[np.ndarray, dict[str, Any]]:
        self._check()
        return self.inner.read(timeout)

    def select_scene(self, name: str) -> bool:
        return self.inner.select_scene(name)

    def close(self) -> None:
        self.inner.close()


def replay_camera(folder: Path, fps: float = 15.0) -> Camera:
    return open_camera(f"replay:{folder}@{fps:g}", backoff=Backoff(0.1, 2.0, 0.3))


def make_window(qtbot: Any, cfg_path: Path | None, camera: Camera | None, *, status: Any = None,
                send_now: Any = None, size: tuple[int, int] = (800, 480)) -> KioskWindow:
    """The real window on a real config and camera, at a screen size, shown offscreen."""
    app = QApplication.instance()
    Scale.set_for(*size)
    app.setStyleSheet(style_sheet())  # type: ignore[union-attr]
    cfg = load_config(cfg_path) if cfg_path else None
    ctx = SaveContext.from_config(cfg) if cfg else None
    sv = Services(cfg, camera, ctx, status=status, send_now=send_now,
                  now_ms=lambda: IN_PERIOD_MS, device_text="Dispositivo fk-muestra-0001")
    w = KioskWindow(sv, "es")
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    return w


def click(w: KioskWindow, name: str) -> None:
    find(w.screen, name).click()


def unlock(qtbot: Any, w: KioskWindow, pin: str = PIN) -> None:
    for d in pin:
        click(w, f"key_{d}")
    click(w, "key_ok")
    qtbot.waitUntil(lambda: w.flow.step == Step.HOME, timeout=5000)


def through_front(qtbot: Any, w: KioskWindow) -> None:
    """From home: "Nuevo apoyo", the front auto-captured, its model read from the layout (the
    chooser skipped), photo confirmed."""
    steps: list[Step] = []
    w.flow.listeners.append(steps.append)
    click(w, "new_support")
    qtbot.waitUntil(lambda: w.flow.step == Step.CARD_PHOTO, timeout=30000)
    w.flow.listeners.remove(steps.append)
    assert Step.CARD_MODEL not in steps and w.flow.draft.model == "G/H"
    click(w, "same_person")
    assert w.flow.step == Step.BACK
