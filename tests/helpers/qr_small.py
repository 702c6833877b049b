"""Small QR codes photographed: tuning and test material for kiosk.vision.qr.

A card-like back (a tint with a faint hatching, INE's QR places and sizes: E/F one public URL code,
G/H two dense binary codes and a small public one) drawn with segno at a random error level,
mask and quiet zone, then photographed small: 4.5-8 px per mm of card (about 1.5-3 px per
module), any rotation, mild perspective, and one of: nothing, defocus, motion blur, JPEG, low
contrast with noise. Each scene knows the card's corners in the frame, so the straightened crop
(kiosk.vision.card.straighten, with a little outline error) and the frame-to-card homography are
those a good outline gives.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import cv2
import numpy as np
import segno

from kiosk.vision.card import CARD_H, CARD_W, straighten

FRAME_W, FRAME_H = 1280, 720
CARD_MM = 85.6
EFFECTS = ("none", "defocus", "motion", "jpeg", "low_contrast")
# (x, y, size) as fractions of the card's width/height/width: docs/credential.md section 10
PLACES_EF = [(0.04, 0.06, 0.158)]
PLACES_GH = [(0.04, 0.06, 0.252), (0.31, 0.06, 0.252), (0.82, 0.40, 0.139)]


@dataclass
class QrScene:
    frame: np.ndarray                  # RGB FRAME_H x FRAME_W
    corners: np.ndarray                # the card's corners in the frame, TL TR BR BL
    crop: np.ndarray                   # straightened CARD_W x CARD_H RGB (outline off by ~1 px)
    homography: np.ndarray             # frame px -> crop px, the one `crop` was made with
    payloads: list[bytes]
    px_per_mm: float
    effect: str
    tags: dict[str, object] = field(default_factory=dict)


def _url(rng: random.Random) -> str:
    return (f"http://qr.ine.mx/{rng.randint(0, 10**24 - 1):024d}/20{rng.randint(15, 25)}"
            f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}/P/{rng.randint(0, 999999):06d}")


def _code(payload: str | bytes, size: int, rng: random.Random) -> np.ndarray:
    qr = segno.make_qr(payload, error=rng.choice("lmq"), mask=rng.randint(0, 7), boost_error=False)
    m = np.array(list(qr.matrix_iter(scale=1, border=rng.randint(2, 4))), np.uint8)
    return cv2.resize(m * 255, (size, size), interpolation=cv2.INTER_NEAREST)


def _card(rng: random.Random, model: str) -> tuple[np.ndarray, list[bytes]]:
    """The back at 3x the crop's size (36 px per mm), so the camera's reduction smooths it."""
    s = 3
    w, h = CARD_W * s, CARD_H * s
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    tint = np.array([rng.randint(215, 250) for _ in range(3)], np.float32)
    hatch = (np.sin((x + y * rng.uniform(0.2, 1.5)) * rng.uniform(0.05, 0.12)) > 0.8).astype(np.float32)
    card = tint - hatch[..., None] * rng.uniform(10, 35)
    ink = np.array([rng.randint(10, 45), rng.randint(10, 45), rng.randint(30, 80)], np.float32)
    payloads: list[bytes] = []
    for fx, fy, fs in PLACES_EF if model in "EF" else PLACES_GH:
        data: str | bytes = _url(rng) if fs < 0.2 else rng.randbytes(rng.randint(140, 165))
        size = round(fs * w)
        code = _code(data, size, rng)
        x0, y0 = round(fx * w), round(fy * h)
        reg = card[y0:y0 + size, x0:x0 + size]
        reg[:] = np.where(code[..., None] > 0, ink, np.float32(250))
        payloads.append(data.encode() if isinstance(data, str) else data)
    return np.clip(card, 0, 255).astype(np.uint8), payloads


def _pose(rng: random.Random, ppmm: float) -> np.ndarray:
    cw = CARD_MM * ppmm
    ch = cw * CARD_H / CARD_W
    a = math.radians(rng.uniform(-40, 40) + (180 if rng.random() < 0.2 else 0))
    half = np.array([[-cw, -ch], [cw, -ch], [cw, ch], [-cw, ch]], np.float64) / 2
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    pts = half @ rot.T
    k = rng.uniform(-0.08, 0.08)                      # one side nearer: mild perspective
    pts[:, 1] *= np.array([1 - k, 1 + k, 1 + k, 1 - k])
    ext = pts.max(0) - pts.min(0)
    room = np.array([FRAME_W, FRAME_H]) - ext - 20
    shift = (np.array([rng.random(), rng.random()]) - 0.5) * np.maximum(room, 0)
    centre = np.array([FRAME_W, FRAME_H]) / 2 + shift
    return (pts + centre).astype(np.float32)


def _motion_kernel(length: float, angle: float) -> np.ndarray:
    n = math.ceil(length) * 2 + 1
    k = np.zeros((n, n), np.float32)
    c, d = n // 2, np.array([math.cos(angle), math.sin(angle)]) * length / 2
    cv2.line(k, (round((c - d[0]) * 16), round((c - d[1]) * 16)),
             (round((c + d[0]) * 16), round((c + d[1]) * 16)), 1.0, 1, cv2.LINE_AA, 4)
    return k / k.sum()


def qr_scene(seed: int, effect: str | None = None, ppmm: float | None = None,
             model: str | None = None) -> QrScene:
    """One photographed back with small QR codes; effect/ppmm/model random unless given."""
    rng = random.Random(f"qr_small:{seed}")
    nprng = np.random.default_rng(seed)
    model = model or rng.choice("EFGH")
    effect = effect or rng.choice(EFFECTS)
    ppmm = ppmm or rng.uniform(4.5, 8.0)
    card, payloads = _card(rng, model)
    pts = _pose(rng, ppmm)
    h, w = card.shape[:2]
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), pts)
    bg = np.full((FRAME_H, FRAME_W, 3), [rng.randint(40, 200) for _ in range(3)], np.float32)
    bg += nprng.normal(0, 6, (FRAME_H, FRAME_W, 1)).astype(np.float32)
    warped = cv2.warpPerspective(card, m, (FRAME_W, FRAME_H), flags=cv2.INTER_AREA).astype(np.float32)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (FRAME_W, FRAME_H))
    a = (mask.astype(np.float32) / 255)[..., None]
    img = bg * (1 - a) + warped * a
    tags: dict[str, object] = {"model": model, "px_per_mm": round(ppmm, 2), "effect": effect}
    img = cv2.GaussianBlur(img, (0, 0), 0.5)           # the lens is never perfect
    if effect == "defocus":
        sigma = rng.uniform(0.6, 1.3)
        img = cv2.GaussianBlur(img, (0, 0), sigma)
        tags["sigma"] = round(sigma, 2)
    elif effect == "motion":
        length = rng.uniform(2.0, 5.0)
        img = cv2.filter2D(img, -1, _motion_kernel(length, rng.uniform(0, math.pi)))
        tags["length"] = round(length, 2)
    elif effect == "low_contrast":
        lo, gain = rng.uniform(40, 90), rng.uniform(0.3, 0.55)
        img = lo + img * gain
    img = img + nprng.normal(0, 2.5 if effect != "low_contrast" else 4.0, img.shape).astype(np.float32)
    frame = np.clip(img, 0, 255).astype(np.uint8)
    if effect == "jpeg":
        q = rng.randint(40, 80)
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, q])
        assert ok
        frame = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        tags["quality"] = q
    found = pts + np.array([[rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5)] for _ in range(4)], np.float32)
    crop = straighten(frame, found)
    hom = cv2.getPerspectiveTransform(found, np.float32([[0, 0], [CARD_W, 0], [CARD_W, CARD_H], [0, CARD_H]]))
    return QrScene(frame, pts, crop, hom, payloads, ppmm, effect, tags)
