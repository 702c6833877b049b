"""Tables and distractors for the harsh frames (kiosk/testdata/harsh.py).

A `Sprite` (hand, cable, pen, phone, paper, keys) has its own alpha; `paste`
darkens what lies under it with its drop shadow, then lays it on the frame.
Round parts are shaded from their own masks: the distance to the mask's edge
gives a cylinder's height, its slope a normal, Lambert plus a specular lobe the
light (cheap at half resolution, and it gives the rim a flat fill lacks).
Whole-array work goes through OpenCV: numpy's `[..., None]` broadcasts cost
several times more here.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

Pt = tuple[float, float]
SKIN = ((236, 188, 160), (224, 172, 140), (198, 140, 104), (160, 106, 74), (118, 76, 52), (84, 54, 38))
TABLES = ("white_table", "grey_table", "wood", "cloth", "dark_table", "stone")
_FLAT = {"white_table": (232, 250, 4, 1.5), "grey_table": (178, 218, 5, 3.5), "dark_table": (22, 70, 8, 3.0)}


@dataclass
class Sprite:
    rgb: np.ndarray          # float32 (h, w, 3), premultiplied by alpha
    alpha: np.ndarray        # float32 (h, w), 0..1
    x0: int                  # top-left in frame pixels (may be negative)
    y0: int
    lift: float              # height above the surface below, px: shadow offset and blur
    scale: float = 1.0       # rgb and alpha are at this fraction of the frame's resolution


@cache
def noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """N(0, 1) made once per shape; frames take windows of it at random offsets (speed)."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def window(field: np.ndarray, h: int, w: int, rng: random.Random) -> np.ndarray:
    dy, dx = rng.randint(0, field.shape[0] - h), rng.randint(0, field.shape[1] - w)
    return field[dy:dy + h, dx:dx + w]


def _grain(h: int, w: int, rng: random.Random, sigma: float) -> np.ndarray:
    return window(noise((h + 61, w + 67), 7), h, w, rng) * sigma


def _smooth(h: int, w: int, rng: random.Random, cells: int, sigma: float) -> np.ndarray:
    """Low-frequency variation: a coarse noise grid scaled up."""
    coarse = window(noise((64, 64), 11), cells, cells, rng)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) * sigma


def x3(m: np.ndarray) -> np.ndarray:
    """A one-channel map as three channels."""
    return cv2.cvtColor(np.ascontiguousarray(m, np.float32), cv2.COLOR_GRAY2RGB)


def tinted(img3: np.ndarray, scale: np.ndarray, offset: np.ndarray | float = 0.0) -> np.ndarray:
    """img3 * scale + offset, per channel."""
    m = np.zeros((3, 4), np.float32)
    m[:, :3] = np.diag(np.asarray(scale, np.float32))
    m[:, 3] = offset
    return cv2.transform(img3, m)


