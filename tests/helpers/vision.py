"""Frames for the vision tests and the benchmark, made from the synthetic cards.

Only what the tests need is generated (the back side, a few effects each), by
calling kiosk.testdata directly. The hard cases the generator does not make
itself are added here: a crumpled card (smooth random displacement with
shading), a card far away (small, hence a small QR), JPEG artefacts, and
frames made too dark, blurred, cut off or too far for the quality verdict.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import cv2
import numpy as np

from kiosk.testdata import variants as V
from kiosk.testdata.cards import sample_card

HARD = ("clean", "blur", "motion_blur", "noise", "glare", "low_light", "perspective", "crumpled",
        "small", "jpeg")


@dataclass
class Frame:
    name: str
    image: np.ndarray                  # RGB 1280x720
    truth: dict                        # the card's truth (sample_card)
    corners: np.ndarray | None         # card corners in the frame
    label: str = "genuine"
    effects: list[str] = field(default_factory=list)


def crumple(card: np.ndarray, rng: random.Random, strength: float = 1.0) -> np.ndarray:
    """A crumpled/bent card: smooth random displacement (a few px) and soft shading folds."""
    h, w = card.shape[:2]
    nprng = np.random.default_rng(rng.randint(0, 2**31))
    gh, gw = 5, 8
    dx = cv2.resize(nprng.normal(0, 4.0 * strength, (gh, gw)).astype(np.float32), (w, h),
                    interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(nprng.normal(0, 4.0 * strength, (gh, gw)).astype(np.float32), (w, h),
                    interpolation=cv2.INTER_CUBIC)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = cv2.remap(card, x + dx, y + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # Folds: brightness follows the slope of the displacement surface.
    shade = 1.0 + 0.05 * strength * (cv2.Sobel(dx + dy, cv2.CV_32F, 1, 1, ksize=5) / 40.0)
    shade = np.clip(shade + 0.06 * (dx - dx.mean()) / (np.abs(dx).max() + 1e-6), 0.8, 1.15)
    return np.clip(out.astype(np.float32) * shade[..., None], 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _perspective_place(card: np.ndarray, bg: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """A strong tilt: one side of the card much nearer than the other."""
    h, w = card.shape[:2]
    cw = V.FRAME_W * rng.uniform(0.5, 0.62)
    ch = cw * h / w
    cx, cy = V.FRAME_W / 2, V.FRAME_H / 2
    k = rng.uniform(0.12, 0.2) * rng.choice((-1, 1))
    pts = np.array([[cx - cw / 2, cy - ch / 2 * (1 - k)], [cx + cw / 2, cy - ch / 2 * (1 + k)],
                    [cx + cw / 2, cy + ch / 2 * (1 + k)], [cx - cw / 2, cy + ch / 2 * (1 - k)]])
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), pts.astype(np.float32))
    warped = cv2.warpPerspective(card, m, (V.FRAME_W, V.FRAME_H), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (V.FRAME_W, V.FRAME_H))
    a = (mask.astype(np.float32) / 255)[..., None]
    out = bg.astype(np.float32) * (1 - a) + warped.astype(np.float32) * a
    return out.astype(np.uint8), pts


def hard_back_frame(back: np.ndarray, truth: dict, kind: str, seed: int) -> Frame:
    """One photographed back with the named difficulty (see HARD)."""
    rng = random.Random(f"hard:{seed}:{kind}")
    nprng = np.random.default_rng(seed)
    card = back
    effects: list[str] = []
    if kind in ("blur", "motion_blur", "noise", "glare", "low_light"):
        effects = [kind]
    if kind == "crumpled":
        card = crumple(back, rng)
    bg, _ = V.background(rng, nprng)
    if kind == "perspective":
        frame, pts = _perspective_place(card, bg, rng)
    elif kind == "small":
        frame, pts = V.place(card, bg, rng, scale=(0.36, 0.42))
    else:
        frame, pts = V.place(card, bg, rng)
    frame = V.apply_effects(frame, pts, effects, rng, nprng)
    if kind == "jpeg":
        frame = jpeg(frame, rng.randint(25, 40))
    return Frame(f"{truth['card_id']}-{kind}", frame, truth, np.float32(pts), "genuine", [kind])


def genuine_back_frames(seeds: list[int], models: tuple[str, ...] = ("E", "F", "G", "H"),
                        kinds: tuple[str, ...] = HARD) -> list[Frame]:
    """For each seed one card (models in turn) and one frame per seed of the kinds in turn."""
    out = []
    for i, seed in enumerate(seeds):
        _, back, truth = sample_card(seed, models[i % len(models)])
        out.append(hard_back_frame(back, truth, kinds[i % len(kinds)], seed))
    return out


def refused_back_frames(seeds: list[int]) -> list[Frame]:
    """Backs of IFE-era cards (models C/D: no QR, no MRZ), photographed as genuine ones."""
    out = []
    for i, seed in enumerate(seeds):
        model = "CD"[i % 2]
        _, back, truth = sample_card(seed, model)
        rng = random.Random(f"old:{seed}")
        nprng = np.random.default_rng(seed)
        effects = [] if i % 3 else [rng.choice(V.EFFECTS)]
        v = V.photograph(back, "back", "no_qr", f"old-{seed}", rng, nprng, effects)
        out.append(Frame(f"{truth['card_id']}-no_qr", v.image, truth, np.float32(v.corners), "no_qr",
                         effects))
    return out


# -- frames for the quality verdict -------------------------------------------------------------

def too_dark(img: np.ndarray) -> np.ndarray:
    return np.clip(img.astype(np.float32) * 0.18, 0, 255).astype(np.uint8)


def blurred(img: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), 4.0)


def cut_off(img: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Shift the picture so that about a third of the card leaves the frame on the right."""
    x_max = float(corners[:, 0].max())
    width = x_max - float(corners[:, 0].min())
    shift = int(V.FRAME_W - x_max + width * 0.35)
    m = np.float32([[1, 0, shift], [0, 1, 0]])
    return cv2.warpAffine(img, m, (V.FRAME_W, V.FRAME_H), borderMode=cv2.BORDER_REFLECT)


