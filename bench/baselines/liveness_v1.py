# Frozen liveness checker and selfie verdict of 2026-12-06 (commit 7f330044), kept as a
# baseline for bench/bench_liveness_real.py and bench/bench_selfie_real.py. Verbatim copies
# of kiosk/vision/face.py, selfie_quality.py, liveness_measures.py and liveness.py as they
# were that day (the Haar-cascade checker), joined into one module that imports only
# numpy and cv2; do not edit it, so the benches keep comparing against the same reference.

from __future__ import annotations

import enum
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from functools import cache

import cv2
import cv2.data  # the Haar cascades
import numpy as np

# ---- kiosk/vision/face.py ----
# Faces: the Haar detector shared by the card-photo crop and the selfie checks.
#
# Pure functions on RGB numpy images. The detectors are OpenCV's Haar cascades
# shipped in ``cv2.data.haarcascades`` (opencv-python-headless 4.x); nothing is
# downloaded.
#
# :func:`find_card_photo` locates the portrait printed on the front of the card
# (straightened crop, ideally 1024 x 646) so the UI can show it beside the live
# selfie: it finds the largest frontal face, then snaps a portrait rectangle
# around it to the photo's printed edges.


Box = tuple[int, int, int, int]  # x, y, w, h in pixels

_local = threading.local()


@cache
def _cascade_path(name: str) -> str:
    return cv2.data.haarcascades + name


def cascade(name: str) -> cv2.CascadeClassifier:
    """A Haar cascade by file name, one instance per thread (they are not thread-safe)."""
    cache_ = getattr(_local, "cascades", None)
    if cache_ is None:
        cache_ = _local.cascades = {}
    c = cache_.get(name)
    if c is None:
        c = cv2.CascadeClassifier(_cascade_path(name))
        if c.empty():
            raise RuntimeError(f"no se pudo cargar el clasificador {name} de OpenCV")
        cache_[name] = c
    return c


FRONTAL = "haarcascade_frontalface_default.xml"
FRONTAL_ALT2 = "haarcascade_frontalface_alt2.xml"
EYE = "haarcascade_eye.xml"
EYE_GLASSES = "haarcascade_eye_tree_eyeglasses.xml"
PROFILE = "haarcascade_profileface.xml"


def to_gray(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return img if img.dtype == np.uint8 else np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError("se esperaba una imagen RGB o en escala de grises")
    return cv2.cvtColor(img if img.dtype == np.uint8 else np.clip(img, 0, 255).astype(np.uint8),
                        cv2.COLOR_RGB2GRAY)


def detect_faces_scored(img: np.ndarray, work_width: int = 480, min_frac: float = 0.08,
                        neighbors: int = 5) -> list[tuple[Box, float]]:
    """Frontal faces with the cascade's confidence (final-stage weight), largest first.

    The image is downscaled to ``work_width`` and contrast-equalised (CLAHE) for
    speed and for dim frames; faces narrower than ``min_frac`` of the width are
    ignored. Boxes are in the input image's pixels.
    """
    gray = to_gray(img)
    h, w = gray.shape
    s = min(1.0, work_width / w)
    small = cv2.resize(gray, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else gray
    small = cv2.createCLAHE(2.0, (8, 8)).apply(small)
    mn = max(24, int(small.shape[1] * min_frac))
    rects, _, weights = cascade(FRONTAL).detectMultiScale3(
        small, 1.1, neighbors, minSize=(mn, mn), outputRejectLevels=True)
    out = [(tuple(round(float(v) / s) for v in r), float(wt))
           for r, wt in zip(rects if len(rects) else [], weights if len(weights) else [], strict=True)]
    out.sort(key=lambda bw: -bw[0][2] * bw[0][3])
    return out


def detect_faces(img: np.ndarray, work_width: int = 480, min_frac: float = 0.08,
                 neighbors: int = 5) -> list[Box]:
    """Frontal faces in an RGB (or grey) image, largest first, in the image's pixels.

    Same preprocessing as :func:`detect_faces_scored`, without the confidences
    (several times faster: the cascade may reject early).
    """
    gray = to_gray(img)
    h, w = gray.shape
    s = min(1.0, work_width / w)
    small = cv2.resize(gray, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else gray
    small = cv2.createCLAHE(2.0, (8, 8)).apply(small)
    mn = max(24, int(small.shape[1] * min_frac))
    rects = cascade(FRONTAL).detectMultiScale(small, 1.1, neighbors, minSize=(mn, mn))
    out = [tuple(round(float(v) / s) for v in r) for r in (rects if len(rects) else [])]
    out.sort(key=lambda b: -b[2] * b[3])
    return out


@dataclass(frozen=True, slots=True)
class CardPhoto:
    box: Box               # the printed portrait on the card, card pixels
    face: Box              # the detected face inside it, card pixels
    crop: np.ndarray       # RGB copy of the portrait
    edges_found: int       # how many of the 4 photo edges were snapped to a printed edge (0..4)


# The portrait around a frontal face on ID photos: head and shoulders, about
# 2 face-widths wide and 2.6 tall, the face in the upper middle.
_PHOTO_LEFT, _PHOTO_TOP, _PHOTO_W, _PHOTO_H = 0.5, 0.6, 2.0, 2.65


def _snap(profile: np.ndarray, lo: int, hi: int, est: int) -> tuple[int, bool]:
    """Strongest edge in profile[lo:hi]; fall back to the estimate when nothing stands out."""
    lo, hi = max(lo, 0), min(hi, len(profile))
    if hi - lo < 3:
        return est, False
    seg = profile[lo:hi]
    i = int(np.argmax(seg))
    # An edge must stand well above the typical gradient in the window.
    if seg[i] < 2.0 * float(np.median(seg)) + 1e-3:
        return est, False
    return lo + i, True


def find_card_photo(front: np.ndarray) -> CardPhoto | None:
    """Locate the printed portrait on a straightened card front; None when no face is found."""
    if front.ndim != 3 or front.shape[2] != 3:
        raise ValueError("se esperaba la imagen RGB del frente de la credencial")
    scored = detect_faces_scored(front, work_width=512, min_frac=0.08, neighbors=4)
    if not scored:
        return None
    # False detections happen in guilloche, glare and the small grey "ghost" portrait:
    # keep the confident ones, and among them the largest.
    top = max(w for _, w in scored)
    faces = [b for b, w in scored if w >= top - 1.5]
    gray = cv2.GaussianBlur(to_gray(front).astype(np.float32), (0, 0), 1.0)
    gx = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3))
    gy = np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3))
    (x0, y0, bw, bh), edges, face = _photo_box(faces[0], gx, gy)
    crop = np.ascontiguousarray(front[y0:y0 + bh, x0:x0 + bw])
    return CardPhoto((x0, y0, bw, bh), face, crop, edges)