def table(kind: str, h: int, w: int, rng: random.Random) -> np.ndarray:
    """A table-top, float32 (h, w, 3) in 0..255: one of TABLES."""
    if kind in _FLAT:
        lo, hi, spread, grain = _FLAT[kind]
        lum = _smooth(h, w, rng, 4, rng.uniform(1, 5)) + _grain(h, w, rng, grain)
    elif kind == "stone":
        lo, hi, spread = 90, 190, 12
        lum = cv2.resize(cv2.GaussianBlur(_grain(h // 2, w // 2, rng, 28), (0, 0), 0.8), (w, h))
        lum += _grain(h, w, rng, 5)
    else:
        return _wood(h, w, rng) if kind == "wood" else _cloth(h, w, rng)
    v = rng.uniform(lo, hi)
    return tinted(x3(lum), np.ones(3), np.array([v + rng.uniform(-spread, spread) for _ in range(3)]))


def _wood(h: int, w: int, rng: random.Random) -> np.ndarray:
    """Grain rings warped by smooth noise, fine streaks along the grain, plank seams (made at
    half size, rotated, scaled up)."""
    hh, hw = h // 2, w // 2
    diag = int(math.hypot(hh, hw)) + 4
    q = diag // 2
    y = np.mgrid[0:q, 0:q][0].astype(np.float32) * 2
    rings = np.sin((y + _smooth(q, q, rng, 5, 20.0)) * rng.uniform(0.08, 0.24)) * 0.5 + 0.5
    lum = cv2.resize(rings ** 3, (diag, diag)) * rng.uniform(-40, -15)
    lum += cv2.resize(noise((diag // 2, max(2, diag // 24)), 13), (diag, diag)) * rng.uniform(6, 14)
    plank = rng.uniform(45, 130)
    seams = np.abs(((np.arange(diag, dtype=np.float32) + rng.uniform(0, plank)) % plank) - plank / 2)
    lum[seams > plank / 2 - 0.8] -= rng.uniform(40, 80)
    m = cv2.getRotationMatrix2D((diag / 2, diag / 2), rng.choice((0.0, 90.0)) + rng.uniform(-20, 20), 1.0)
    m[:, 2] -= np.array([(diag - hw) / 2, (diag - hh) / 2])
    lum = cv2.resize(cv2.warpAffine(lum, m, (hw, hh)), (w, h))
    r, g, b = rng.uniform(110, 205), rng.uniform(0.55, 0.75), rng.uniform(0.4, 0.7)
    return tinted(x3(1 + lum / 160 + _grain(h, w, rng, 0.015)), np.array([r, r * g, r * g * b]))


def _cloth(h: int, w: int, rng: random.Random) -> np.ndarray:
    """Gingham, stripes or dots, rotated, with a weave and folds (made at half size)."""
    hh, hw = h // 2, w // 2
    y, x = np.mgrid[0:hh, 0:hw].astype(np.float32)
    a, p = math.radians(rng.uniform(0, 180)), rng.uniform(6, 26)
    u, v = x * math.cos(a) + y * math.sin(a), -x * math.sin(a) + y * math.cos(a)
    c1 = np.array([rng.uniform(20, 240) for _ in range(3)], np.float32)
    c2 = np.full(3, rng.uniform(200, 250), np.float32) if rng.random() < 0.6 else \
        np.array([rng.uniform(20, 240) for _ in range(3)], np.float32)
    kind = rng.choice(("gingham", "stripes", "dots"))
    if kind == "gingham":
        t = (((u % (2 * p)) < p).astype(np.float32) + ((v % (2 * p)) < p)) / 2
    elif kind == "stripes":
        t = ((u % (2 * p)) < p * rng.uniform(0.3, 1.2)).astype(np.float32)
    else:
        t = (((u % (2 * p)) - p) ** 2 + ((v % (2 * p)) - p) ** 2 < (p * 0.45) ** 2).astype(np.float32)
    img = tinted(x3(t), c1 - c2, c2)
    img += x3(((np.floor(x / 1.5) + np.floor(y / 1.5)) % 2) * rng.uniform(4, 12))   # the weave
    img *= x3(1 + _smooth(hh, hw, rng, 3, 0.12))                                    # folds
    return cv2.resize(img, (w, h))


def shade(mask: np.ndarray, color: np.ndarray, radius: float, light: np.ndarray,
          gloss: float = 0.1, ambient: float = 0.45) -> np.ndarray:
    """Colour a part drawn as `mask` (uint8) as a rounded body of `radius` px under `light`."""
    d = cv2.distanceTransform((mask > 127).astype(np.uint8), cv2.DIST_L2, 3)
    r = max(radius, 1.0)
    z = np.sqrt(np.clip(1 - (1 - np.minimum(d / r, 1.0)) ** 2, 0, 1)) * r
    gx, gy = (cv2.Sobel(z, cv2.CV_32F, dx, 1 - dx, ksize=3) / 8 for dx in (1, 0))
    ndl = np.clip((-gx * light[0] - gy * light[1] + light[2]) / np.sqrt(gx * gx + gy * gy + 1), 0, 1)
    return tinted(x3(ambient + (1 - ambient) * ndl), color) + x3(cv2.pow(ndl, 24) * (gloss * 255))


class Canvas:
    """One sprite from parts drawn in frame coordinates, later ones on top, at `scale` of the
    frame's resolution (hands and clutter are smooth: half size is plenty)."""

    def __init__(self, points: list[Pt], reach: float, frame: tuple[int, int], light: np.ndarray,
                 lift: float, scale: float = 0.5) -> None:
        """The canvas covers `points` +- `reach` (the parts' half-width) and room for the shadow,
        clipped to that room past the frame: OpenCV's distance transform takes the canvas border
        as far away, so a part running out of the canvas keeps its shading."""
        room = 1.5 * lift + 4
        lo, hi = np.asarray(points).min(axis=0) - reach - room, np.asarray(points).max(axis=0) + reach + room
        self.x0, self.y0 = int(max(lo[0], -room)), int(max(lo[1], -room))
        x1, y1 = int(min(hi[0], frame[0] + room)), int(min(hi[1], frame[1] + room))
        self.k, self.light, self.lift = scale, light, lift
        self.h, self.w = max(1, math.ceil((y1 - self.y0) * scale)), max(1, math.ceil((x1 - self.x0) * scale))
        self.rgb = np.zeros((self.h, self.w, 3), np.float32)       # premultiplied by alpha
        self.alpha = np.zeros((self.h, self.w), np.float32)

    def pts(self, pts: list[Pt]) -> np.ndarray:
        """Frame points as canvas points for OpenCV's drawing (4 fractional bits)."""
        p = (np.asarray(pts, np.float64) - [self.x0, self.y0]) * (16 * self.k)
        return np.round(p).astype(np.int32).reshape(-1, 1, 2)

    def mask(self) -> np.ndarray:
        return np.zeros((self.h, self.w), np.uint8)

    def tube(self, pts: list[Pt], radius: float, m: np.ndarray | None = None, value: int = 255) -> np.ndarray:
        thick = max(1, round(radius * 2 * self.k))
        m = self.mask() if m is None else m
        return cv2.polylines(m, [self.pts(pts)], False, value, thick, cv2.LINE_AA, 4)

    def poly(self, pts: list[Pt]) -> np.ndarray:
        return cv2.fillPoly(self.mask(), [self.pts(pts)], 255, cv2.LINE_AA, 4)

    def ellipse(self, c: Pt, axes: Pt, along: np.ndarray, thickness: float = -1) -> np.ndarray:
        """An ellipse whose first axis lies along the direction `along`."""
        k, angle = self.k, math.degrees(math.atan2(along[1], along[0]))
        box = (((c[0] - self.x0) * k, (c[1] - self.y0) * k), (2 * axes[0] * k, 2 * axes[1] * k), angle)
        return cv2.ellipse(self.mask(), box, 255, -1 if thickness < 0 else max(1, round(thickness * k)),
                           cv2.LINE_AA)

    def add(self, m: np.ndarray, color: tuple[float, ...] | np.ndarray, radius: float,
            gloss: float = 0.1, flat: bool = False) -> None:
        """Shade the part drawn in `m` and lay it over the canvas, within the part's own box."""
        x, y, bw, bh = cv2.boundingRect(m)
        x0, y0, x1, y1 = max(x - 2, 0), max(y - 2, 0), min(x + bw + 2, self.w), min(y + bh + 2, self.h)
        if bw == 0 or bh == 0:
            return
        m, c = m[y0:y1, x0:x1], np.asarray(color, np.float32)
        a = m.astype(np.float32) / 255
        part = tinted(x3(np.ones_like(a)), c) if flat else shade(m, c, radius * self.k, self.light, gloss)
        rgb, al, a3 = self.rgb[y0:y1, x0:x1], self.alpha[y0:y1, x0:x1], x3(a)
        rgb -= rgb * a3
        rgb += part * a3
        al += a * (1 - al)

    def nail(self, tip: np.ndarray, back: np.ndarray, r: float, skin: np.ndarray) -> None:
        """A fingernail at a fingertip, `back` the unit direction from the tip along the finger."""
        self.add(self.ellipse(_p(tip + back * r * 0.9), (r * 0.72, r * 0.52), back),
                 np.minimum(skin * 1.12 + 18, 255), r * 0.4, 0.3)

    def forearm(self, palm: np.ndarray, out: np.ndarray, arm_end: Pt, mm: float, skin: np.ndarray) -> None:
        """The arm from beyond the frame's edge to the palm, and the palm (or the back of the hand)."""
        self.add(self.tube([_p(palm), arm_end], 30 * mm), skin, 30 * mm, 0.08)
        self.add(self.ellipse(_p(palm), (41 * mm, 35 * mm), out), skin, 21 * mm, 0.08)

    def sprite(self) -> Sprite:
        return Sprite(self.rgb, self.alpha, self.x0, self.y0, self.lift, self.k)


def paste(img: np.ndarray, s: Sprite, light: np.ndarray, shadow: float,
          occluded: np.ndarray | None = None) -> None:
    """Shadow (the alpha blurred, shifted from the light, within the sprite's padded box), then
    the sprite, onto `img` (float32, in place); mark `occluded` (uint8) where it covers."""
    h, w = img.shape[:2]
    k = s.scale
    keep = 1 - s.alpha
    if shadow > 0 and s.lift > 0:
        sa = _blur(s.alpha, (0.6 + s.lift * 0.35) * k)
        dx, dy = (round(-light[i] / light[2] * s.lift * k) for i in (0, 1))
        move = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        keep *= 1 - shadow * cv2.warpAffine(sa, move, (sa.shape[1], sa.shape[0]))
    bx, by, bw, bh = cv2.boundingRect((keep < 0.996).astype(np.uint8))
    fx, fy, fw, fh = s.x0 + round(bx / k), s.y0 + round(by / k), round(bw / k), round(bh / k)
    x0, y0, x1, y1 = max(fx, 0), max(fy, 0), min(fx + fw, w), min(fy + fh, h)
    if bw == 0 or bh == 0 or x1 <= x0 or y1 <= y0:
        return
    parts = [q[by:by + bh, bx:bx + bw] for q in (keep, s.rgb, s.alpha)]
    if k != 1.0:
        parts = [cv2.resize(q, (fw, fh)) for q in parts]
    keep, rgb, alpha = (q[y0 - fy:y1 - fy, x0 - fx:x1 - fx] for q in parts)
    roi = img[y0:y1, x0:x1]
    roi *= x3(keep)
    roi += rgb
    if occluded is not None:
        np.maximum(occluded[y0:y1, x0:x1], (alpha * 255).astype(np.uint8), out=occluded[y0:y1, x0:x1])


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; a wide one on a smaller copy (the same within a few grey levels)."""
    f = int(min(4, sigma // 2))
    if f < 2:
        return cv2.GaussianBlur(a, (0, 0), sigma)
    small = cv2.resize(a, (max(1, a.shape[1] // f), max(1, a.shape[0] // f)), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / f), a.shape[::-1])


def _p(v: np.ndarray) -> Pt:
    return float(v[0]), float(v[1])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) + 1e-9)


def _jitter(rng: random.Random, k: float) -> np.ndarray:
    return np.array([rng.uniform(-k, k), rng.uniform(-k, k)])


def held_hand(corners: np.ndarray, mm: float, w: int, h: int, rng: random.Random,
              light: np.ndarray, skin: np.ndarray, on_corner: bool) -> tuple[Sprite, Sprite, dict]:
    """A hand holding the card by an edge or a corner: (the sprite under the card: arm, palm,
    the index finger curled beside; the sprite over it: the thumb)."""
    i = rng.randrange(4)
    if on_corner:
        edge_pt, out = corners[i], _unit(corners[i] - corners.mean(axis=0))
    else:
        a, b = corners[i], corners[(i + 1) % 4]
        edge_pt, t = a + (b - a) * rng.uniform(0.2, 0.8), _unit(b - a)
        out = np.array([t[1], -t[0]])          # outward for the clockwise TL TR BR BL order
    tip = edge_pt - out * rng.uniform(6, 16) * mm           # the thumb reaches onto the card
    base = edge_pt + out * rng.uniform(18, 30) * mm
    palm = base + out * 30 * mm
    arm_end = _p(palm + _unit(out + _jitter(rng, 0.4)) * (w + h))      # far out of the frame
    side = np.array([-out[1], out[0]]) * rng.choice((-1, 1))
    under = Canvas([_p(tip), _p(palm), arm_end], 42 * mm, (w, h), light, rng.uniform(8, 25))
    under.forearm(palm, out, arm_end, mm, skin)
    knuckle = palm - out * 28 * mm + side * 22 * mm
    under.add(under.tube([_p(palm + side * 15 * mm), _p(knuckle), _p(knuckle - out * 25 * mm)], 8.5 * mm),
              skin * 0.97, 8.5 * mm, 0.1)
    over = Canvas([_p(tip), _p(base + out * 20 * mm)], 12 * mm, (w, h), light, rng.uniform(2, 6))
    r = rng.uniform(9, 11.5) * mm
    over.add(over.tube([_p(base + out * 20 * mm), _p(base), _p(tip)], r), skin, r, 0.12)
    over.nail(tip, out, r, skin)
    return under.sprite(), over.sprite(), {"hold": "corner" if on_corner else "edge", "index": i}


def fingers_on_corner(corners: np.ndarray, mm: float, w: int, h: int, rng: random.Random,
                      light: np.ndarray, skin: np.ndarray) -> tuple[Sprite, dict]:
    """Two to four fingers over one corner; the back of the hand and the arm outside the card."""
    i, n = rng.randrange(4), rng.randint(2, 4)
    c = corners[i]
    out = _unit(_unit(c - corners.mean(axis=0)) + _jitter(rng, 0.5))
    side = np.array([-out[1], out[0]])
    hand = c + out * rng.uniform(55, 75) * mm
    arm_end = _p(hand + _unit(out + side * rng.uniform(-0.5, 0.5)) * (w + h))
    cv = Canvas([_p(c - out * 30 * mm), _p(hand), arm_end], 42 * mm, (w, h), light, rng.uniform(4, 12))
    cv.forearm(hand, out, arm_end, mm, skin)
    off0 = -(n - 1) / 2 * 17 * mm + rng.uniform(-8, 8) * mm
    for k in range(n):
        r = rng.uniform(7.5, 9) * mm
        root = hand - out * 25 * mm + side * (off0 + k * 17 * mm) * 0.8
        tip = c - out * rng.uniform(8, 22) * mm + side * (off0 + k * 17 * mm)
        cv.add(cv.tube([_p(root), _p(tip)], r), skin, r, 0.12)
        cv.nail(tip, _unit(root - tip), r, skin)
    return cv.sprite(), {"corner": i, "fingers": n}


# --- clutter: each from (a point on or near the card, px per mm, frame size, rng, light) ---------


def cable(target: np.ndarray, mm: float, w: int, h: int, rng: random.Random, light: np.ndarray) -> Sprite:
    """A cable from beyond the frame's edge to (and past) a point on the card's outline."""
    t = rng.random()
    p0 = np.array(rng.choice([(t * w, -30.0), (w + 30.0, t * h), (t * w, h + 30.0), (-30.0, t * h)]))
    p2 = target + _unit(target - p0) * rng.uniform(-20, 60) * mm
    p1 = (p0 + p2) / 2 + _jitter(rng, 0.3) * np.linalg.norm(p2 - p0)
    s = np.linspace(0, 1, 24)[:, None]
    pts = [_p(q) for q in (1 - s) ** 2 * p0 + 2 * (1 - s) * s * p1 + s ** 2 * p2]   # a Bézier curve
    r = rng.uniform(1.5, 3.0) * mm
    cv = Canvas(pts, r + 2, (w, h), light, rng.uniform(1.5, 4))
    cv.add(cv.tube(pts, r), rng.choice(((25, 25, 28), (235, 235, 232), (120, 122, 128))), r, 0.5)
    return cv.sprite()


def pen(target: np.ndarray, mm: float, w: int, h: int, rng: random.Random, light: np.ndarray) -> Sprite:
    a = rng.uniform(0, math.pi)
    d = np.array([math.cos(a), math.sin(a)])
    length, r = rng.uniform(130, 150) * mm, rng.uniform(4, 5.5) * mm
    p0 = target + d * length * rng.uniform(0.0, 0.5)
    p1 = p0 - d * length
    cv = Canvas([_p(p0), _p(p1)], r * 1.1 + 2, (w, h), light, rng.uniform(3, 6))
    body = rng.choice(((30, 60, 170), (20, 20, 22), (200, 30, 35), (240, 240, 236), (180, 182, 188)))
    cap = rng.choice(((20, 20, 22), (235, 235, 235)))
    cv.add(cv.tube([_p(p0), _p(p1)], r), body, r, 0.6)
    cv.add(cv.tube([_p(p0), _p(p0 - d * 50 * mm)], r * 1.1), cap, r, 0.6)
    return cv.sprite()


def rounded_rect(c: np.ndarray, size: Pt, ang: float, rad: float) -> list[Pt]:
    w2, h2 = size[0] / 2 - rad, size[1] / 2 - rad
    pts = [(cx + rad * math.cos(math.radians(a0 + k * 15)), cy + rad * math.sin(math.radians(a0 + k * 15)))
           for cx, cy, a0 in ((w2, -h2, -90), (w2, h2, 0), (-w2, h2, 90), (-w2, -h2, 180)) for k in range(7)]
    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    return [_p(q) for q in np.asarray(pts) @ rot.T + c]


def phone(target: np.ndarray, mm: float, w: int, h: int, rng: random.Random, light: np.ndarray) -> Sprite:
    """A dark phone with a glossy screen lying against the card (a quad larger than the card)."""
    ang = rng.uniform(0, math.pi)
    size = (rng.uniform(140, 165) * mm, rng.uniform(68, 78) * mm)
    c = target + np.array([math.cos(ang + 1.3), math.sin(ang + 1.3)]) * size[1] * rng.uniform(0.4, 0.6)
    outline = rounded_rect(c, size, ang, 9 * mm)
    cv = Canvas(outline, 2, (w, h), light, rng.uniform(3, 6))
    cv.add(cv.poly(outline), (28, 28, 32), 3 * mm, 0.7)
    v = rng.uniform(12, 60)
    cv.add(cv.poly(rounded_rect(c, (size[0] - 8 * mm, size[1] - 8 * mm), ang, 5 * mm)), (v, v, v * 1.1),
           1.0, flat=True)
    return cv.sprite()


def paper(target: np.ndarray, mm: float, w: int, h: int, rng: random.Random, light: np.ndarray) -> Sprite:
    """A sheet or a receipt with lines of print, from past the frame's edge to under the card."""
    ang = rng.uniform(0, math.pi)
    d, n = np.array([math.cos(ang), math.sin(ang)]), np.array([-math.sin(ang), math.cos(ang)])
    size = (rng.uniform(180, 300) * mm, rng.uniform(75, 210) * mm)
    c = target + d * size[0] * rng.uniform(0.3, 0.5)
    outline = rounded_rect(c, size, ang, 0.6)
    cv = Canvas(outline, 2, (w, h), light, rng.uniform(0.5, 1.5))
    v = rng.uniform(228, 252)
    cv.add(cv.poly(outline), (v, v, v - rng.uniform(0, 8)), 1.0, flat=True)
    ink = cv.mask()
    for k in range(int(size[1] / (7 * mm)) - 2):
        y = -size[1] / 2 + (k + 1.5) * 7 * mm
        x, end = -size[0] / 2 + 12 * mm, size[0] / 2 - rng.uniform(12, 80) * mm
        while x < end:                          # words: dashes of print with gaps
            x1 = min(x + rng.uniform(5, 25) * mm, end)
            cv.tube([_p(c + d * x + n * y), _p(c + d * x1 + n * y)], 0.6 * mm, ink, 150)
            x = x1 + rng.uniform(2, 4) * mm
    cv.rgb -= (cv.rgb - 60) * x3(ink.astype(np.float32) / 255 * cv.alpha)
    return cv.sprite()


def keys(target: np.ndarray, mm: float, w: int, h: int, rng: random.Random, light: np.ndarray) -> Sprite:
    """A key on its ring, metallic, lying over the card's edge."""
    ring = target + _jitter(rng, 15 * mm)
    cv = Canvas([_p(ring)], 92 * mm, (w, h), light, rng.uniform(2, 4))
    cv.add(cv.ellipse(_p(ring), (14 * mm, 14 * mm), np.array([1, 0]), 2 * mm), (170, 172, 178), 1.2 * mm, 0.9)
    a = rng.uniform(0, 2 * math.pi)
    d, col = np.array([math.cos(a), math.sin(a)]), rng.choice(((190, 190, 196), (196, 160, 80)))
    n, head = np.array([-d[1], d[0]]), ring + d * 22 * mm
    cv.add(cv.ellipse(_p(head), (13 * mm, 11 * mm), d), col, 4 * mm, 0.9)
    tip = head + d * 55 * mm
    teeth = [head + d * (15 + 6 * k) * mm - n * (4 + 2 * (k % 2)) * mm for k in range(6, 0, -1)]
    blade = [_p(q) for q in (head + n * 4 * mm, tip + n * 4 * mm, tip - n * mm, *teeth)]
    cv.add(cv.poly(blade), col, 1.5 * mm, 0.9)
    return cv.sprite()


CLUTTER = {"cable": cable, "pen": pen, "phone": phone, "paper": paper, "keys": keys}
