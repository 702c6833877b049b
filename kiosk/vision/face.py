"""Faces: the Haar detector shared by the card-photo crop and the selfie checks.

Pure functions on RGB numpy images. The detectors are OpenCV's Haar cascades
shipped in ``cv2.data.haarcascades`` (opencv-python-headless 4.x); nothing is
downloaded.

:func:`find_card_photo` locates the portrait printed on the front of the card
(straightened crop, ideally 1024 x 646) so the UI can show it beside the live
selfie: it finds the largest frontal face, then snaps a portrait rectangle
around it to the photo's printed edges.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache

import cv2
import cv2.data  # the Haar cascades; cv2 imports it too, named here so mypy sees it
import numpy as np

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
