"""Paper fakes at printer resolution: copier and printer models for kiosk/testdata/fakes.py.

Rasters are linear RGB reflectance on the sheet, at the device's own grid:
1200 dpi for laser engines (AM dots are made of device pixels), 600 dpi for
inkjet (drops of three sizes). Inks and toners combine by Beer-Lambert
(densities add), paper is a tinted diffuser; see fakes.py for what is and is
not modelled.
"""

from __future__ import annotations

import random
from functools import cache

import cv2
import numpy as np

from kiosk.testdata.camera_model import srgb_to_linear

CARD_MM = (85.60, 53.98)
ART_PPMM = 1024 / CARD_MM[0]          # the generated card pictures: 1024 px across
DPI1200 = 1200 / 25.4
DPI600 = 600 / 25.4
# Transmittance (linear RGB) of one layer of each colorant; CMYK order.
TONER = np.array([[0.10, 0.55, 0.85], [0.78, 0.14, 0.48], [0.93, 0.86, 0.09], [0.06, 0.06, 0.06]])
DYE = np.array([[0.05, 0.48, 0.90], [0.86, 0.08, 0.40], [0.95, 0.90, 0.05], [0.03, 0.03, 0.03]])
# Rational-tangent AM screens at 1200 dpi: cell vector (a, b) per C, M, Y, K; lpi = 1200 / |(a, b)|.
SCREENS = {141: ((8, 2), (2, 8), (8, 0), (6, 6)), 166: ((7, 2), (2, 7), (7, 0), (5, 5)),
           193: ((6, 2), (2, 6), (6, 0), (4, 4))}


def rounded_rect(w: float, h: float, r: float, x0: float = 0.0, y0: float = 0.0, n: int = 8) -> np.ndarray:
    """Polygon of a rounded rectangle (mm), clockwise from the top-left arc."""
    pts = []
    for cx, cy, a0 in ((x0 + r, y0 + r, 180), (x0 + w - r, y0 + r, 270), (x0 + w - r, y0 + h - r, 0),
                       (x0 + r, y0 + h - r, 90)):
        for k in range(n + 1):
            a = np.deg2rad(a0 + 90 * k / n)
            pts.append((cx + r * np.cos(a), cy + r * np.sin(a)))
    return np.array(pts)


def card_mask(shape: tuple[int, int], ppmm: float, margin_mm: float) -> np.ndarray:
    """Coverage of the ID-1 outline (corner radius 3.18 mm) on a raster with a margin."""
    h, w = shape
    img = np.zeros((h, w), np.uint8)
    poly = (rounded_rect(*CARD_MM, 3.18, margin_mm, margin_mm) * ppmm - 0.5) * 16
    cv2.fillPoly(img, [np.round(poly).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return img.astype(np.float32) / 255


def digital_copy(card: np.ndarray, rng: random.Random) -> np.ndarray:
    """The picture a forger prints or shows: a phone photo or scan of the card (softer, its
    colour and tone a little off, JPEG'd). sRGB uint8, same size."""
    img = cv2.GaussianBlur(card.astype(np.float32), (0, 0), rng.uniform(0.4, 1.1))
    sat, gam = rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15)
    grey = img.mean(axis=2, keepdims=True)
    img = grey + (img - grey) * sat
    img *= np.array([rng.uniform(0.94, 1.06) for _ in range(3)], np.float32)
    img = 255 * np.clip(img / 255, 0, 1) ** gam
    _, buf = cv2.imencode(".jpg", np.clip(img, 0, 255).astype(np.uint8)[..., ::-1],
                          [cv2.IMWRITE_JPEG_QUALITY, rng.randint(70, 95)])
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert dec is not None
    return dec[..., ::-1].copy()


def scan(card: np.ndarray, margin_mm: float, rng: random.Random) -> np.ndarray:
    """A copier's scan of the physical card on its glass: lid-white around it, the card's edge a
    thin shadow line, a little softness. sRGB float 0..255 at the art's resolution."""
    m = round(margin_mm * ART_PPMM)
    h, w = card.shape[:2]
    canvas = np.full((h + 2 * m, w + 2 * m, 3), 250.0, np.float32)
    cov = card_mask(canvas.shape[:2], ART_PPMM, m / ART_PPMM)
    canvas[m:m + h, m:m + w] = card
    edge = np.clip(cv2.morphologyEx(cov, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)), 0, 1)
    canvas = canvas * cov[..., None] + 250 * (1 - cov[..., None])
    canvas *= (1 - rng.uniform(0.2, 0.5) * edge)[..., None]
    return cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.5, 0.9))


