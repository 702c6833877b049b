"""Is this frame good enough to capture? A verdict with reasons as codes.

`assess_frame` looks at one frame and the card found in it; `CaptureTracker`
follows consecutive frames and says when the card has been steady and good
long enough to capture on its own. No I/O, no clock: the caller passes frames
in order (and may pass timestamps, which are only compared).

The measures are taken on a small straightened copy of the card (384 x 242),
so they do not depend on how large the card appears:

    brightness   median luma of the card, 0..255
    blur         estimated blur, in frame pixels, along the worst of four directions:
                 the card's contrast over its steepest gradients (a step of contrast C
                 blurred by a Gaussian of sigma s has a peak slope of C / (s * sqrt(2 pi)));
                 measured on the frame itself (resampling would blur), in the card's middle
    glare        fraction of the card's pixels that are saturated in all channels
    width        card width / frame width
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from kiosk.vision.card import CardFind, find_card, straighten

# The reasons a frame gives, most important first in a verdict. Their texts live in the kiosk's
# catalogues as `quality.<reason>` (`quality.listo` for a good frame): vision hands up codes only.
REASONS = ("sin_credencial", "cortada", "lejos", "oscura", "reflejo", "movimiento", "borrosa")


@dataclass(frozen=True)
class Thresholds:
    min_width: float = 0.30          # card width / frame width
    max_blur: float = 1.3            # px (sharp synthetic photos: 0.8-1.05; blur that defeats QR: 1.5+)
    max_glare: float = 0.03
    min_brightness: float = 60.0
    max_motion: float = 0.012        # corner movement between frames / frame width
    steady_frames: int = 4           # consecutive good, still frames before auto-capture


@dataclass(frozen=True)
class Quality:
    ok: bool
    reasons: list[str]                       # of REASONS, most important first
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def codes(self) -> list[str]:
        """The reasons as the catalogues' message codes."""
        return [f"quality.{r}" for r in self.reasons]

    @property
    def code(self) -> str:
        """The message code the screen shows: the first reason's, or `quality.listo`."""
        return f"quality.{self.reasons[0]}" if self.reasons else "quality.listo"


_SMALL = (384, 242)


def _glare(inner: np.ndarray) -> float:
    """Saturated area that is not just printed white: blobs wider than a QR's quiet zone."""
    r, g, b = cv2.split(inner)
    sat = (cv2.min(cv2.min(r, g), b) >= 253).astype(np.uint8)
    if not cv2.countNonZero(sat):
        return 0.0
    k = max(3, inner.shape[1] // 40)
    blobs = cv2.morphologyEx(sat, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return float(np.count_nonzero(blobs)) / blobs.size


def _pct(a: np.ndarray, q: float) -> float:
    flat = a.reshape(-1)[::3]
    k = min(len(flat) - 1, int(len(flat) * q))
    return float(np.partition(flat, k)[k])


_MAX_BLUR_PX = 90_000       # the blur estimate looks at most this many pixels (the card's middle)


def blur_px(frame: np.ndarray, corners: np.ndarray) -> float:
    """Blur of the card in frame pixels (Gaussian sigma equivalent), worst direction."""
    h_f, w_f = frame.shape[:2]
    x0, y0 = np.maximum(corners.min(axis=0).astype(int), 0)
    x1, y1 = np.minimum(corners.max(axis=0).astype(int), [w_f, h_f])
    w, h = x1 - x0, y1 - y0
    if w < 20 or h < 20:
        return 0.0
    # The middle 60 % of the card's box, shrunk further (same centre) on a large card.
    cw, ch = w * 0.6, h * 0.6
    f = min(1.0, (_MAX_BLUR_PX / (cw * ch)) ** 0.5)
    cw, ch = int(cw * f), int(ch * f)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    roi = frame[cy - ch // 2:cy + ch // 2, cx - cw // 2:cx + cw // 2]
    g = roi if roi.ndim == 2 else cv2.cvtColor(roi, cv2.COLOR_RGB2GRAY)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    contrast = _pct(g, 0.98) - _pct(g, 0.02)
    if contrast < 8:
        return 0.0                      # nothing to measure (a blank or black card)
    worst = 0.0
    for c, s in ((1, 0), (0, 1), (0.7071, 0.7071), (0.7071, -0.7071)):
        # OpenCV takes a scalar for src2; its stubs want an array
        slope = _pct(cv2.absdiff(cv2.addWeighted(gx, c, gy, s, 0), 0), 0.995)  # type: ignore[call-overload]
        worst = max(worst, contrast / (2.5066 * max(slope, 1e-3)))
    return worst


def card_metrics(frame: np.ndarray, find: CardFind) -> dict[str, float]:
    small = straighten(frame, find.corners, _SMALL)
    if small.ndim == 2:
        small = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
    # A margin inside the card: the edge itself belongs to the background as much as the card.
    inner = small[6:-6, 6:-6]
    g = cv2.cvtColor(inner, cv2.COLOR_RGB2GRAY)
    return {"brightness": _pct(g, 0.5), "blur": blur_px(frame, find.corners), "glare": _glare(inner),
            "width": find.width_px / frame.shape[1], "area": find.area_fraction}


def assess_frame(frame: np.ndarray, find: CardFind | None, motion: float = 0.0,
                 th: Thresholds = Thresholds()) -> Quality:
    """The verdict for one frame. `motion` is the corners' movement since the last frame."""
    if find is None:
        return Quality(False, ["sin_credencial"], {})
    m = card_metrics(frame, find)
    m["motion"] = motion
    reasons = []
    if find.touches_border:
        reasons.append("cortada")
    if m["width"] < th.min_width:
        reasons.append("lejos")
    if m["brightness"] < th.min_brightness:
        reasons.append("oscura")
    if m["glare"] > th.max_glare:
        reasons.append("reflejo")
    if motion > th.max_motion:
        reasons.append("movimiento")
    if m["blur"] > th.max_blur:
        reasons.append("borrosa")
    return Quality(not reasons, reasons, m)


def corner_motion(a: CardFind | None, b: CardFind | None, frame_width: int) -> float:
    if a is None or b is None:
        return 0.0
    return float(np.abs(a.corners - b.corners).max()) / frame_width


@dataclass(frozen=True)
class FrameVerdict:
    find: CardFind | None
    quality: Quality
    steady: bool                  # good for `steady_frames` frames in a row: capture now
    good_streak: int


class CaptureTracker:
    """Feed frames in order; `steady` turns true once the card has been good and still."""

    def __init__(self, th: Thresholds = Thresholds()) -> None:
        self.th = th
        self._last: CardFind | None = None
        self._streak = self._frames = 0

    def reset(self) -> None:
        self._last, self._streak, self._frames = None, 0, 0

    def update(self, frame: np.ndarray, find: CardFind | None = None) -> FrameVerdict:
        """Analyse `frame` (finding the card unless `find` is given) and update the streak."""
        if find is None:
            # The slower detectors run on every third frame at most (the last outline, judged
            # again, keeps a card found between them): robustness may not cost the preview
            # its frame rate.
            self._frames += 1
            find = find_card(frame, hint=self._last, thorough=self._frames % 3 == 1, layout=False)
        motion = corner_motion(self._last, find, frame.shape[1])
        q = assess_frame(frame, find, motion, self.th)
        self._last = find
        self._streak = self._streak + 1 if q.ok else 0
        return FrameVerdict(find, q, self._streak >= self.th.steady_frames, self._streak)
