"""INE-like card backs drawn "by another hand", photographed into frames. Evaluation only.

Nothing here is shared with kiosk.testdata.cards or its photographer: other background tints
and security patterns (rosettes, hatching), another way of drawing the QR (segno's matrix
drawn with a wider quiet zone and a blue-black ink), other barcodes and labels, and above
all another OCR-B rendering of the MRZ: each character placed in its own cell, with its
own cap height (2.2-2.7 mm), letter spacing (2.45-2.62 mm pitch), weight (ink spread or
thinning), ink colour and line spacing, from Debian's OCR-B regular or its "Sharp" cut;
DejaVu Sans Mono is a harder case, reported on its own. The MRZ carries valid check digits
(kiosk.mrz.parse). Frames: light, dark, wood and cloth backgrounds, rotation +-35 deg
(some upside down), 5-14 px per mm, mild perspective, some cards cut by the frame edge on
the side away from the MRZ, some with a hand over them, blur and the like.

Tests must not use this module, and the readers must not be tuned on it: it exists to tell
how the readers fare on cards they were not made against. Every card reads MUESTRA.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache

import cv2
import numpy as np
import segno
from PIL import Image, ImageDraw, ImageFont

from kiosk.mrz.parse import compose_ine_td1

FRAME_W, FRAME_H = 1280, 720
CARD_MM = (85.60, 53.98)
FONTS = {
    "ocrb": "/usr/share/fonts/opentype/ocr-b/OCRB.otf",
    "ocrb_sharp": "/usr/share/fonts/opentype/ocr-b/OCRBS.otf",
    "mono": "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
}
_SANS = "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf"
_SERIF = "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"
_SURNAMES = ("MUESTRA", "PRUEBA", "EJEMPLO", "FICTICIO", "MODELO", "SIMULADO", "ENSAYO", "CASO",
             "PATRON", "FORMATO", "PLANTILLA", "BORRADOR")
_NAMES = ("ANA", "LUIS", "MARIA JOSE", "PEDRO PABLO", "ROSA", "JUAN CARLOS", "ELENA", "TOMAS",
          "GUADALUPE", "FRANCISCO JAVIER")
_TINTS = ((222, 230, 242), (242, 236, 212), (232, 222, 242), (220, 240, 230), (245, 226, 226))


@dataclass
class OtherBack:
    image: np.ndarray                 # RGB, card only
    mrz: list[str]
    qr_payloads: list[bytes]
    font: str                         # key of FONTS
    mrz_block: np.ndarray             # (4, 2) corners of the MRZ ink block, card px
    qr_blocks: list[np.ndarray] = field(default_factory=list)  # (4, 2) corners of each QR, card px


@dataclass
class OtherFrame:
    image: np.ndarray                 # RGB FRAME_H x FRAME_W
    back: OtherBack
    corners: np.ndarray               # card corners in the frame, TL TR BR BL of the card
    mrz_visible: bool                 # the whole MRZ block inside the frame and uncovered
    tags: dict[str, object] = field(default_factory=dict)
    qr_visible: bool = True           # every QR inside the frame and uncovered


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _security_background(w: int, h: int, rng: random.Random) -> np.ndarray:
    """A tint with a rosette of interfering rings and a faint hatching, drawn at half size."""
    hw, hh = w // 2, h // 2
    y, x = np.mgrid[0:hh, 0:hw].astype(np.float32)
    cx, cy = rng.uniform(0.2, 0.8) * hw, rng.uniform(0.1, 0.5) * hh
    r, th = np.hypot(x - cx, y - cy), np.arctan2(y - cy, x - cx)
    wave = np.sin(r * rng.uniform(0.18, 0.35) + rng.uniform(2, 5) * np.sin(th * rng.randint(5, 11)))
    rings = (np.abs(wave) < 0.12).astype(np.float32)
    hatch = (np.sin((x + y * rng.uniform(0.3, 1.5)) * rng.uniform(0.6, 1.1)) > 0.85).astype(np.float32)
    tint = np.array(rng.choice(_TINTS), np.float32)
    ink = np.array([rng.randint(120, 190) for _ in range(3)], np.float32)
    grad = (0.85 + 0.15 * x / hw)[..., None]
    img = tint * grad + (ink - tint) * (0.35 * rings + 0.12 * hatch)[..., None]
    return cv2.resize(np.clip(img, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)


def _qr(payload: str | bytes, size: int, ink: tuple[int, int, int]) -> np.ndarray:
    q = segno.make_qr(payload, error="q" if isinstance(payload, str) else "l")
    m = np.array(list(q.matrix_iter(scale=1, border=3)), dtype=np.uint8)
    img = cv2.resize(m * 255, (size, size), interpolation=cv2.INTER_NEAREST)
    out = np.full((size, size, 3), 252, np.uint8)
    out[img > 0] = ink
    return out


def _mrz_lines(rng: random.Random) -> list[str]:
    yy = rng.randint(40, 99)
    birth = f"{yy:02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    vig = rng.randint(2027, 2035)
    return list(compose_ine_td1(
        cic=f"{rng.randint(0, 10**9 - 1):09d}", ocr=f"{rng.randint(0, 10**13 - 1):013d}",
        birth_date=birth, sex=rng.choice("HM"), expiry_date=f"{vig % 100:02d}1231",
        emision=f"{rng.randint(0, 3):02d}", extra=f"{rng.randint(0, 99999):05d}",
        apellido_paterno=rng.choice(_SURNAMES), apellido_materno=rng.choice(_SURNAMES),
        nombres=rng.choice(_NAMES)))


def _draw_mrz(canvas: np.ndarray, lines: list[str], font_key: str, ppmm: float,
              rng: random.Random) -> np.ndarray:
    """Each character centred in its own 2.45-2.62 mm cell; ink spread or thinned. Returns the
    block's corners (card px)."""
    ss = 2                                                  # drawn at twice the size, then reduced
    cap_px = rng.uniform(2.2, 2.7) * ppmm * ss
    pitch = rng.uniform(2.45, 2.62) * ppmm * ss
    step = rng.uniform(4.3, 5.0) * ppmm * ss
    probe = _font(FONTS[font_key], 200)
    top, bottom = probe.getbbox("H")[1], probe.getbbox("H")[3]
    f = _font(FONTS[font_key], max(8, round(200 * cap_px / (bottom - top))))
    f_top = f.getbbox("H")[1]
    h, w = canvas.shape[:2]
    x0 = w * ss / 2 - 15 * pitch + rng.uniform(-0.8, 0.8) * ppmm * ss
    y_mid0 = rng.uniform(0.715, 0.73) * h * ss
    layer = Image.new("L", (w * ss, h * ss), 0)
    d = ImageDraw.Draw(layer)
    bold = rng.random() < 0.3
    for i, line in enumerate(lines):
        yc = y_mid0 + i * step
        for k, ch in enumerate(line):
            cx = x0 + (k + 0.5) * pitch
            d.text((cx - f.getlength(ch) / 2, yc - cap_px / 2 - f_top), ch, font=f, fill=255,
                   stroke_width=1 if bold else 0, stroke_fill=255)
    ink = np.asarray(layer, np.float32) / 255
    spread = rng.uniform(0.6, 1.6)
    ink = cv2.GaussianBlur(ink, (0, 0), spread)
    level = rng.uniform(0.3, 0.6)                            # below 0.5 spreads, above thins
    ink = np.clip((ink - level) / 0.25 + 0.5, 0, 1)
    ink = cv2.resize(ink, (w, h), interpolation=cv2.INTER_AREA)[..., None]
    colour = np.array([rng.randint(15, 45), rng.randint(15, 45), rng.randint(25, 70)], np.float32)
    canvas[:] = (canvas * (1 - ink) + colour * ink).astype(np.uint8)
    xa, xb = x0 / ss, (x0 + 30 * pitch) / ss
    ya, yb = (y_mid0 - cap_px / 2) / ss, (y_mid0 + 2 * step + cap_px / 2) / ss
    return np.array([[xa, ya], [xb, ya], [xb, yb], [xa, yb]], np.float32)