def _photo_box(face: Box, gx: np.ndarray, gy: np.ndarray) -> tuple[Box, int, Box]:
    H, W = gx.shape
    fx, fy, fw, fh = face
    ex0 = int(fx - _PHOTO_LEFT * fw)
    ey0 = int(fy - _PHOTO_TOP * fw)
    ex1 = int(ex0 + _PHOTO_W * fw)
    ey1 = int(ey0 + _PHOTO_H * fw)
    r = int(0.3 * fw)
    # Vertical edges: column profile over the rows the photo spans (and vice versa).
    ry0, ry1 = max(ey0 + r, 0), min(ey1 - r, H)
    rx0, rx1 = max(ex0 + r, 0), min(ex1 - r, W)
    col = gx[ry0:ry1].mean(axis=0) if ry1 > ry0 else np.zeros(W, np.float32)
    row = gy[:, rx0:rx1].mean(axis=1) if rx1 > rx0 else np.zeros(H, np.float32)
    x0, a = _snap(col, ex0 - r, min(ex0 + r, fx), ex0)
    x1, b = _snap(col, max(ex1 - r, fx + fw), ex1 + r, ex1)
    y0, c = _snap(row, ey0 - r, min(ey0 + r, fy), ey0)
    y1, d = _snap(row, max(ey1 - r, fy + fh), ey1 + r, ey1)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(max(x1, x0 + 1), W), min(max(y1, y0 + 1), H)
    return (x0, y0, x1 - x0, y1 - y0), int(a) + int(b) + int(c) + int(d), face


def iou(a: Box, b: Box) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


# ---- kiosk/vision/selfie_quality.py ----
# Single-frame selfie quality: one face, centred, large enough, sharp and well lit.
#
# Pure: an RGB numpy frame in, a :class:`SelfieQuality` with Spanish reasons out.


@dataclass(frozen=True, slots=True)
class SelfieQuality:
    ok: bool
    reasons: tuple[str, ...]          # Spanish, for the UI; empty when ok
    face: Box | None                  # the face, frame pixels
    n_faces: int
    scores: dict[str, float] = field(default_factory=dict)


# Thresholds for the selfie (fractions of the frame unless said otherwise).
MIN_FACE_FRAC = 0.14      # face width / frame width
MAX_CENTRE_OFFSET = 0.18  # face centre from frame centre, per axis, in frame widths/heights
MIN_SHARPNESS = 40.0      # variance of the Laplacian on the face at 128 px width
MIN_LUMA, MAX_LUMA = 60.0, 215.0
MAX_CLIPPED = 0.15        # fraction of face pixels at >= 250