@cache
def am_tile(a: int, b: int, line: bool = False) -> np.ndarray:
    """Threshold array (0..255) of an AM screen with cell vector (a, b) device pixels: a
    Euclidean dot (or a line) grown in rank order; periodic with period a*a + b*b."""
    n = a * a + b * b
    y, x = np.mgrid[0:n, 0:n].astype(np.float64) + 0.5
    fa, fb = np.mod((a * x + b * y) / n, 1.0), np.mod((-b * x + a * y) / n, 1.0)
    s = np.cos(2 * np.pi * fb) if line else (np.cos(2 * np.pi * fa) + np.cos(2 * np.pi * fb)) / 2
    rank = np.argsort(np.argsort(-(s + 1e-6 * fa).ravel(), kind="stable"), kind="stable")
    return ((rank + 0.5) / rank.size * 255).reshape(n, n).astype(np.uint8)


@cache
def blue_noise(n: int = 128) -> np.ndarray:
    """A stochastic-screen threshold array (0..1): white noise pushed to high frequencies."""
    r = np.random.default_rng(5).random((n, n))
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n)))
    for _ in range(4):
        r = np.real(np.fft.ifft2(np.fft.fft2(r) * (1 - np.exp(-(f / 0.18) ** 2))))
        r = np.argsort(np.argsort(r.ravel())).reshape(n, n) / (n * n)
    return r.astype(np.float32)


