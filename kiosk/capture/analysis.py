"""What the kiosk's capture screens ask of vision, with no Qt: the front/back card analyser,
the selfie analyser, and the model chooser's pictures. Called on worker threads only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kiosk.capture.save import read_front
from kiosk.vision.card import straighten
from kiosk.vision.credential import read_back
from kiosk.vision.face import find_card_photo
from kiosk.vision.integrity import check_integrity
from kiosk.vision.liveness import PROMPTS, LivenessChecker, LivenessState, SelfieQuality, assess_selfie
from kiosk.vision.quality import CaptureTracker
from sync.device.config import DeviceConfig

SHOW_FRONT = "Muestre el FRENTE de la credencial (el lado con la fotografía)"
SHOW_BACK = "Voltee la credencial: muestre el REVERSO (el lado con el código QR)"


# -- what the analysers answer ----------------------------------------------------------------
@dataclass
class Guidance:
    text: str
    quad: np.ndarray | None = None
    good: bool = False
    challenge: str = ""


@dataclass
class Captured:
    image: np.ndarray
    reading: Any = None
    # Checks of `image` the save would otherwise recompute on the UI's save path: the back's
    # IntegrityResult, the selfie's SelfieQuality.
    measured: Any = None


@dataclass
class Refused:
    reason: str


class CardAnalyser:
    """Front or back: steady-and-good tracking, then the side's reading. Worker thread only."""

    def __init__(self, side: str, now_year: int, cfg: DeviceConfig | None, process_id: str) -> None:
        self.side, self.now_year, self.cfg, self.process_id = side, now_year, cfg, process_id
        self.tracker = CaptureTracker()
        self.no_qr = 0

    def __call__(self, image: np.ndarray, _t: float, force: bool = False) -> Guidance | Captured | Refused:
        v = self.tracker.update(image)
        if v.find is None or not (v.steady or (force and not v.find.touches_border)):
            text = "Mantenga firme la credencial…" if v.quality.ok else v.quality.message
            return Guidance(text, None if v.find is None else v.find.corners, v.quality.ok)
        crop = straighten(image, v.find.corners)
        photo = find_card_photo(crop)
        if self.side == "front":
            if photo is None:
                self.tracker.reset()
                return Guidance(SHOW_FRONT, v.find.corners)
            return Captured(crop, read_front(crop))
        if photo is not None:
            self.tracker.reset()
            return Guidance(SHOW_BACK, v.find.corners)
        scope = secciones = None
        if self.cfg is not None:
            scope, secciones = self.cfg.process(self.process_id).scope, self.cfg.seccion_table()
        r = read_back(image, now_year=self.now_year, secciones=secciones, scope=scope, find=v.find)
        if r.refusal is not None and r.refusal.code == "sin_qr":
            self.no_qr += 1  # INE's refusal only on a second steady look, never on one frame
            if self.no_qr >= 2:
                return Refused(r.refusal.message)
            self.tracker.reset()
            return Guidance("Revisando el reverso…", v.find.corners)
        self.no_qr = 0
        if r.refusal is not None:
            self.tracker.reset()
            return Guidance(r.refusal.message, v.find.corners)
        if any(f.code == "vencida" for f in r.flags):
            return Refused("La credencial ya no está vigente; no se puede captar el apoyo.")
        card = r.card if r.card is not None else crop
        return Captured(card, r, check_integrity(card))


class SelfieAnalyser:
    """Selfie quality plus the random liveness challenge; captures itself once both pass."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.checker = LivenessChecker()
        self.state: LivenessState | None = None
        self.last_good: tuple[np.ndarray, SelfieQuality] | None = None

    def __call__(self, image: np.ndarray, t: float, force: bool = False) -> Guidance | Captured:
        q = assess_selfie(image)
        self.state = self.checker.update(image, t)
        prompt = self.state.message
        if q.ok:
            self.last_good = image, q
            if self.state.verdict == "passed" or force:
                return Captured(np.array(image), self.state, q)
        elif force and self.last_good is not None:
            return Captured(np.array(self.last_good[0]), self.state, self.last_good[1])
        if self.state.verdict == "failed":
            text = self.state.message + ". " + "Toque «Otra prueba» o «Tomar foto»."
        else:
            text = q.reasons[0] if q.reasons else prompt
        return Guidance(text, None, q.ok, challenge=PROMPTS[self.checker.challenge])
