"""The live selfie: quality verdict for one frame, and an active liveness challenge.

Pure and camera-agnostic: RGB numpy frames in (any size; tuned at 1280 x 720),
timestamps passed in by the caller (seconds, any monotonic origin), data out.

* :func:`assess_selfie` — one frame: a single face, centred, large enough, sharp
  and well lit; reasons in Spanish for the UI.
* :func:`choose_challenge` — a random challenge per capture (``secrets``).
* :class:`LivenessChecker` — frames in, verdict out. It first learns the
  person's neutral pose for a few frames, then waits for the challenge:

  - **turn left / right**: a real head is a 3-D object: when it turns, the
    eyes, nose and mouth slide sideways *inside* the head's silhouette (parallax).
    The Haar detector's box follows the features, so the skin visible on
    either side of it becomes unbalanced. We measure that balance (the skin
    centroid relative to the face box, in face widths). A photo moved, rotated,
    scaled or tilted in front of the camera keeps features and silhouette
    together, so the balance does not change.
  - **blink**: the dark fraction of both eye regions (iris, pupil, lashes)
    drops to well under its neutral level and comes back within a second. A
    still photo never blinks; moving it does not change the ratio.

  Sequences synthesised from a single still photo (tests, bench) exercise this
  decision logic; they are not evidence of real-world liveness (see docs/liveness.md).

This module holds the challenge and the stateful checker; the single-frame
selfie verdict lives in :mod:`kiosk.vision.selfie_quality` and the per-frame
measures in :mod:`kiosk.vision.liveness_measures`. Both are re-exported here.
"""

from __future__ import annotations

import enum
import secrets
from collections import deque
from dataclasses import dataclass

import numpy as np

from kiosk.vision.face import Box
from kiosk.vision.liveness_measures import (
    FrameObs,
    eye_openness,
    ncc,
    observe,
    skin_mask,
    yaw_index,
)
from kiosk.vision.selfie_quality import (
    MAX_CENTRE_OFFSET,
    MAX_CLIPPED,
    MAX_LUMA,
    MIN_FACE_FRAC,
    MIN_LUMA,
    MIN_SHARPNESS,
    SelfieQuality,
    assess_selfie,
)

__all__ = [
    "MAX_CENTRE_OFFSET",
    "MAX_CLIPPED",
    "MAX_LUMA",
    "MIN_FACE_FRAC",
    "MIN_LUMA",
    "MIN_SHARPNESS",
    "PROMPTS",
    "Challenge",
    "FrameObs",
    "LivenessChecker",
    "LivenessConfig",
    "LivenessState",
    "SelfieQuality",
    "Verdict",
    "assess_selfie",
    "choose_challenge",
    "eye_openness",
    "observe",
    "run_challenge",
    "skin_mask",
    "yaw_index",
]


class Challenge(enum.StrEnum):
    TURN_LEFT = "turn_left"    # the person turns toward THEIR left
    TURN_RIGHT = "turn_right"  # the person turns toward THEIR right
    BLINK = "blink"


PROMPTS = {
    Challenge.TURN_LEFT: "Gire lentamente la cabeza hacia su izquierda",
    Challenge.TURN_RIGHT: "Gire lentamente la cabeza hacia su derecha",
    Challenge.BLINK: "Parpadee despacio",
}


def choose_challenge(choices: tuple[Challenge, ...] = tuple(Challenge)) -> Challenge:
    """A challenge picked with a CSPRNG, so an attacker cannot prepare for it."""
    return choices[secrets.randbelow(len(choices))]


# ---------------------------------------------------------------------------
# The stateful checker

