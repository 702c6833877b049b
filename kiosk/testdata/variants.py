"""Render a flat card as a camera would see it, plus negative samples.

Each variant is a 1280x720 RGB frame with a label the tests and the integrity
checks can rely on:

    genuine     the real card photographed: background texture, perspective,
                rotation, and at most a few of blur / noise / glare / low light
    photocopy   a grey, toner-speckled copy on paper, photographed
    screen      the card shown on a phone screen (pixel grid, colour cast,
                bezel, screen glare), photographed
    print       a halftone print of the card on paper, photographed
    no_qr       the back of an IFE-era card (no QR code, no MRZ)
    old_model   front or back of an older IFE model C or D card

`corners` are the card's four corners in the frame (TL, TR, BR, BL), where
the card face itself lies (for photocopy/print/screen: the pictured card).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache

import cv2
import numpy as np

FRAME_W, FRAME_H = 1280, 720

LABELS = ("genuine", "photocopy", "screen", "print", "no_qr", "old_model")
NEGATIVE_LABELS = ("photocopy", "screen", "print")
EFFECTS = ("blur", "motion_blur", "noise", "glare", "low_light")


@dataclass
class Variant:
    name: str
    side: str                        # "front" or "back"
    label: str                       # one of LABELS
    image: np.ndarray                # RGB, FRAME_H x FRAME_W
    corners: list[list[float]]       # card corners in the frame
    effects: list[str] = field(default_factory=list)
    background: str = ""

    def truth(self, file: str) -> dict:
        return {"file": file, "side": self.side, "label": self.label, "effects": self.effects,
                "background": self.background, "corners": self.corners}


@cache
def _checker(period: int) -> np.ndarray:
    y, x = np.indices((FRAME_H, FRAME_W))
    return (((x // period + y // period) % 2) * 20).astype(np.int16)


@cache
def _noise_field() -> np.ndarray:
    return np.random.default_rng(0).normal(0, 4, (FRAME_H, FRAME_W)).astype(np.int16)


def background(rng: random.Random, nprng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A table-top texture: wood, fabric, speckled stone or a plain gradient.

    Smooth textures are computed at a quarter of the size and scaled up; the
    fine grain comes from a cached noise field shifted at random (speed).
    """
    kind = rng.choice(("wood", "fabric", "stone", "plain"))
    h, w = FRAME_H // 4, FRAME_W // 4
    y, x = np.mgrid[0:h, 0:w].astype(np.float32) * 4
    base = np.array([rng.randint(60, 200) for _ in range(3)], np.float32)
    if kind == "wood":
        t = np.sin((x * 0.02 + np.sin(y * 0.01) * 3) * rng.uniform(0.5, 2)) * 25
        img = base + t[..., None] * np.array([1.0, 0.7, 0.4], np.float32)
    elif kind == "stone":
        n = cv2.GaussianBlur(nprng.normal(0, 30, (h, w)).astype(np.float32), (0, 0), 0.7)
        img = base + n[..., None]
    else:
        img = base + ((x / FRAME_W) * 40 - 20)[..., None]
    full = cv2.resize(img, (FRAME_W, FRAME_H), interpolation=cv2.INTER_LINEAR).astype(np.int16)
    grain = np.roll(_noise_field(), (rng.randint(0, FRAME_H), rng.randint(0, FRAME_W)), axis=(0, 1))
    full += grain[..., None]
    if kind == "fabric":
        full += _checker(rng.randint(3, 7))[..., None]
    return np.clip(full, 0, 255).astype(np.uint8), kind


