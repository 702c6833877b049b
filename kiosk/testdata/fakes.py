"""The genuine card and honest fakes of it, as physical sheets photographed by a camera model.

`make_fake(kind, seed, side, resolution)` returns a `Shot`: the frame a small
camera delivers (kiosk/testdata/camera_model.py, camera_isp.py), the card
picture's true corners in it, and every drawn parameter. `make_shots` gives the
preview and the still of one scene; `tilt_sequence` a short clip of the same
sheet tilting by a few degrees, with the true pose per frame. The card art is
the project's own (kiosk/testdata/cards.py `sample_card(seed)`), 12 px per mm.

What each kind is, physically (and what it is not):

* `genuine`: the laminated card. Its print is continuous-tone at camera scale
  (offset and dye-sublimation under the laminate); the laminate is a clear
  layer (Fresnel F0 0.04-0.05, a roughness of 1.5-8 degrees) that mirrors the
  key lamp, a window and the room, so speculars move with tilt; the outline
  has rounded corners (r 3.18 mm); 60 % carry a diffractive patch whose hue
  follows the reflected direction. Not modelled: the real card's microprint and
  guilloche finer than the art, embossing, the laminate's thickness at its edge.
* `photocopy_grey`: a mono office copier's output of the card laid on its
  glass. Scan (lid-white around the card, the card's edge a shadow line,
  softness), luminance, copier tone curve (contrast up, light tints dropped),
  a black-toner AM screen at 1200 dpi (106-170 lpi at 45 degrees, 30 % a line
  screen), toner spread, mottle and stray specks, on paper (bluish brightened,
  neutral or cream: the only colour on the sheet). Cut out, or on an A4 page
  with the other side below it. Matte (Lambertian).
* `photocopy_colour`: the same through a colour copier: saturation and tone
  changed, CMYK toner AM rosette (141-193 lpi; C 15, M 75, Y 0, K 45 degrees,
  as rational-tangent screens).
* `print_laser`: the forger's digital copy (a photo or scan: softer, colour and
  tone off, JPEG'd) printed by a colour laser: same engine as the colour copier.
* `print_inkjet`: the digital copy printed by an inkjet: CMYK drops of three
  sizes on a blue-noise stochastic screen at 600 dpi (no periodic structure),
  ink spreading into the paper; 40 % on glossy photo paper (denser inks, a
  specular surface like a laminate), else plain paper (weaker inks, matte).
* `screen_phone|tablet|laptop|monitor`: the digital copy shown on a display:
  real pixel pitches (phone 0.045-0.08 mm, mostly OLED diamond PenTile;
  tablet 0.085-0.1 mm; laptop 0.11-0.2 mm; monitor 0.155-0.3 mm; LCD RGB
  stripes with a black matrix), display gamma, white point 6500-8500 K, LCD
  black leak, its own luminance (200-650 nits) whatever the room's light;
  glass (glossy, or matte anti-glare on most monitors) reflecting the lamps and
  the room; a bezel; the card shown at 0.9-3x its size on the large screens.
  Not modelled: viewing-angle colour shifts, PWM flicker, polariser effects,
  the anti-glare layer's sparkle, moiré between a screen and its own content.

Not modelled for paper: fluorescence of brighteners, curl beyond a small lift,
the sheen of fused toner, ink metamerism (inks are RGB transmittances).
Seeds: the card art comes from `sample_card(seed)`; each kind's scene from
its own streams, so kinds with one seed share the card, not the scene.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field, replace
from functools import cache, lru_cache

import cv2
import numpy as np

from kiosk.testdata import fake_prints as P
from kiosk.testdata.camera_model import (
    Pose,
    Render,
    Scene,
    Sheet,
    Surface,
    draw_scene,
    render,
    srgb_to_linear,
    tilted,
)
from kiosk.testdata.cards import sample_card

KINDS = ("genuine", "photocopy_grey", "photocopy_colour", "screen_phone", "screen_tablet",
         "screen_laptop", "screen_monitor", "print_inkjet", "print_laser")
PAPER_KINDS = ("photocopy_grey", "photocopy_colour", "print_inkjet", "print_laser")
SCREEN_KINDS = ("screen_phone", "screen_tablet", "screen_laptop", "screen_monitor")
A4 = (210.0, 297.0)

# pitch mm, active long / short side mm, bezel mm, corner radius mm, nits, white K, layouts, lift mm,
# share with a matte anti-glare surface.
DEVICES = {
    "screen_phone": ((0.045, 0.08), (135, 155), (62, 72), (1.5, 4), (6, 10), (300, 650), (6500, 8500),
                     ("pentile", "pentile", "stripe"), (15, 60), 0.0),
    "screen_tablet": ((0.085, 0.1), (200, 250), (140, 175), (6, 12), (5, 10), (300, 500), (6500, 7800),
                      ("stripe", "stripe", "pentile"), (15, 60), 0.1),
    "screen_laptop": ((0.11, 0.2), (290, 345), (180, 200), (5, 10), (3, 6), (250, 400), (6500, 7500),
                      ("stripe",), (40, 120), 0.5),
    "screen_monitor": ((0.155, 0.3), (520, 600), (290, 340), (8, 20), (2, 4), (200, 350), (6500, 7500),
                       ("stripe",), (80, 200), 0.8),
}


@dataclass
class Shot:
    frame: np.ndarray            # RGB uint8
    corners: np.ndarray          # (4, 2) float32, TL TR BR BL of the card picture
    kind: str
    side: str
    seed: int
    resolution: str | tuple[int, int]   # "preview", "still" or a full-field (w, h)
    px_per_mm: float
    pose: Pose
    t: float = 0.0               # seconds into a sequence
    params: dict = field(default_factory=dict)


@lru_cache(maxsize=4)
def card_art(seed: int) -> tuple[np.ndarray, np.ndarray]:
    front, back, _ = sample_card(seed)
    return front, back


def genuine_sheet(card: np.ndarray, rng: random.Random) -> Sheet:
    lin = P.card_lin(card, rng.uniform(0.8, 0.9))
    fine = np.clip(cv2.resize(lin, (2048, 1292), interpolation=cv2.INTER_CUBIC), 0, 1)
    grain = np.random.default_rng(rng.randrange(1 << 30)).normal(1, 0.006, fine.shape[:2]).astype(np.float32)
    fine = fine * grain[..., None]
    outline = P.rounded_rect(*P.CARD_MM, 3.18)
    ovd = None
    if rng.random() < 0.6:
        w, h = rng.uniform(10, 16), rng.uniform(8, 12)
        x, y = rng.choice((rng.uniform(3, 28), rng.uniform(55, 72))), rng.uniform(26, 40)
        ovd = P.rounded_rect(w, h, 1.5, x, y, 3)
    params = {"laminate_roughness_deg": rng.uniform(1.5, 8), "ovd": ovd is not None,
              "ovd_phase": rng.uniform(0, 1)}
    laminate = Surface("gloss", rng.uniform(0.04, 0.05), params["laminate_roughness_deg"])
    coarse = cv2.resize(lin, (342, 216), interpolation=cv2.INTER_AREA)
    return Sheet("genuine", outline, _card_box(0, 0), coarse, 342 / P.CARD_MM[0], laminate,
                 fine=fine, fine_ppmm=2048 / P.CARD_MM[0], fine_outline_mm=outline, ovd_mm=ovd,
                 lift_mm=0.76, params=params)


def _card_box(x0: float, y0: float, w: float = P.CARD_MM[0], h: float = P.CARD_MM[1]) -> np.ndarray:
    return np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]])


def _paper_source(kind: str, card: np.ndarray, margin: float, rng: random.Random) -> np.ndarray:
    """sRGB float picture of what the device prints, card plus `margin` mm of blank around."""
    if kind.startswith("photocopy"):
        scanned = P.scan(card, margin, rng)
        return P.copier_grey(scanned, rng) if kind == "photocopy_grey" else P.copier_colour(scanned, rng)
    m = round(margin * P.ART_PPMM)
    h, w = card.shape[:2]
    canvas = np.full((h + 2 * m, w + 2 * m, 3), 255.0, np.float32)
    canvas[m:m + h, m:m + w] = P.digital_copy(card, rng)
    cov = P.card_mask(canvas.shape[:2], P.ART_PPMM, m / P.ART_PPMM)[..., None]
    return canvas * cov + 255 * (1 - cov)


def paper_sheet(kind: str, card: np.ndarray, other: np.ndarray, rng: random.Random) -> Sheet:
    params: dict = {}
    margin = 1.5
    src = _paper_source(kind, card, margin, rng)
    photo = kind == "print_inkjet" and rng.random() < 0.4
    fine = P.inkjet(src, rng, params, photo) if kind == "print_inkjet" else \
        P.laser(src, rng, params, mono=kind == "photocopy_grey")
    fine_ppmm = fine.shape[1] / (P.CARD_MM[0] + 2 * margin)
    paper = np.array(params["paper"], np.float32)
    on_page = rng.random() < 0.5
    if on_page:
        size = A4
        x0, y0 = rng.uniform(15, 100), rng.uniform(15, 60)
        outline = _card_box(0, 0, *A4)
    else:
        c = rng.uniform(0.3, 2.5)
        size = (P.CARD_MM[0] + 2 * c, P.CARD_MM[1] + 2 * c)
        x0, y0 = c, c
        cut = np.array([[rng.uniform(-0.6, 0.6) for _ in range(2)] for _ in range(4)])    # scissors
        outline = _card_box(0, 0, *size) + cut
    cp = 4.0
    albedo = np.empty((round(size[1] * cp), round(size[0] * cp), 3), np.float32)
    albedo[:] = paper

    def paste(img: np.ndarray, ppmm: float, x: float, y: float) -> None:
        w, h = round(img.shape[1] / ppmm * cp), round(img.shape[0] / ppmm * cp)
        xi, yi = round(x * cp), round(y * cp)
        small = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        hh, ww = albedo[yi:yi + h, xi:xi + w].shape[:2]
        albedo[yi:yi + h, xi:xi + w] = small[:hh, :ww]

    paste(fine, fine_ppmm, x0 - margin, y0 - margin)
    if on_page and kind.startswith("photocopy"):       # a copy of an ID: both sides on one page
        back = _paper_source(kind, other, margin, rng)
        paste(paper * srgb_to_linear(np.clip(back, 0, 255) / 255), P.ART_PPMM, x0 - margin,
              y0 + P.CARD_MM[1] + rng.uniform(8, 25) - margin)
    surface = Surface("gloss", 0.05, rng.uniform(2, 7)) if photo else Surface("matte")
    params.update({"on_page": on_page, "margin_mm": margin})
    lift = rng.uniform(0.1, 0.6) if on_page else rng.uniform(0.3, 2)
    return Sheet(kind, outline, _card_box(x0, y0), albedo, cp, surface, fine=fine, fine_ppmm=fine_ppmm,
                 fine_origin_mm=(x0 - margin, y0 - margin), lift_mm=lift, params=params)


@cache
def mask_tile(layout: str, sigma: float) -> np.ndarray:
    """One 2x2-pixel supercell of a display's sub-pixel apertures (16 samples per pixel, per
    channel, mean 1), band-limited by a Gaussian footprint of `sigma` pixels."""
    n = 32
    y, x = (np.mgrid[0:n, 0:n] + 0.5) / 16
    fx, fy = x % 1, y % 1
    out = np.zeros((n, n, 3), np.float64)
    if layout == "stripe":
        for c in range(3):
            out[..., c] = (fx >= 0.03 + c / 3) & (fx < 0.30 + c / 3) & (fy >= 0.08) & (fy < 0.92)
    else:   # diamond PenTile: a green per pixel, red and blue diamonds shared on the pixel corners
        out[..., 1] = ((fx - 0.5) / 0.17) ** 2 + ((fy - 0.5) / 0.21) ** 2 < 1
        for c, pts, r in ((0, ((0, 0), (1, 1)), 0.28), (2, ((1, 0), (0, 1)), 0.34)):
            for px, py in pts:
                dx, dy = (x - px + 1) % 2 - 1, (y - py + 1) % 2 - 1
                out[..., c] += np.abs(dx) + np.abs(dy) < r
    out /= out.mean(axis=(0, 1))
    f = np.fft.fftfreq(n, d=1 / 16)
    g = np.exp(-2 * np.pi ** 2 * sigma ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    for c in range(3):
        out[..., c] = np.real(np.fft.ifft2(np.fft.fft2(out[..., c]) * g))
    return out.astype(np.float32)


@dataclass
class SubpixelEmitter:
    """A display's light at sheet points: the framebuffer (linear, 0..1) through the sub-pixel
    apertures, both band-limited by the camera's footprint."""
    fb: np.ndarray                # (rows, cols, 3) framebuffer, linear
    origin_mm: tuple[float, float]  # corner of pixel (0, 0)
    pitch: float
    layout: str
    black: float

    def __call__(self, u: np.ndarray, v: np.ndarray, footprint_mm: float) -> np.ndarray:
        sig = footprint_mm / self.pitch
        s = (u - np.float32(self.origin_mm[0])) / np.float32(self.pitch)
        t = (v - np.float32(self.origin_mm[1])) / np.float32(self.pitch)
        fb = cv2.GaussianBlur(self.fb, (0, 0), math.sqrt(sig * sig - 0.2)) if sig > 0.5 else self.fb
        content = cv2.remap(fb, s - 0.5, t - 0.5, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        tile = mask_tile(self.layout, round(sig, 2))
        mask = cv2.remap(tile, np.mod(s, 2) * 16 - 0.5, np.mod(t, 2) * 16 - 0.5, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_WRAP)
        return (np.float32(self.black) + np.float32(1 - self.black) * content) * mask


def screen_sheet(kind: str, card: np.ndarray, rng: random.Random) -> Sheet:
    pitch_r, long_r, short_r, bezel_r, rad_r, nits_r, cct_r, layouts, lift_r, matte = DEVICES[kind]
    pitch, layout = rng.uniform(*pitch_r), rng.choice(layouts)
    long_, short, bezel = rng.uniform(*long_r), rng.uniform(*short_r), rng.uniform(*bezel_r)
    portrait = kind == "screen_phone" and rng.random() < 0.5
    aw, ah = (short, long_) if portrait else (long_, short)
    ratio = P.CARD_MM[1] / P.CARD_MM[0]
    if kind == "screen_phone":
        cw = aw * rng.uniform(0.9, 0.98) if portrait else min(ah * rng.uniform(0.85, 0.95) / ratio, aw * 0.95)
    else:
        cw = rng.uniform(P.CARD_MM[0] * 0.9, min(0.9 * aw, 0.9 * ah / ratio, 260.0))
    gamma, black = rng.uniform(2.1, 2.4), (0.0 if layout == "pentile" else rng.uniform(0.0007, 0.0015))
    bg = rng.choice((0.0, 0.0, 0.0, 1.0, 0.15))
    # Framebuffer over the card plus 1.5 mm: the viewer's background and the picture, in pixels.
    cols, rows = round(cw / pitch), round(cw * ratio / pitch)
    m = round(1.5 / pitch)
    fb = np.full((rows + 2 * m, cols + 2 * m, 3), bg, np.float32)
    pic = P.digital_copy(card, rng).astype(np.float32)
    corner = P.card_mask(pic.shape[:2], P.ART_PPMM, 0.0)[..., None]
    pic = pic * corner + np.float32(rng.uniform(20, 120)) * (1 - corner)   # the forger's table in the corners
    interp = cv2.INTER_AREA if cols < pic.shape[1] else cv2.INTER_CUBIC
    fb[m:m + rows, m:m + cols] = np.clip(cv2.resize(pic, (cols, rows), interpolation=interp), 0, 255) / 255
    fb = fb ** np.float32(gamma)
    ox = bezel + (aw - cols * pitch) / 2 + rng.uniform(-0.05, 0.05) * (aw - cols * pitch) - m * pitch
    oy = bezel + (ah - rows * pitch) / 2 + rng.uniform(-0.1, 0.1) * (ah - rows * pitch) - m * pitch
    card = _card_box(ox + m * pitch, oy + m * pitch, cols * pitch, rows * pitch)
    size = (aw + 2 * bezel, ah + 2 * bezel)
    cp = 3.0
    shape = (round(size[1] * cp), round(size[0] * cp))
    albedo = np.full((*shape, 3), rng.uniform(0.03, 0.05), np.float32)
    emit = np.zeros((*shape, 3), np.float32)
    a0, a1 = round(bezel * cp), (round((bezel + aw) * cp), round((bezel + ah) * cp))
    albedo[a0:a1[1], a0:a1[0]] = 0.005 if layout == "pentile" else 0.015
    emit[a0:a1[1], a0:a1[0]] = black + (1 - black) * bg ** gamma
    fx, fy = round(ox * cp), round(oy * cp)
    small = cv2.resize(fb, (round(fb.shape[1] * pitch * cp), round(fb.shape[0] * pitch * cp)),
                       interpolation=cv2.INTER_AREA)
    emit[fy:fy + small.shape[0], fx:fx + small.shape[1]] = black + (1 - black) * small
    glossy = rng.random() >= matte
    surface = Surface("screen", rng.uniform(0.04, 0.05) if glossy else rng.uniform(0.02, 0.035),
                      rng.uniform(0.3, 1.5) if glossy else rng.uniform(10, 20),
                      rng.uniform(*nits_r), rng.uniform(*cct_r))
    params = {"pitch_mm": pitch, "layout": layout, "active_mm": [aw, ah], "card_width_mm": cols * pitch,
              "gamma": gamma, "background": bg, "glossy": glossy, "nits": surface.white_nits,
              "white_cct": surface.white_cct}
    emitter = SubpixelEmitter(fb, (ox, oy), pitch, layout, black)
    half = 0.5 * m * pitch
    fine_outline = _card_box(ox + half, oy + half, (cols + m) * pitch, (rows + m) * pitch)
    return Sheet(kind, P.rounded_rect(*size, rng.uniform(*rad_r)), card, albedo, cp, surface,
                 fine_outline_mm=fine_outline, emit=emit, emitter=emitter, lift_mm=rng.uniform(*lift_r),
                 params=params)


def build_sheet(kind: str, seed: int, side: str = "front") -> Sheet:
    """The physical object of one kind, made from the card of `seed`."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")
    front, back = card_art(seed)
    card, other = (front, back) if side == "front" else (back, front)
    rng = random.Random(f"sheet:{kind}:{seed}:{side}")
    if kind == "genuine":
        return genuine_sheet(card, rng)
    if kind in SCREEN_KINDS:
        return screen_sheet(kind, card, rng)
    return paper_sheet(kind, card, other, rng)


def make_scene(kind: str, seed: int, side: str = "front") -> Scene:
    sheet = build_sheet(kind, seed, side)
    return draw_scene(sheet, seed * 2 + (side == "back"), max_tilt_deg=15.0 if kind in SCREEN_KINDS else 10.0)


def _params(scene: Scene, r: Render) -> dict:
    sp = scene.sensor
    return {"sheet": scene.sheet.params, "light": asdict(scene.light), "optics": asdict(scene.optics),
            "sensor": {"gain": sp.gain, "awb_adapt": sp.awb_adapt, "awb_err": list(sp.awb_err),
                       "jpeg": [sp.jpeg_preview, sp.jpeg_still]},
            "surface": asdict(scene.sheet.surface), "render": r.info}


Resolution = str | tuple[int, int]


def shoot(scene: Scene, kind: str, seed: int, side: str, resolution: Resolution = "preview",
          frame_seed: int = 0, pose: Pose | None = None, exposure: float | None = None,
          t: float = 0.0) -> Shot:
    """Photograph a scene once (see camera_model.render)."""
    r = render(scene, resolution, frame_seed, pose, exposure)
    return Shot(r.frame, r.corners, kind, side, seed, resolution, r.px_per_mm, pose or scene.pose, t,
                _params(scene, r))


def make_fake(kind: str, seed: int, side: str = "front", resolution: Resolution = "preview") -> Shot:
    """One photograph of `kind` (see KINDS) made from the card of `seed`."""
    return shoot(make_scene(kind, seed, side), kind, seed, side, resolution)


def make_shots(kind: str, seed: int, side: str = "front",
               resolutions: tuple[Resolution, ...] = ("preview", "still")) -> list[Shot]:
    """The same scene at several camera modes (the sheet is built once)."""
    scene = make_scene(kind, seed, side)
    return [shoot(scene, kind, seed, side, res) for res in resolutions]


def _with_glare(scene: Scene) -> Scene:
    """Put the key lamp where the sheet mirrors it at the card's centre (tilting the sheet first
    if it faces the camera so squarely that the mirror shows only the kiosk's hood)."""
    pose, sheet = scene.pose, scene.sheet
    centre = sheet.card_mm.mean(axis=0)
    for _ in range(2):
        rot, t = pose.r, np.array(pose.t)
        p = rot @ np.array([centre[0], centre[1], 0.0]) + t
        v = -p / np.linalg.norm(p)
        n = -rot[:, 2] if rot[2, 2] > 0 else rot[:, 2]
        off = math.degrees(math.acos(float(np.clip(n @ v, -1, 1))))
        if off >= 5:
            break
        pose = tilted(pose, centre, 8.0 - off, 0.0)
    r = 2 * float(n @ v) * n - v
    key = (float(r[0]), float(r[1]), float(r[2]))
    hood = min(scene.light.hood_deg, 2 * off - 6)
    radius = min(max(scene.light.key_radius_deg, 3), 6)
    light = replace(scene.light, key_dir=key, hood_deg=max(hood, 0.0), key_lum=max(scene.light.key_lum, 80.0),
                    key_radius_deg=radius)
    return replace(scene, pose=pose, light=light)


def tilt_sequence(kind: str, seed: int, side: str = "front", n_frames: int = 12, fps: float = 15.0,
                  resolution: Resolution = "preview", glare: bool | None = None,
                  lock_exposure: bool = True) -> list[Shot]:
    """The same sheet held and tilted by a few degrees (a hand's slow wobble) over `n_frames`.

    Auto-exposure is locked on the first frame (`lock_exposure=False`: it meters every frame
    anew, as a free-running camera does); white balance runs per frame. `glare=True`
    puts the key lamp where the sheet mirrors it (so a specular is in view), `False` moves
    it far to the side, None keeps the drawn room."""
    scene = make_scene(kind, seed, side)
    if glare:
        scene = _with_glare(scene)
    elif glare is False:
        scene = replace(scene, light=replace(scene.light, key_dir=(0.94, 0.0, -0.342)))
    rng = random.Random(f"tilt:{kind}:{seed}:{side}")
    amp, axis = rng.uniform(3, 6), rng.uniform(0, 2 * math.pi)
    freq, phase = rng.uniform(0.5, 1.0), rng.uniform(0, 2 * math.pi)
    centre = scene.sheet.card_mm.mean(axis=0)
    shots: list[Shot] = []
    exposure = None
    for i in range(n_frames):
        t = i / fps
        a = amp * math.sin(2 * math.pi * freq * t + phase)
        pose = tilted(scene.pose, centre, a * math.cos(axis), a * math.sin(axis))
        shot = shoot(scene, kind, seed, side, resolution, i, pose, exposure, t)
        if lock_exposure and exposure is None:
            exposure = shot.params["render"]["exposure"]
        shots.append(shot)
    return shots