class Verdict(enum.StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class LivenessState:
    verdict: Verdict
    message: str            # Spanish, for the UI (prompt, guidance or failure reason)
    progress: float         # 0..1, for a progress ring
    challenge: Challenge

    @property
    def done(self) -> bool:
        return self.verdict != Verdict.PENDING


@dataclass
class LivenessConfig:
    baseline_frames: int = 5        # neutral frames to learn the person's pose
    baseline_max_spread: float = 0.08  # neutral yaw must be steady (face widths)
    timeout_s: float = 8.0          # from the first frame
    turn_delta: float = 0.07        # change of yaw index for a turn (face widths)
    turn_frames: int = 3            # consecutive frames beyond it
    blink_closed: float = 0.45      # eyes' dark fraction below this x neutral: closed
    blink_open: float = 0.75        # back above this x neutral: open again
    blink_max_s: float = 1.0        # longest closed phase that counts as a blink
    min_neutral_eyes: float = 0.04  # neutral dark fraction needed to see a blink at all
    max_jump: float = 0.6           # face centre move between frames, face widths: a new face
    lost_s: float = 1.5             # face missing this long: start over
    mirrored: bool = False          # frames are mirror images (a selfie preview)


class LivenessChecker:
    """Frames in, verdict out, for one challenge.

    ``update(frame, t)`` with ``t`` in seconds (monotonic, from the caller);
    returns a :class:`LivenessState`. Once PASSED or FAILED the verdict stays.
    """

    def __init__(self, challenge: Challenge | None = None, config: LivenessConfig | None = None):
        self.challenge = challenge or choose_challenge()
        self.cfg = config or LivenessConfig()
        self._t0: float | None = None
        self._final: LivenessState | None = None
        self.frames = 0
        self.reset_tracking()

    def reset_tracking(self) -> None:
        self._base_yaw: deque[float] = deque(maxlen=self.cfg.baseline_frames)
        self._base_eyes: deque[float] = deque(maxlen=self.cfg.baseline_frames)
        self._neutral: tuple[float, float] | None = None
        self._streak = 0
        self._closed_at: float | None = None
        self._last_box: Box | None = None
        self._last_seen: float | None = None
        self._lower: np.ndarray | None = None
        self._best = 0.0

    # The yaw sign for a turn toward the person's left: in an unmirrored camera
    # frame their face moves toward the image's right, so the features slide right
    # of the silhouette and the skin balance moves left (negative).
    def _turn_sign(self) -> float:
        sign = -1.0 if self.challenge == Challenge.TURN_LEFT else 1.0
        return -sign if self.cfg.mirrored else sign

    def _state(self, verdict: Verdict, message: str, progress: float) -> LivenessState:
        st = LivenessState(verdict, message, float(min(max(progress, 0.0), 1.0)), self.challenge)
        if verdict != Verdict.PENDING:
            self._final = st
        return st

    def update(self, frame: np.ndarray, t: float) -> LivenessState:
        prior = self._last_box if self._last_seen is not None and t - self._last_seen <= 0.5 else None
        return self.update_obs(observe(frame, t, prior))

    def update_obs(self, o: FrameObs) -> LivenessState:
        """Same as :meth:`update` for an already measured frame (see :func:`observe`)."""
        if self._final is not None:
            return self._final
        self.frames += 1
        if self._t0 is None:
            self._t0 = o.t
        if o.t - self._t0 > self.cfg.timeout_s:
            return self._state(Verdict.FAILED, "No se completó la prueba de vida a tiempo", self._best)
        prompt = PROMPTS[self.challenge]
        if o.box is None:
            if self._last_seen is not None and o.t - self._last_seen > self.cfg.lost_s:
                self.reset_tracking()
            return self._state(Verdict.PENDING, "No se detecta un rostro: mire de frente a la cámara",
                               self._best)
        if o.n_faces > 1:
            self.reset_tracking()
            return self._state(Verdict.PENDING, "Solo una persona frente a la cámara", 0.0)
        if self._last_box is not None:
            lx, ly, lw, lh = self._last_box
            x, y, w, h = o.box
            jump = np.hypot(x + w / 2 - lx - lw / 2, y + h / 2 - ly - lh / 2) / max(lw, 1)
            if jump > self.cfg.max_jump or not 0.6 < w / max(lw, 1) < 1.6:
                self.reset_tracking()  # a different face, or a jump cut: learn again
        if not o.detected:
            # Only the eyes may change while the detector misses: the lower face must
            # still match the last detected frame (a hand over the face does not).
            if (self.challenge != Challenge.BLINK or self._neutral is None or o.lower is None
                    or self._lower is None or ncc(o.lower, self._lower) < 0.8):
                return self._state(Verdict.PENDING, "No se detecta un rostro: mire de frente a la cámara",
                                   self._best)
            return self._blink(o, self._neutral[1], PROMPTS[self.challenge])
        self._last_box, self._last_seen, self._lower = o.box, o.t, o.lower
        if self._neutral is None:
            if o.yaw is not None and o.eyes is not None:
                self._base_yaw.append(o.yaw)
                self._base_eyes.append(o.eyes)
            if len(self._base_yaw) == self.cfg.baseline_frames:
                spread = max(self._base_yaw) - min(self._base_yaw)
                if spread <= self.cfg.baseline_max_spread:
                    self._neutral = (float(np.median(self._base_yaw)), float(np.median(self._base_eyes)))
            return self._state(Verdict.PENDING, "Mire de frente a la cámara y no se mueva", 0.0)
        yaw0, eyes0 = self._neutral
        if self.challenge == Challenge.BLINK:
            return self._blink(o, eyes0, prompt)
        return self._turn(o, yaw0, prompt)

    def _turn(self, o: FrameObs, yaw0: float, prompt: str) -> LivenessState:
        if o.yaw is None:
            self._streak = 0
            return self._state(Verdict.PENDING, prompt, self._best)
        moved = (o.yaw - yaw0) * self._turn_sign()
        self._best = max(self._best, moved / self.cfg.turn_delta * 0.9)
        self._streak = self._streak + 1 if moved >= self.cfg.turn_delta else 0
        if self._streak >= self.cfg.turn_frames:
            return self._state(Verdict.PASSED, "Prueba de vida superada", 1.0)
        if -moved >= self.cfg.turn_delta:
            return self._state(Verdict.PENDING, prompt + " (hacia el otro lado)", self._best)
        return self._state(Verdict.PENDING, prompt, self._best)

    def _blink(self, o: FrameObs, eyes0: float, prompt: str) -> LivenessState:
        if eyes0 < self.cfg.min_neutral_eyes:
            return self._state(Verdict.PENDING, "No se distinguen los ojos: quítese los lentes oscuros "
                               "o busque mejor luz", 0.0)
        if o.eyes is None:
            return self._state(Verdict.PENDING, prompt, self._best)
        r = o.eyes / eyes0
        if self._closed_at is None:
            if r <= self.cfg.blink_closed:
                self._closed_at = o.t
                self._best = max(self._best, 0.5)
        elif r >= self.cfg.blink_open:
            if o.t - self._closed_at <= self.cfg.blink_max_s:
                return self._state(Verdict.PASSED, "Prueba de vida superada", 1.0)
            self._closed_at = None  # eyes shut too long (or covered): wait for a real blink
        return self._state(Verdict.PENDING, prompt, self._best)


def run_challenge(frames, challenge: Challenge, config: LivenessConfig | None = None) -> LivenessState:
    """Feed ``(frame, t)`` pairs to a new checker until it decides; the last state."""
    checker = LivenessChecker(challenge, config)
    st = None
    for frame, t in frames:
        st = checker.update(frame, t)
        if st.done:
            return st
    if st is None:
        return LivenessState(Verdict.FAILED, "No se recibieron cuadros de la cámara", 0.0, challenge)
    if st.verdict == Verdict.PENDING:
        return LivenessState(Verdict.FAILED, "No se completó la prueba de vida", st.progress, challenge)
    return st
