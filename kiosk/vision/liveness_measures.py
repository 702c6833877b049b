"""Per-frame measurements the liveness challenge decides on.

:func:`observe` finds the face (near the last frame's box when given) and
measures it: :func:`yaw_index` (skin balance across the face box, for turns),
:func:`eye_openness` (dark fraction of both eye regions, for blinks) and the
lower face patch (for continuity while the detector misses, compared with
:func:`ncc`). Pure: RGB numpy frames in, a :class:`FrameObs` out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.vision.face import FRONTAL, Box, cascade, detect_faces, to_gray

# Eye regions in face-box fractions (centre x, centre y, half width, half height),
# from the frontal Haar detector's box on ID-style portraits.
_EYES = ((0.30, 0.40, 0.13, 0.085), (0.70, 0.40, 0.13, 0.085))


def skin_mask(rgb: np.ndarray) -> np.ndarray:
    """Skin-coloured pixels (classic YCrCb box: Cr 135-175, Cb 80-130), as bool."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    cr, cb = ycc[..., 1], ycc[..., 2]
    return (cr >= 135) & (cr <= 175) & (cb >= 80) & (cb <= 130)


def yaw_index(rgb: np.ndarray, box: Box) -> float | None:
    """Skin centroid minus face-box centre, in face widths (>0: more skin on the image's right).

    Measured on the cheek band (rows 35-80 % of the box), over the box widened by
    40 % on each side. A head turn slides the features (which the detector's box
    follows) inside the head, so the visible skin shifts to the other side of the
    box; a moved or tilted photo moves both together. None when too little skin
    is visible.
    """
    H, W = rgb.shape[:2]
    x, y, w, h = box
    x0, x1 = max(int(x - 0.4 * w), 0), min(int(x + 1.4 * w), W)
    y0, y1 = max(int(y + 0.35 * h), 0), min(int(y + 0.8 * h), H)
    if x1 - x0 < 8 or y1 - y0 < 4:
        return None
    m = skin_mask(rgb[y0:y1, x0:x1])
    cols = m.sum(axis=0).astype(np.float64)
    if cols.sum() < 0.1 * m.size:
        return None
    xs = np.arange(x0, x1, dtype=np.float64)
    cx = float((cols * xs).sum() / cols.sum())
    return (cx - (x + w / 2)) / w


def eye_openness(gray: np.ndarray, box: Box) -> float | None:
    """Mean over both eyes of the fraction of dark pixels (iris, pupil, lashes).

    "Dark" is relative to the face's own skin level (median of the cheek band),
    so it does not depend on exposure.
    """
    x, y, w, h = box
    H, W = gray.shape
    cheek = gray[max(int(y + 0.55 * h), 0):min(int(y + 0.75 * h), H), max(int(x + 0.2 * w), 0):
                 min(int(x + 0.8 * w), W)]
    if cheek.size < 16:
        return None
    skin = float(np.median(cheek))
    vals = []
    for ex, ey, hw, hh in _EYES:
        cx, cy = x + ex * w, y + ey * h
        roi = gray[max(int(cy - hh * h), 0):min(int(cy + hh * h), H),
                   max(int(cx - hw * w), 0):min(int(cx + hw * w), W)]
        if roi.size < 16:
            return None
        vals.append(float((roi < 0.6 * skin).mean()))
    return float(np.mean(vals))


@dataclass(frozen=True, slots=True)
class FrameObs:
    t: float
    box: Box | None
    n_faces: int
    yaw: float | None
    eyes: float | None
    lower: np.ndarray | None = None   # the lower face (nose, mouth), 32x16 grey, for continuity
    detected: bool = True             # False: box carried over from the previous frame


def _detect_near(small: np.ndarray, prior: Box | None, s: float) -> list[Box]:
    """Faces near the previous one (a window 2.4x its size, similar scale); whole frame otherwise."""
    if prior is not None:
        px, py, pw, ph = (v * s for v in prior)
        H, W = small.shape[:2]
        x0, y0 = max(int(px - 0.7 * pw), 0), max(int(py - 0.7 * ph), 0)
        x1, y1 = min(int(px + 1.7 * pw), W), min(int(py + 1.7 * ph), H)
        if x1 - x0 > 24 and y1 - y0 > 24:
            roi = cv2.createCLAHE(2.0, (8, 8)).apply(to_gray(small[y0:y1, x0:x1]))
            mn, mx = int(pw * 0.7), int(pw * 1.45)
            rects = cascade(FRONTAL).detectMultiScale(roi, 1.1, 4, minSize=(mn, mn), maxSize=(mx, mx))
            if len(rects):
                boxes = [(int(r[0] + x0), int(r[1] + y0), int(r[2]), int(r[3])) for r in rects]
                return sorted(boxes, key=lambda b: -b[2] * b[3])
    return detect_faces(small, work_width=small.shape[1], min_frac=0.08, neighbors=4)


def _lower_face(gray: np.ndarray, box: Box) -> np.ndarray | None:
    x, y, w, h = box
    H, W = gray.shape
    p = gray[max(int(y + 0.6 * h), 0):min(int(y + 0.95 * h), H), max(int(x + 0.2 * w), 0):
             min(int(x + 0.8 * w), W)]
    if p.size < 16:
        return None
    return cv2.resize(p, (32, 16), interpolation=cv2.INTER_AREA).astype(np.float32)


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two same-shaped patches (0.0 when either is flat)."""
    a = a - a.mean()
    b = b - b.mean()
    d = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / d) if d > 1e-6 else 0.0


def observe(frame: np.ndarray, t: float, prior: Box | None = None, work_width: int = 320) -> FrameObs:
    """Detect the face (near ``prior``, the last frame's box, when given) and measure it.

    When the detector misses but ``prior`` is given, the prior box is measured
    instead (``detected=False``): closed eyes often defeat the frontal cascade.
    """
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError("se esperaba un cuadro RGB")
    H, W = frame.shape[:2]
    s = min(1.0, work_width / W)
    small = cv2.resize(frame, (round(W * s), round(H * s)), interpolation=cv2.INTER_AREA) if s < 1 else frame
    faces = _detect_near(small, prior, s)
    detected = bool(faces)
    if faces:
        x, y, w, h = faces[0]
        full_box = (round(x / s), round(y / s), round(w / s), round(h / s))
    elif prior is not None:
        full_box = prior
    else:
        return FrameObs(t, None, 0, None, None, None, False)
    # Measure on a face crop at <= 320 px wide (eyes need more pixels than the detector).
    x, y, w, h = full_box
    fx0, fy0 = max(int(x - 0.7 * w), 0), max(int(y - 0.2 * h), 0)
    fx1, fy1 = min(int(x + 1.7 * w), W), min(int(y + 1.1 * h), H)
    crop = frame[fy0:fy1, fx0:fx1]
    k = min(1.0, 320 / max(crop.shape[1], 1))
    crop = cv2.resize(crop, (round(crop.shape[1] * k), round(crop.shape[0] * k)),
                      interpolation=cv2.INTER_AREA) if k < 1 else crop
    cbox = (round((x - fx0) * k), round((y - fy0) * k), round(w * k), round(h * k))
    gray = to_gray(crop)
    yaw = yaw_index(crop, cbox) if detected else None
    eyes = eye_openness(gray, cbox)
    return FrameObs(t, full_box, len(faces), yaw, eyes, _lower_face(gray, cbox), detected)