def place(card: np.ndarray, bg: np.ndarray, rng: random.Random,
          scale: tuple[float, float] = (0.45, 0.75)) -> tuple[np.ndarray, np.ndarray]:
    """Warp `card` into `bg` with rotation and perspective; return frame and corners."""
    h, w = card.shape[:2]
    cw = FRAME_W * rng.uniform(*scale)
    ch = cw * h / w
    if ch > FRAME_H * 0.9:
        ch = FRAME_H * 0.9
        cw = ch * w / h
    ang = np.deg2rad(rng.uniform(-14, 14))
    cx = FRAME_W / 2 + rng.uniform(-0.12, 0.12) * FRAME_W
    cy = FRAME_H / 2 + rng.uniform(-0.08, 0.08) * FRAME_H
    rect = np.array([[-cw / 2, -ch / 2], [cw / 2, -ch / 2], [cw / 2, ch / 2], [-cw / 2, ch / 2]])
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    pts = rect @ rot.T + [cx, cy]
    pts += np.array([[rng.uniform(-0.05, 0.05) * cw, rng.uniform(-0.05, 0.05) * ch] for _ in range(4)])
    # Keep the whole card in the frame: shrink if it does not fit, then shift.
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    fit = min(1.0, (FRAME_W - 16) / (hi[0] - lo[0]), (FRAME_H - 16) / (hi[1] - lo[1]))
    mid = (lo + hi) / 2
    pts = mid + (pts - mid) * fit
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pts += np.maximum(0, 8 - lo) - np.maximum(0, hi - [FRAME_W - 8, FRAME_H - 8])
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    # Work only inside the card's bounding box (plus room for the shadow).
    x0, y0 = np.maximum(pts.min(axis=0).astype(int) - 30, 0)
    x1, y1 = np.minimum(pts.max(axis=0).astype(int) + 30, [FRAME_W, FRAME_H])
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    m = shift @ cv2.getPerspectiveTransform(src, pts.astype(np.float32))
    size = (int(x1 - x0), int(y1 - y0))
    warped = cv2.warpPerspective(card, m, size, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, size)
    # A soft shadow under the card, as on a table.
    shadow = cv2.GaussianBlur(np.roll(mask, (6, 6), axis=(0, 1)), (0, 0), 6).astype(np.float32) / 255
    out = bg.copy()
    roi = bg[y0:y1, x0:x1].astype(np.float32) * (1 - 0.35 * shadow[..., None])
    a = (mask.astype(np.float32) / 255)[..., None]
    roi = roi * (1 - a) + warped.astype(np.float32) * a
    out[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)
    return out, pts


