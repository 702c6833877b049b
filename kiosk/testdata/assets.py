"""Fonts, face photo and card backgrounds for the synthetic cards (cached)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import ImageFont

# ID-1 card (85.60 x 53.98 mm) at ~12 px/mm.
CARD_W = 1024
CARD_H = round(CARD_W * 53.98 / 85.60)  # 646
PX_PER_MM = CARD_W / 85.60

_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
)
_OCRB = (
    Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf"),
    Path("/usr/share/fonts/truetype/ocr-b/OCRB.ttf"),
)


class MissingAsset(RuntimeError):
    pass


@cache
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for d in _FONT_DIRS:
        if (d / name).exists():
            return ImageFont.truetype(str(d / name), size)
    raise MissingAsset(f"no se encontró la fuente {name} (paquete Debian fonts-dejavu-core)")


@cache
def ocrb(size: int) -> ImageFont.FreeTypeFont:
    for p in _OCRB:
        if p.exists():
            return ImageFont.truetype(str(p), size)
    raise MissingAsset("no se encontró la fuente OCR-B (paquete Debian fonts-ocr-b)")


@cache
def face_photo() -> np.ndarray:
    """A portrait crop (RGB, 3:4) of scikit-image's `astronaut` sample photo."""
    from skimage import data

    img = data.astronaut()
    # The face sits at about x 177-272, y 66-161 (OpenCV's frontal Haar cascade).
    return np.ascontiguousarray(img[0:280, 120:330])


@cache
def guilloche(w: int, h: int, tint: tuple[int, int, int], seed: int) -> np.ndarray:
    """A security-print style background: pale tint with fine interfering waves."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    acc = np.zeros((h, w), np.float32)
    for _ in range(5):
        fx, fy = rng.uniform(0.01, 0.05, 2)
        ph = rng.uniform(0, 6.28)
        amp = rng.uniform(8, 30)
        acc += np.sin(x * fx + np.sin(y * fy + ph) * amp * 0.1 + ph)
    lines = (np.abs(np.sin(acc * 2.2)) < 0.08).astype(np.float32)
    base = np.empty((h, w, 3), np.float32)
    # Vertical gradient from white to the model's tint.
    t = (y / h)[..., None] * 0.6 + 0.2
    base[:] = 255.0 * (1 - t) + np.array(tint, np.float32) * t
    base -= lines[..., None] * 40.0
    return np.clip(base, 0, 255).astype(np.uint8)