def tile_to(tile: np.ndarray, shape: tuple[int, int], rng: random.Random) -> np.ndarray:
    th, tw = tile.shape
    dy, dx = rng.randrange(th), rng.randrange(tw)
    reps = ((shape[0] + dy) // th + 1, (shape[1] + dx) // tw + 1)
    return np.tile(tile, reps)[dy:dy + shape[0], dx:dx + shape[1]]


def separate(rgb: np.ndarray, gcr: float) -> list[np.ndarray]:
    """sRGB (0..255) -> C, M, Y, K coverage (0..1) with grey-component replacement."""
    cmy = 1 - np.clip(rgb, 0, 255).astype(np.float32) / 255
    k = cmy.min(axis=2) * gcr
    rest = (cmy - k[..., None]) / np.maximum(1 - k[..., None], 1e-3)
    return [rest[..., 0], rest[..., 1], rest[..., 2], k]


def develop_inks(inks: list[np.ndarray], trans: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """Coverage maps (all uint8 0..255 or all float 0..1) -> linear RGB reflectance: the
    colorants' densities add (Beer-Lambert) over the paper."""
    dens = (-np.log(trans)).astype(np.float32)                # (n_inks, 3)
    scale = np.float32(1 / 255 if inks[0].dtype == np.uint8 else 1.0)
    if len(inks) == 1:           # one neutral toner: work on one channel
        grey = cv2.exp(inks[0].astype(np.float32) * (-dens[0, 0] * scale))
        return cv2.transform(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), np.diag(paper).astype(np.float32))
    d = cv2.transform(cv2.merge(inks).astype(np.float32), -dens.T * scale)
    return cv2.transform(cv2.exp(d), np.diag(paper).astype(np.float32))


def paper_white(rng: random.Random, photo: bool = False) -> np.ndarray:
    """Linear RGB reflectance of a paper: brightened (bluish), plain or cream."""
    base = rng.uniform(0.86, 0.92)
    tints = ((0.97, 0.985, 1.0), (1.0, 1.0, 1.0), (1.0, 0.99, 0.94))
    tint = rng.choice(tints) if not photo else (0.98, 0.99, 1.0)
    return base * np.array(tint, np.float32)


def laser(src: np.ndarray, rng: random.Random, params: dict, mono: bool = False) -> np.ndarray:
    """An electrophotographic page (colour laser printer or copier): CMYK AM halftone at 1200 dpi
    with the usual screen angles, toner spread, registration, mottle. `src` sRGB float (art res)."""
    lpi = rng.choice(tuple(SCREENS))
    h, w = round(src.shape[0] * DPI1200 / ART_PPMM), round(src.shape[1] * DPI1200 / ART_PPMM)
    if mono:
        seps = [1 - src.mean(axis=2) / 255]
        line = rng.random() < 0.3
        vecs = [rng.choice(((6, 6), (8, 8), (5, 5)))]
        trans = np.full((1, 3), rng.uniform(0.04, 0.08))       # black toner: neutral
    else:
        seps = separate(src, rng.uniform(0.5, 0.9))
        line, vecs = False, list(SCREENS[lpi])
        trans = TONER * np.exp(np.array([rng.gauss(0, 0.06) for _ in range(4)]))[:, None]
        trans = np.clip(trans, 0.02, 0.97)
    inks = []
    comp = rng.uniform(1.0, 1.3)       # the engine's tone curve compensates dot gain
    g = np.random.default_rng(rng.randrange(1 << 30))
    for sep, vec in zip(seps, vecs, strict=True):
        # Uneven development (mottle): the coverage laid down wanders by a few per cent.
        coarse = g.normal(1, 0.04, (sep.shape[0] // 8 + 2, sep.shape[1] // 8 + 2)).astype(np.float32)
        mottle = cv2.resize(coarse, sep.shape[::-1])
        cov = cv2.resize(np.clip(sep, 0, 1) ** comp * mottle, (w, h), interpolation=cv2.INTER_LINEAR)
        cov_u8 = np.clip(cov * 255 + 0.5, 0, 255).astype(np.uint8)
        ink = cv2.compare(cov_u8, tile_to(am_tile(*vec, line), (h, w), rng), cv2.CMP_GT)
        inks.append(cv2.GaussianBlur(ink, (0, 0), rng.uniform(0.5, 0.9)))   # toner spreads
    if mono:
        # Stray toner in the white: specks of a few device pixels.
        n = int(h * w * rng.uniform(1e-4, 6e-4))
        specks = np.zeros((h, w), np.uint8)
        specks[g.integers(0, h, n), g.integers(0, w, n)] = 255
        inks[0] = np.maximum(inks[0], cv2.GaussianBlur(specks, (0, 0), 0.8))
    paper = paper_white(rng)
    params.update({"lpi": lpi if not mono else round(1200 / float(np.hypot(*vecs[0]))), "line_screen": line,
                   "paper": [round(float(p), 3) for p in paper]})
    return develop_inks(inks, trans, paper)


def inkjet(src: np.ndarray, rng: random.Random, params: dict, photo: bool) -> np.ndarray:
    """An inkjet page: CMYK drops of three sizes placed by a stochastic (blue-noise) screen at
    600 dpi, ink spreading into the paper (more on plain paper, which also takes less ink)."""
    h, w = round(src.shape[0] * DPI600 / ART_PPMM), round(src.shape[1] * DPI600 / ART_PPMM)
    seps = separate(src, rng.uniform(0.3, 0.7))
    mask = blue_noise()
    inks = []
    for i, sep in enumerate(seps):
        cov = cv2.resize(np.clip(sep, 0, 1), (w, h), interpolation=cv2.INTER_LINEAR)
        m = tile_to(np.rot90(mask, i) if i % 2 else mask, (h, w), rng)
        q = np.floor(cov * 3 + m) / 3                        # three drop sizes
        inks.append(cv2.GaussianBlur(np.clip(q, 0, 1).astype(np.float32), (0, 0),
                                     rng.uniform(0.35, 0.6) if photo else rng.uniform(0.6, 1.0)))
    trans = DYE ** (1.0 if photo else rng.uniform(0.55, 0.75))
    paper = paper_white(rng, photo)
    params.update({"dpi": 600, "photo_paper": photo, "paper": [round(float(p), 3) for p in paper]})
    return develop_inks(inks, trans, paper)


def copier_grey(scanned: np.ndarray, rng: random.Random) -> np.ndarray:
    """A mono copier's tone: luminance, contrast up, light tints dropped (background removal)."""
    lum = scanned @ np.array([0.3, 0.59, 0.11], np.float32) / 255
    lo, hi = rng.uniform(0.05, 0.18), rng.uniform(0.8, 0.92)
    out = np.clip((lum - lo) / (hi - lo), 0, 1) ** rng.uniform(0.8, 1.25)
    return np.repeat((out * 255)[..., None], 3, axis=2)


def copier_colour(scanned: np.ndarray, rng: random.Random) -> np.ndarray:
    """A colour copier's tone: contrast and saturation changed, light tints partly dropped."""
    x = scanned / 255
    lo, hi = rng.uniform(0.02, 0.1), rng.uniform(0.85, 0.95)
    x = np.clip((x - lo) / (hi - lo), 0, 1)
    grey = x.mean(axis=2, keepdims=True)
    x = np.clip(grey + (x - grey) * rng.uniform(0.7, 1.2), 0, 1)
    return (x * 255).astype(np.float32)


def card_lin(card: np.ndarray, white: float) -> np.ndarray:
    return srgb_to_linear(card) * np.float32(white)