def _decorations(img: Image.Image, model: str, rng: random.Random) -> None:
    d = ImageDraw.Draw(img)
    w, h = img.size
    small = _font(_SANS, max(9, w // 85))
    if model in "EF":
        x = 0.23 * w                                        # a CIC barcode of random bars
        while x < 0.58 * w:
            bw = rng.choice((1, 2, 3)) * w / 512
            d.rectangle((x, 0.06 * h, x + bw, 0.15 * h), fill=(25, 25, 40))
            x += bw + rng.choice((1, 2, 3)) * w / 512
        for row in range(12):                               # a PDF417-like block of bar rows
            y = 0.19 * h + row * 0.021 * h
            x = 0.23 * w
            while x < 0.58 * w:
                bw = rng.uniform(0.002, 0.008) * w
                if rng.random() < 0.5:
                    d.rectangle((x, y, x + bw, y + 0.018 * h), fill=(30, 30, 45))
                x += bw
        c = (0.70 * w, 0.25 * h)                            # a fingerprint: a swirl of rings
        for r in range(4, int(0.09 * w), 5):
            d.arc((c[0] - r * 0.8, c[1] - r, c[0] + r * 0.8, c[1] + r), rng.randint(0, 90),
                  rng.randint(270, 360), fill=(90, 80, 100), width=2)
        d.text((0.04 * w, 0.36 * h), "FIRMA DEL TITULAR", font=small, fill=(110, 60, 90))
    grid = (0.80, 0.06, 0.97, 0.58) if model in "EF" else (0.60, 0.06, 0.97, 0.36)
    cols, rows = (3, 6) if model in "EF" else (6, 3)
    gw, gh = (grid[2] - grid[0]) * w / cols, (grid[3] - grid[1]) * h / rows
    for r in range(rows):
        for k in range(cols):
            x0, y0 = grid[0] * w + k * gw, grid[1] * h + r * gh
            d.rounded_rectangle((x0 + 3, y0 + 3, x0 + gw - 3, y0 + gh - 3), radius=4,
                                outline=(140, 90, 120), width=1)
            d.text((x0 + gw / 2 - 6, y0 + gh / 2 - 6), str(r * cols + k + 1), font=small,
                   fill=(140, 90, 120))
    mark = _font(_SERIF, max(20, w // 14))
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((0.30 * w, 0.38 * h), "MUESTRA", font=mark, fill=(180, 30, 60, 80))
    img.alpha_composite(layer.rotate(rng.uniform(-20, 20), center=(w / 2, h / 2)))


def render_other_back(seed: int, font_key: str = "ocrb", model: str | None = None) -> OtherBack:
    rng = random.Random(f"otherback:{seed}:{font_key}")
    model = model or rng.choice("EFGH")
    w = rng.choice((900, 1011, 1100, 1200))
    h = round(w * CARD_MM[1] / CARD_MM[0])
    ppmm = w / CARD_MM[0]
    canvas = _security_background(w, h, rng)
    ink = (rng.randint(10, 40), rng.randint(10, 40), rng.randint(40, 80))
    payloads: list[bytes] = []
    url = (f"http://qr.ine.mx/{rng.randint(0, 10**24 - 1):024d}/20{rng.randint(14, 24)}0"
           f"{rng.randint(1, 9)}1{rng.randint(0, 9)}/P/{rng.randint(0, 999999):06d}")
    places = [(url, 0.04, 0.06, 0.158)] if model in "EF" else \
        [(rng.randbytes(150), 0.04, 0.06, 0.252), (rng.randbytes(150), 0.31, 0.06, 0.252),
         (url, 0.82, 0.40, 0.139)]
    qr_blocks = []
    for payload, fx, fy, fs in places:
        size = round(fs * w)
        x, y = round(fx * w), round(fy * h)
        canvas[y:y + size, x:x + size] = _qr(payload, size, ink)
        payloads.append(payload.encode() if isinstance(payload, str) else payload)
        qr_blocks.append(np.float32([[x, y], [x + size, y], [x + size, y + size], [x, y + size]]))
    img = Image.fromarray(canvas).convert("RGBA")
    _decorations(img, model, rng)
    out = np.asarray(img.convert("RGB")).copy()
    if rng.random() < 0.5:                                  # a light band under the MRZ, or none
        out[round(0.655 * h):round(0.97 * h), round(0.03 * w):round(0.97 * w)] = rng.randint(238, 252)
    lines = _mrz_lines(rng)
    block = _draw_mrz(out, lines, font_key, ppmm, rng)
    return OtherBack(out, lines, payloads, font_key, block, qr_blocks)


# -- photographing ---------------------------------------------------------------------------

def _table(kind: str, rng: random.Random, nprng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:FRAME_H, 0:FRAME_W].astype(np.float32)
    if kind == "light":
        base = np.array([rng.randint(215, 245)] * 3, np.float32) + [rng.randint(-6, 6) for _ in range(3)]
        vignette = 1 - 0.12 * (((x - 640) / 640) ** 2 + ((y - 360) / 360) ** 2)
        img = base * vignette[..., None]
    elif kind == "dark":
        img = np.array([rng.randint(15, 50) for _ in range(3)], np.float32) + 6 * np.sin(x * 0.01)[..., None]
    elif kind == "wood":
        warp = cv2.resize(nprng.normal(0, 1, (9, 16)).astype(np.float32), (FRAME_W, FRAME_H),
                          interpolation=cv2.INTER_CUBIC) * rng.uniform(20, 60)
        grain = np.sin((y + warp) * rng.uniform(0.05, 0.12)) * 0.5 + 0.5
        light, dark = np.array([190, 140, 90], np.float32), np.array([120, 75, 40], np.float32)
        img = dark + (light - dark) * grain[..., None] * rng.uniform(0.7, 1.0)
    else:                                                   # cloth: a woven check
        p = rng.uniform(3.5, 8)
        weave = (np.sin(x * 2 * np.pi / p) * np.sin(y * 2 * np.pi / p) > 0).astype(np.float32)
        col = np.array([rng.randint(40, 200) for _ in range(3)], np.float32)
        img = col * (0.85 + 0.15 * weave)[..., None]
    img = img + nprng.normal(0, 3, (FRAME_H, FRAME_W, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _pose(back: OtherBack, rng: random.Random, cut: bool) -> tuple[np.ndarray, float, float]:
    """Card corners in the frame (TL TR BR BL of the card), angle and px per mm."""
    h, w = back.image.shape[:2]
    angle = rng.uniform(-35, 35) + (180 if rng.random() < 0.15 else 0)
    ppmm = rng.uniform(5, 14)
    for _ in range(40):
        cw, ch = CARD_MM[0] * ppmm, CARD_MM[1] * ppmm
        a = np.deg2rad(angle)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        rect = np.array([[-cw / 2, -ch / 2], [cw / 2, -ch / 2], [cw / 2, ch / 2], [-cw / 2, ch / 2]])
        rect += np.array([[rng.uniform(-0.035, 0.035) * cw, rng.uniform(-0.035, 0.035) * ch]
                          for _ in range(4)])
        centre = np.array([FRAME_W / 2 + rng.uniform(-0.1, 0.1) * FRAME_W,
                           FRAME_H / 2 + rng.uniform(-0.08, 0.08) * FRAME_H])
        if cut:                                             # the top of the card leaves the frame
            centre += rot @ np.array([0.0, -ch * rng.uniform(0.25, 0.45)])
        pts = rect @ rot.T + centre
        m = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), pts.astype(np.float32))
        block = cv2.perspectiveTransform(back.mrz_block.reshape(-1, 1, 2), m).reshape(-1, 2)
        inside = lambda p: bool((p[:, 0] > 4).all() and (p[:, 0] < FRAME_W - 4).all()  # noqa: E731
                                and (p[:, 1] > 4).all() and (p[:, 1] < FRAME_H - 4).all())
        if inside(block) and (cut or inside(pts)):
            return pts.astype(np.float32), angle, ppmm
        ppmm *= 0.93                                        # too big for this pose: step back
    return pts.astype(np.float32), angle, ppmm


def _hand(img: np.ndarray, pts: np.ndarray, rng: random.Random) -> np.ndarray:
    """A hand holding the card by its top edge: palm beyond it, fingers over the top part."""
    tl, tr, br, bl = pts
    t = rng.uniform(0.2, 0.8)
    edge = tl + (tr - tl) * t
    up = (tl + tr) / 2 - (bl + br) / 2
    up /= np.linalg.norm(up)
    ch = np.linalg.norm(tl - bl)
    palm = edge + up * 0.25 * ch
    mask = np.zeros(img.shape[:2], np.uint8)
    ang = np.degrees(np.arctan2(up[1], up[0]))
    cv2.ellipse(mask, (int(palm[0]), int(palm[1])), (int(0.35 * ch), int(0.22 * ch)), ang, 0, 360, 255, -1)
    side = np.array([-up[1], up[0]])
    for f in range(4):
        base = palm + side * (f - 1.5) * 0.09 * ch
        tip = base - up * rng.uniform(0.45, 0.6) * ch
        cv2.line(mask, (int(base[0]), int(base[1])), (int(tip[0]), int(tip[1])), 255, max(6, int(0.075 * ch)))
    skin = np.array([rng.randint(150, 225), rng.randint(100, 165), rng.randint(75, 130)], np.float32)
    soft = cv2.GaussianBlur(mask, (0, 0), 2).astype(np.float32)[..., None] / 255
    shade = 0.8 + 0.2 * cv2.GaussianBlur(mask, (0, 0), 15).astype(np.float32)[..., None] / 255
    return (img * (1 - soft) + skin * shade * soft).astype(np.uint8)


def _effect(img: np.ndarray, kind: str, rng: random.Random, nprng: np.random.Generator) -> np.ndarray:
    out = img.astype(np.float32)
    if kind == "blur":
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(1.0, 2.2))
    elif kind == "motion_blur":
        k = rng.randint(5, 11)
        kern = np.zeros((k, k), np.float32)
        cv2.line(kern, (0, k // 2), (k - 1, k // 2), 1.0, 1)
        rot = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), rng.uniform(0, 180), 1)
        kern = cv2.warpAffine(kern, rot, (k, k))
        out = cv2.filter2D(out, -1, kern / kern.sum())
    elif kind == "noise":
        out += nprng.normal(0, rng.uniform(5, 12), out.shape).astype(np.float32)
    elif kind == "glare":
        y, x = np.mgrid[0:FRAME_H, 0:FRAME_W].astype(np.float32)
        cx, cy = rng.uniform(300, 980), rng.uniform(150, 570)
        out += (np.exp(-(((x - cx) / rng.uniform(70, 180)) ** 2 + ((y - cy) / rng.uniform(50, 110)) ** 2))
                * rng.uniform(120, 220))[..., None]
    elif kind == "low_light":
        out = out * rng.uniform(0.25, 0.45) + nprng.normal(0, 2.5, out.shape).astype(np.float32)
    elif kind == "jpeg":
        _, buf = cv2.imencode(".jpg", np.clip(out, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY,
                                                                                  rng.randint(35, 70)])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def _in_frame(quad: np.ndarray) -> bool:
    return bool((quad[:, 0] > 2).all() and (quad[:, 0] < FRAME_W - 2).all()
                and (quad[:, 1] > 2).all() and (quad[:, 1] < FRAME_H - 2).all())


def _covered(quad: np.ndarray, touched: np.ndarray) -> bool:
    poly = np.zeros((FRAME_H, FRAME_W), np.uint8)
    cv2.fillConvexPoly(poly, quad.astype(np.int32), 1)
    return bool(touched[poly > 0].any())


def other_frame(seed: int, font_key: str = "ocrb") -> OtherFrame:
    """One photographed back by the other hand; `seed` decides everything."""
    rng = random.Random(f"otherframe:{seed}:{font_key}")
    nprng = np.random.default_rng(seed)
    back = render_other_back(seed, font_key)
    kind = rng.choice(("light", "dark", "wood", "cloth"))
    cut = rng.random() < 0.25
    pts, angle, ppmm = _pose(back, rng, cut)
    h, w = back.image.shape[:2]
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), pts)
    table = _table(kind, rng, nprng)
    card = cv2.warpPerspective(back.image, m, (FRAME_W, FRAME_H), flags=cv2.INTER_AREA)
    alpha = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (FRAME_W, FRAME_H))
    a = alpha.astype(np.float32)[..., None] / 255
    img = (table * (1 - a) + card * a).astype(np.uint8)
    block = cv2.perspectiveTransform(back.mrz_block.reshape(-1, 1, 2), m).reshape(-1, 2)
    qrs = [cv2.perspectiveTransform(q.reshape(-1, 1, 2), m).reshape(-1, 2) for q in back.qr_blocks]
    visible = _in_frame(block)
    qr_visible = all(_in_frame(q) for q in qrs)
    hand = rng.random() < 0.2
    if hand:
        covered_before = img.copy()
        img = _hand(img, pts, rng)
        touched = np.abs(img.astype(int) - covered_before).sum(axis=2) > 0
        visible = visible and not _covered(block, touched)
        qr_visible = qr_visible and not any(_covered(q, touched) for q in qrs)
    effects = [] if rng.random() < 0.35 else [rng.choice(("blur", "motion_blur", "noise", "glare",
                                                          "low_light", "jpeg"))]
    for e in effects:
        img = _effect(img, e, rng, nprng)
    tags: dict[str, object] = {"background": kind, "angle": round(angle), "px_per_mm": round(ppmm, 1),
                               "cut": cut, "hand": hand, "effects": effects, "font": font_key}
    return OtherFrame(img, back, pts, visible, tags, qr_visible)


if __name__ == "__main__":
    # `python bench/other_backs.py OUT_DIR [N]`: write N such frames as PNG, to look at them.
    import sys
    from pathlib import Path

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("other_backs")
    out.mkdir(parents=True, exist_ok=True)
    for s in range(int(sys.argv[2]) if len(sys.argv) > 2 else 4):
        fr = other_frame(s)
        cv2.imwrite(str(out / f"other_back_{s:03d}.png"), cv2.cvtColor(fr.image, cv2.COLOR_RGB2BGR))
    print(f"frames written to {out}")