def apply_effects(img: np.ndarray, corners: np.ndarray, effects: list[str], rng: random.Random,
                  nprng: np.random.Generator) -> np.ndarray:
    out: np.ndarray = img.astype(np.float32)
    for e in effects:
        if e == "blur":
            out = cv2.GaussianBlur(out, (0, 0), rng.uniform(1.2, 2.5))
        elif e == "motion_blur":
            k = rng.randint(7, 15)
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2, :] = 1.0 / k
            rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1)
            out = cv2.filter2D(out, -1, cv2.warpAffine(kernel, rot, (k, k)))
        elif e == "noise":
            out += nprng.normal(0, rng.uniform(6, 14), out.shape).astype(np.float32)
        elif e == "glare":
            c = corners.mean(axis=0) + np.array([rng.uniform(-150, 150), rng.uniform(-80, 80)])
            y, x = np.mgrid[0:FRAME_H, 0:FRAME_W].astype(np.float32)
            rx, ry = rng.uniform(60, 160), rng.uniform(40, 100)
            blob = np.exp(-(((x - c[0]) / rx) ** 2 + ((y - c[1]) / ry) ** 2))
            out += (blob * rng.uniform(150, 240))[..., None]
        elif e == "low_light":
            out = out * rng.uniform(0.22, 0.4) + nprng.normal(0, 3, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def photograph(card: np.ndarray, side: str, label: str, name: str, rng: random.Random,
               nprng: np.random.Generator, effects: list[str] | None = None) -> Variant:
    bg, kind = background(rng, nprng)
    frame, pts = place(card, bg, rng)
    effects = effects if effects is not None else []
    frame = apply_effects(frame, pts, effects, rng, nprng)
    return Variant(name, side, label, frame, pts.round(1).tolist(), effects, kind)


def _on_paper(card: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """The card image printed on a sheet with a white margin; returns sheet and card box."""
    h, w = card.shape[:2]
    m = int(w * rng.uniform(0.08, 0.15))
    paper = np.full((h + 2 * m, w + 2 * m, 3), rng.randint(232, 250), np.uint8)
    paper[m:m + h, m:m + w] = card
    return paper, np.array([[m, m], [m + w, m], [m + w, m + h], [m, m + h]], np.float32)


def photocopy(card: np.ndarray, rng: random.Random, nprng: np.random.Generator) -> np.ndarray:
    g: np.ndarray = cv2.cvtColor(card, cv2.COLOR_RGB2GRAY).astype(np.float32)
    g = (g - 128) * rng.uniform(1.3, 1.7) + 128 + rng.uniform(5, 25)   # copier contrast
    speck = nprng.random(g.shape) < rng.uniform(0.002, 0.006)
    g[speck] = rng.uniform(10, 60)                                      # toner specks
    g = cv2.GaussianBlur(g, (0, 0), rng.uniform(0.6, 1.1))
    g = np.clip(g, 0, 255).astype(np.uint8)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2RGB)


def halftone(card: np.ndarray, rng: random.Random) -> np.ndarray:
    """A CMY dot-screen print with a washed-out gamut."""
    cell = rng.choice((4, 5, 6))
    img = card.astype(np.float32) / 255
    h, w = img.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out: np.ndarray = np.ones_like(img)
    for ch, angle in zip(range(3), (15, 75, 0), strict=True):
        a = np.deg2rad(angle)
        u = (x * np.cos(a) + y * np.sin(a)) % cell - cell / 2
        v = (-x * np.sin(a) + y * np.cos(a)) % cell - cell / 2
        r = np.sqrt(u * u + v * v) / (cell / 2 * 1.414)
        ink = 1 - cv2.blur(img[..., ch], (cell, cell))  # amount of this channel's ink
        out[..., ch] = np.where(r < np.sqrt(ink) * 1.1, 0.12, 0.97)
    out = cv2.GaussianBlur(out, (0, 0), 0.6)
    out = 0.25 + 0.7 * out  # paper white and ink black never reach the extremes
    return np.clip(out * 255, 0, 255).astype(np.uint8)


def on_screen(card: np.ndarray, rng: random.Random,
              nprng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The card displayed on a phone: sub-pixel grid, colour cast, black bezel."""
    h, w = card.shape[:2]
    pitch = 3
    img = cv2.resize(card, (w // pitch, h // pitch), interpolation=cv2.INTER_AREA)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_NEAREST).astype(np.float32)
    mask = np.zeros((h, w, 3), np.float32)
    for ch in range(3):
        mask[:, ch::pitch, ch] = 1.0
    mask[::pitch, :, :] *= 0.4                         # gaps between pixel rows
    img = img * (0.35 + 0.65 * mask) * 1.35
    cast = np.array([rng.uniform(0.85, 0.95), rng.uniform(0.95, 1.0), rng.uniform(1.05, 1.2)])
    img = img * cast + 15                              # bluish backlight, raised blacks
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    streak = np.clip(1 - np.abs((x - y * rng.uniform(0.5, 1.5)) - rng.uniform(0, w)) / 60, 0, 1)
    img += (streak * 70)[..., None]  # a glare streak across the glass
    bz = int(w * 0.06)
    phone = np.full((h + 2 * bz, w + 4 * bz, 3), 18, np.float32)
    phone[bz:bz + h, 2 * bz:2 * bz + w] = img
    box = np.array([[2 * bz, bz], [2 * bz + w, bz], [2 * bz + w, bz + h], [2 * bz, bz + h]], np.float32)
    return np.clip(phone, 0, 255).astype(np.uint8), box


def photograph_sheet(sheet: np.ndarray, card_box: np.ndarray, side: str, label: str, name: str,
                     rng: random.Random, nprng: np.random.Generator,
                     effects: list[str] | None = None) -> Variant:
    """Photograph a sheet (paper, phone) carrying the card; track the card's own corners."""
    bg, kind = background(rng, nprng)
    frame, pts = place(sheet, bg, rng, scale=(0.55, 0.85))
    sh, sw = sheet.shape[:2]
    m = cv2.getPerspectiveTransform(np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32),
                                    pts.astype(np.float32))
    card_pts = cv2.perspectiveTransform(card_box.reshape(-1, 1, 2), m).reshape(-1, 2)
    effects = effects or []
    frame = apply_effects(frame, card_pts, effects, rng, nprng)
    return Variant(name, side, label, frame, card_pts.round(1).tolist(), effects, kind)


def make_variants(front: np.ndarray, back: np.ndarray, seed: int,
                  old_front: np.ndarray | None = None, old_back: np.ndarray | None = None,
                  n_genuine: int = 2) -> list[Variant]:
    """The photographed variants of one card, genuine and negative."""
    rng = random.Random(f"variants:{seed}")
    nprng = np.random.default_rng(seed)
    out: list[Variant] = []
    for side, img in (("front", front), ("back", back)):
        for i in range(n_genuine):
            # The first genuine shot per side is clean, the others carry effects.
            effects = [] if i == 0 else rng.sample(EFFECTS, rng.randint(1, 2))
            if "blur" in effects and "motion_blur" in effects:
                effects.remove("motion_blur")
            out.append(photograph(img, side, "genuine", f"{side}_genuine_{i}", rng, nprng, effects))
    side = rng.choice(("front", "back"))
    img = front if side == "front" else back
    sheet, box = _on_paper(photocopy(img, rng, nprng), rng)
    out.append(photograph_sheet(sheet, box, side, "photocopy", f"{side}_photocopy", rng, nprng))
    phone, box = on_screen(img, rng, nprng)
    out.append(photograph_sheet(phone, box, side, "screen", f"{side}_screen", rng, nprng))
    sheet, box = _on_paper(halftone(img, rng), rng)
    out.append(photograph_sheet(sheet, box, side, "print", f"{side}_print", rng, nprng))
    if old_back is not None:
        out.append(photograph(old_back, "back", "no_qr", "back_no_qr", rng, nprng))
    if old_front is not None:
        out.append(photograph(old_front, "front", "old_model", "front_old_model", rng, nprng))
    return out