def _face_patch(gray: np.ndarray, box: Box, width: int = 128) -> np.ndarray:
    x, y, w, h = box
    patch = gray[max(y, 0):y + h, max(x, 0):x + w]
    if patch.size == 0:
        return np.zeros((width, width), np.uint8)
    return cv2.resize(patch, (width, round(width * patch.shape[0] / max(patch.shape[1], 1))),
                      interpolation=cv2.INTER_AREA)


def assess_selfie(frame: np.ndarray, faces: list[Box] | None = None) -> SelfieQuality:
    """Is this frame a usable selfie? ``faces`` may be passed to reuse a detection."""
    gray = to_gray(frame)
    H, W = gray.shape
    if faces is None:
        faces = detect_faces(gray, work_width=320, min_frac=0.06)
    if not faces:
        return SelfieQuality(False, ("No se detecta un rostro: mire de frente a la cámara",), None, 0)
    reasons: list[str] = []
    if len(faces) > 1 and faces[1][2] > 0.5 * faces[0][2]:
        reasons.append("Hay más de un rostro: solo la persona que da su apoyo debe aparecer")
    box = faces[0]
    x, y, w, h = box
    cx, cy = (x + w / 2) / W - 0.5, (y + h / 2) / H - 0.5
    size = w / W
    patch = _face_patch(gray, box)
    sharp = float(cv2.Laplacian(patch, cv2.CV_64F).var())
    luma = float(patch.mean())
    clipped = float((patch >= 250).mean())
    if size < MIN_FACE_FRAC:
        reasons.append("Acérquese a la cámara: el rostro se ve muy pequeño")
    if abs(cx) > MAX_CENTRE_OFFSET or abs(cy) > MAX_CENTRE_OFFSET:
        reasons.append("Centre el rostro en el recuadro")
    if sharp < MIN_SHARPNESS:
        reasons.append("La imagen está borrosa: quédese quieto un momento")
    if luma < MIN_LUMA:
        reasons.append("Hay poca luz: busque un lugar más iluminado")
    elif luma > MAX_LUMA or clipped > MAX_CLIPPED:
        reasons.append("Hay demasiada luz o reflejo sobre el rostro")
    scores = {"face_frac": size, "offset_x": cx, "offset_y": cy, "sharpness": sharp,
              "luma": luma, "clipped": clipped}
    return SelfieQuality(not reasons, tuple(reasons), box, len(faces), scores)


# ---- kiosk/vision/liveness_measures.py ----
# Per-frame measurements the liveness challenge decides on.
#
# :func:`observe` finds the face (near the last frame's box when given) and
# measures it: :func:`yaw_index` (skin balance across the face box, for turns),
# :func:`eye_openness` (dark fraction of both eye regions, for blinks) and the
# lower face patch (for continuity while the detector misses, compared with
# :func:`ncc`). Pure: RGB numpy frames in, a :class:`FrameObs` out.


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


# ---- kiosk/vision/liveness.py ----
# The live selfie: quality verdict for one frame, and an active liveness challenge.
#
# Pure and camera-agnostic: RGB numpy frames in (any size; tuned at 1280 x 720),
# timestamps passed in by the caller (seconds, any monotonic origin), data out.
#
# * :func:`assess_selfie` — one frame: a single face, centred, large enough, sharp
#   and well lit; reasons in Spanish for the UI.
# * :func:`choose_challenge` — a random challenge per capture (``secrets``).
# * :class:`LivenessChecker` — frames in, verdict out. It first learns the
#   person's neutral pose for a few frames, then waits for the challenge:
#
#   - **turn left / right**: a real head is a 3-D object: when it turns, the
#     eyes, nose and mouth slide sideways *inside* the head's silhouette (parallax).
#     The Haar detector's box follows the features, so the skin visible on
#     either side of it becomes unbalanced. We measure that balance (the skin
#     centroid relative to the face box, in face widths). A photo moved, rotated,
#     scaled or tilted in front of the camera keeps features and silhouette
#     together, so the balance does not change.
#   - **blink**: the dark fraction of both eye regions (iris, pupil, lashes)
#     drops to well under its neutral level and comes back within a second. A
#     still photo never blinks; moving it does not change the ratio.
#
#   Sequences synthesised from a single still photo (tests, bench) exercise this
#   decision logic; they are not evidence of real-world liveness (see docs/liveness.md).
#
# This module holds the challenge and the stateful checker; the single-frame
# selfie verdict lives in :mod:`kiosk.vision.selfie_quality` and the per-frame
# measures in :mod:`kiosk.vision.liveness_measures`. Both are re-exported here.


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