def too_far(back: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = random.Random(f"far:{seed}")
    nprng = np.random.default_rng(seed)
    bg, _ = V.background(rng, nprng)
    frame, pts = V.place(back, bg, rng, scale=(0.18, 0.24))
    return frame, np.float32(pts)


# -- OCR-B glyph templates ----------------------------------------------------------------------

OCRB_FONT = "/usr/share/fonts/opentype/ocr-b/OCRB.otf"


def render_ocrb_glyphs(font_path: str = OCRB_FONT) -> np.ndarray:
    """The MRZ reader's templates, rendered from the OCR-B font (what ocrb_glyphs.py embeds).

    One cell per character of `mrz_reader.ALPHABET`, `GLYPH_W` x `GLYPH_H`, ink dark on 255,
    cap height `GLYPH_CAP` with its top at `GLYPH_TOP`; the cell is one advance (2.54 mm) wide.
    """
    from PIL import Image, ImageDraw, ImageFont

    from kiosk.mrz.glyphs import ALPHABET, GLYPH_CAP, GLYPH_H, GLYPH_TOP, GLYPH_W

    size = 400
    font = ImageFont.truetype(font_path, size)
    cap_top, base = font.getbbox("H")[1], font.getbbox("H")[3]
    s = GLYPH_CAP / (base - cap_top)
    adv = font.getlength("H")
    cw, ch = round(adv), round(GLYPH_H / s)
    out = np.zeros((len(ALPHABET), GLYPH_H, GLYPH_W), np.uint8)
    for i, c in enumerate(ALPHABET):
        img = Image.new("L", (cw, ch), 255)
        ImageDraw.Draw(img).text((0, GLYPH_TOP / s - cap_top), c, font=font, fill=0)
        out[i] = cv2.resize(np.asarray(img), (GLYPH_W, GLYPH_H), interpolation=cv2.INTER_AREA)
    return out


def variant_effects(rng: random.Random, i: int) -> list[str]:
    """Effects drawn as kiosk.testdata.variants.make_variants draws them (clean first)."""
    if i % 4 == 0:
        return []
    effects = rng.sample(V.EFFECTS, rng.randint(1, 2))
    if "blur" in effects and "motion_blur" in effects:
        effects.remove("motion_blur")
    return effects


def positive_back_frames(seeds: list[int], models: tuple[str, ...] = ("E", "F", "G", "H")) -> list[Frame]:
    """Genuine backs as the generator photographs them (background, pose, make_variants' effects),
    every fourth one with JPEG artefacts and every fifth one far away (small)."""
    out = []
    for i, seed in enumerate(seeds):
        _, back, truth = sample_card(seed, models[i % len(models)])
        rng = random.Random(f"pos:{seed}")
        nprng = np.random.default_rng(seed)
        effects = variant_effects(rng, i)
        bg, _ = V.background(rng, nprng)
        frame, pts = V.place(back, bg, rng, scale=(0.36, 0.45) if i % 5 == 4 else (0.45, 0.75))
        frame = V.apply_effects(frame, pts, effects, rng, nprng)
        if i % 4 == 3:
            frame = jpeg(frame, 60)
            effects = [*effects, "jpeg"]
        out.append(Frame(f"{truth['card_id']}-pos{i}", frame, truth, np.float32(pts), "genuine", effects))
    return out


def truth_payloads(truth: dict) -> set[bytes]:
    return {bytes.fromhex(q["payload"]) if q["mode"] == "bytes" else q["payload"].encode()
            for q in truth["qr"]}
