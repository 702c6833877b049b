"""Project backs with their MRZ reprinted at another cap height, pitch and stroke weight.

The generator (kiosk.testdata.cards) prints the MRZ with Debian's OCR-B at one size, so its
cap height is always about one pitch (2.59 mm on 2.54 mm) at one weight. Real printers and
other renderings differ; the MRZ reader is tuned on these variants of the project's own
cards (never on bench/other_backs.py, which is kept for evaluation).

A variant repaints the generator's MRZ band and prints the same three lines cell by cell:
`cap` (cap height / pitch), `pitch_mm`, `weight` (strokes thickened, > 0, or thinned,
< 0, by that many card pixels, by dilation/erosion at 4x), an optional blur and a small
left/vertical offset.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from kiosk.testdata.assets import CARD_H, CARD_W, ocrb
from kiosk.testdata.cards import sample_card

PX_PER_MM = CARD_W / 85.60
_SS = 4                       # supersampling for the weight change


@dataclass(frozen=True)
class MrzStyle:
    cap: float = 1.02          # cap height / pitch (the generator's is 1.02)
    pitch_mm: float = 2.54
    weight: float = 0.0        # card px added to (or, < 0, taken from) each side of a stroke
    blur: float = 0.0          # Gaussian sigma, card px, on the band
    dx_mm: float = 0.0         # the block's offset from the generator's left margin
    line_gap: float = 0.089    # line pitch, fraction of the card height


def random_style(rng: random.Random) -> MrzStyle:
    return MrzStyle(cap=rng.uniform(0.82, 1.14), pitch_mm=rng.uniform(2.42, 2.62),
                    weight=rng.uniform(-1.0, 1.4), blur=rng.choice((0.0, 0.0, 0.7, 1.2)),
                    dx_mm=rng.uniform(-0.8, 0.8), line_gap=rng.uniform(0.082, 0.094))


def reprint_mrz(back: np.ndarray, lines: list[str], style: MrzStyle) -> np.ndarray:
    """`back` (a generator back, CARD_W x CARD_H RGB) with its MRZ band reprinted in `style`."""
    img = Image.fromarray(back)
    fx, fy = (lambda x: round(x * CARD_W)), (lambda y: round(y * CARD_H))
    y0, y1, x0, x1 = fy(0.66), fy(0.97), fx(0.025), fx(0.975)
    ImageDraw.Draw(img).rectangle((x0, y0, x1, y1), fill=(250, 250, 248))
    out = np.asarray(img).copy()
    bh, bw = (y1 - y0) * _SS, (x1 - x0) * _SS
    pitch = style.pitch_mm * PX_PER_MM * _SS
    probe = ocrb(200)
    top, bottom = probe.getbbox("H")[1], probe.getbbox("H")[3]
    cap_px = style.cap * pitch
    font = ocrb(max(8, round(200 * cap_px / (bottom - top))))
    f_top = font.getbbox("H")[1]
    ink = Image.new("L", (bw, bh), 0)
    d = ImageDraw.Draw(ink)
    # Centred where the generator centres its 30 cells, wherever the pitch puts the ends.
    left = (fx(0.055) + 15 * 2.54 * PX_PER_MM - x0 + style.dx_mm * PX_PER_MM) * _SS - 15 * pitch
    for i, line in enumerate(lines):
        # The generator's line tops, its cap centre a little below.
        yc = (fy(0.685 + style.line_gap * i) - y0) * _SS + (10 + 15.5) * _SS
        for k, ch in enumerate(line):
            cx = left + (k + 0.5) * pitch
            d.text((cx - font.getlength(ch) / 2, yc - cap_px / 2 - f_top), ch, font=font, fill=255)
    a = np.asarray(ink)
    r = round(abs(style.weight) * _SS)
    if r:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        a = cv2.dilate(a, k) if style.weight > 0 else cv2.erode(a, k)
    a = cv2.resize(a, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    if style.blur > 0:
        a = cv2.GaussianBlur(a, (0, 0), style.blur)
    band = out[y0:y1, x0:x1].astype(np.float32)
    ink_rgb = np.array([10, 10, 10], np.float32)
    out[y0:y1, x0:x1] = np.clip(band * (1 - a[..., None]) + ink_rgb * a[..., None], 0, 255).astype(np.uint8)
    return out


def variant_back(seed: int, style: MrzStyle, model: str = "G") -> tuple[np.ndarray, list[str]]:
    """A generator back (seed, model) with its MRZ in `style`, and the MRZ's three lines."""
    _, back, truth = sample_card(seed, model)
    return reprint_mrz(back, truth["mrz"], style), truth["mrz"]


def random_variant(seed: int) -> tuple[np.ndarray, list[str], MrzStyle]:
    rng = random.Random(f"mrzvariant:{seed}")
    style = random_style(rng)
    back, lines = variant_back(seed, style, "EFGH"[seed % 4])
    return back, lines, style


def photographed_variant(seed: int, kind: str) -> tuple[np.ndarray, list[str], MrzStyle]:
    """A random variant photographed with one of tests.helpers.vision's HARD difficulties."""
    from tests.helpers.vision import hard_back_frame

    back, lines, style = random_variant(seed)
    _, _, truth = sample_card(seed, "EFGH"[seed % 4])
    return hard_back_frame(back, truth, kind, seed).image, lines, style
