"""Harsh frames for the card finder: what a small camera sees at a real kiosk.

`harsh_frame(seed, side, scenario=...)` renders one RGB frame with the card's
true outline. Scenarios are named recipes (`SCENARIOS`) and combine with "+"
("hand+white_table+low_light"); None draws a random mix. Every frame also goes
through a small camera: shot and read noise, vignetting, a white balance a
little off, slight softness and phone-style JPEG at quality 50-85.

The truth:

- `corners`: the card's outline (TL TR BR BL of the card's own picture, so a
  card held upside down has TL at the bottom right), where its straight edges
  meet. ID-1 cards have rounded corners (r 3.18 mm) and are drawn so: the
  corner point itself is never ink, as on a real card.
- `cut`: a corner lies outside the frame (`corners_inside` is the test).
  Only the "cut" scenario does that; the others keep the card inside.
- `visible_mask` / `card_visible_fraction`: the card's pixels not covered by a
  hand or clutter (shadows and glare do not count), over the card's whole area.

Deterministic from (seed, side, scenario, size), whatever OpenCV's thread count.
A 1280x720 frame costs about 42 ms of CPU (median; p95 57 ms, hands and
clutter the dearest) on the 2-core development machine under load; the card
pictures are rendered once each (~0.2 s).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cache, lru_cache

import cv2
import numpy as np

from kiosk.testdata import harsh_scene as S
from kiosk.testdata.cards import sample_card

SCENARIOS = ("hand", "fingers_corner", "clutter", "white_table", "grey_table", "wood", "cloth",
             "hard_shadow", "soft_shadow", "glare", "fill_frame", "cut", "perspective", "rotation",
             "portrait", "defocus", "motion_blur", "low_light")
TABLE_SCENARIOS = ("white_table", "grey_table", "wood", "cloth")
_GEOMETRY = ("fill_frame", "cut", "portrait", "rotation", "perspective")
_CONFLICTS = [{"fill_frame", g} for g in _GEOMETRY if g != "fill_frame"] + [{"hand", "fingers_corner"}]
CARD_MODELS = ("G", "H", "E", "F", "C", "D", "G", "H")      # the pool of card pictures, by index
ID1_MM = (85.60, 53.98)
CARD_W_PX = 1024
CORNER_MM = 3.18


@dataclass
class HarshFrame:
    image: np.ndarray                 # RGB uint8 (h, w, 3)
    corners: np.ndarray               # float32 (4, 2): the card's true outline, TL TR BR BL
    cut: bool                         # the card really leaves the frame
    scenario: str                     # the recipe, names joined by "+"
    card_visible_fraction: float      # card area in the frame and not covered, over its area
    params: dict                      # everything drawn, for the record (JSON-able)
    visible_mask: np.ndarray          # uint8 (h, w): 255 where the card shows


def corners_inside(corners: np.ndarray, size: tuple[int, int]) -> bool:
    w, h = size
    c = np.asarray(corners)
    return bool((c[:, 0] >= 0).all() and (c[:, 0] <= w - 1).all()
                and (c[:, 1] >= 0).all() and (c[:, 1] <= h - 1).all())


@cache
def card_picture(index: int, side: str) -> np.ndarray:
    """One of the pool's card pictures (RGB, 646 x 1024), MUESTRA-marked, rendered once."""
    front, back, _ = sample_card(9100 + index, CARD_MODELS[index % len(CARD_MODELS)])
    return front if side == "front" else back


@lru_cache(maxsize=32)       # at most ~80 MB
def _card_rgba(index: int, side: str, level: int) -> np.ndarray:
    """The picture at 0.7**level of full size as premultiplied RGBA: rounded corners in
    the alpha, and the card's edge (a rim a little darker or lighter than the face) painted in.
    One warp of this gives the card's colour and coverage at once."""
    card = card_picture(index, side)
    if level:
        card = cv2.resize(card, None, fx=0.7 ** level, fy=0.7 ** level, interpolation=cv2.INTER_AREA)
    h, w = card.shape[:2]
    m = np.zeros((h, w), np.uint8)
    pts = S.rounded_rect(np.array([w / 2, h / 2]), (w, h), 0.0, CORNER_MM / ID1_MM[0] * w)
    cv2.fillPoly(m, [np.round(np.asarray(pts) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    a = m.astype(np.float32) / 255
    rim = a - cv2.erode(a, np.ones((5, 5), np.uint8))
    k = (0.25, -0.12, 0.15, 0.3, 0.05)[index % 5]
    rgb = card.astype(np.float32) * S.x3(a * (1 - k * rim))
    return cv2.merge([rgb, a * 255]).round().astype(np.uint8)


def parse_scenario(scenario: str | None, rng: random.Random) -> tuple[list[str], str]:
    """(scenario names, table kind); None draws a table and zero to three other scenarios."""
    if scenario is None:
        table = rng.choice(S.TABLES)
        names = [table] if table in TABLE_SCENARIOS else []
        extra = [s for s in SCENARIOS if s not in TABLE_SCENARIOS]
        for s in rng.sample(extra, rng.choice((0, 1, 1, 2, 2, 3))):
            if not any(c <= {s, *names} for c in _CONFLICTS):
                names.append(s)
        return names, table
    names = scenario.split("+")
    bad = [n for n in names if n not in SCENARIOS]
    if bad:
        raise ValueError(f"unknown scenario {bad}; known: {SCENARIOS}")
    tables = [n for n in names if n in TABLE_SCENARIOS]
    if len(tables) > 1 or any(c <= set(names) for c in _CONFLICTS):
        raise ValueError(f"scenarios that cannot combine: {scenario}")
    return names, tables[0] if tables else rng.choice(S.TABLES)


def _rot(ax: float, ay: float, az: float) -> np.ndarray:
    (cx, cy, cz), (sx, sy, sz) = np.cos([ax, ay, az]), np.sin([ax, ay, az])
    roll = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    pitch = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    return roll @ pitch @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])


def _project(long_px: float, roll: float, tilt: tuple[float, float], f: float) -> np.ndarray:
    """The card's corners seen by a pinhole camera of focal `f` px, centred on (0, 0)."""
    wm, hm = ID1_MM
    card = np.array([[-wm / 2, -hm / 2, 0], [wm / 2, -hm / 2, 0], [wm / 2, hm / 2, 0], [-wm / 2, hm / 2, 0]])
    p = card @ _rot(math.radians(tilt[0]), math.radians(tilt[1]), math.radians(roll)).T
    z = f * wm / long_px
    return f * p[:, :2] / (z + p[:, 2:3])


def geometry(names: list[str], w: int, h: int, rng: random.Random) -> tuple[np.ndarray, dict]:
    """Where the card lies in the frame: (corners, params)."""
    f = w * rng.uniform(0.75, 1.25)
    roll, tilt = rng.uniform(-12, 12), (rng.uniform(-14, 14), rng.uniform(-14, 14))
    long_px = w * rng.uniform(0.36, 0.72)
    margin = rng.uniform(4, 40)
    if "rotation" in names:
        roll = rng.choice((-1, 1)) * rng.uniform(15, 35)
    if "portrait" in names:
        roll = rng.choice((-90, 90)) + rng.uniform(-20, 20)
        long_px = h * rng.uniform(0.55, 0.95)
    if "perspective" in names:
        f = w * rng.uniform(0.6, 0.9)
        big = rng.choice((-1, 1)) * rng.uniform(30, 50)
        small = rng.uniform(-20, 20)
        tilt = (big, small) if rng.random() < 0.5 else (small, big)
    upright = 0.0 if "portrait" in names or rng.random() < 0.5 else 180.0   # or held upside down
    roll += upright
    if "fill_frame" in names:
        margin, long_px = rng.uniform(2, 8), w * rng.uniform(0.88, 0.95)
        roll, tilt = upright + rng.uniform(-1.5, 1.5), (rng.uniform(-4, 4), rng.uniform(-4, 4))
        pts = _project(long_px, roll, tilt, f)
        span = pts.max(axis=0) - pts.min(axis=0)
        if min(w - 2 * margin, span[0] * (h - 2 * margin) / span[1]) < 0.855 * w:
            roll, tilt = upright, (0.0, 0.0)   # square to the camera: the widest that fits
    pts = _project(long_px, roll, tilt, f)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    fit = min(1.0, (w - 2 * margin) / (hi[0] - lo[0]), (h - 2 * margin) / (hi[1] - lo[1]))
    pts, lo, hi = pts * fit, lo * fit, hi * fit
    # Anywhere in the frame where it fits with the margin.
    cx = rng.uniform(margin - lo[0], w - margin - hi[0])
    cy = rng.uniform(margin - lo[1], h - margin - hi[1])
    centre, cut_to = [cx, cy], ""
    if "cut" in names:                          # past one edge, or two (a corner), by 8-35 %
        pts = pts / fit * max(fit, rng.uniform(0.7, 1.0))
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        frame = (w, h)
        centre = [rng.uniform(-lo[i], frame[i] - hi[i]) if frame[i] > hi[i] - lo[i] else frame[i] / 2
                  for i in (0, 1)]
        edges = rng.choice([[e] for e in ("left", "right", "top", "bottom")]
                           + [[rng.choice(("left", "right")), rng.choice(("top", "bottom"))]])
        for e in edges:
            i = int(e in ("top", "bottom"))
            depth = rng.uniform(0.08, 0.35) * (hi[i] - lo[i])
            centre[i] = -depth - lo[i] if e in ("left", "top") else frame[i] + depth - hi[i]
        cut_to = "+".join(edges)
    pts = (pts + np.array(centre)).astype(np.float32)
    return pts, {"roll": round(roll, 2), "tilt": [round(t, 2) for t in tilt], "focal": round(f, 1),
                 "cut_to": cut_to, "margin": round(margin, 1)}


def _place_card(img: np.ndarray, rgba: np.ndarray, pts: np.ndarray, rng: random.Random,
                light: np.ndarray, lift: float, pale: float) -> np.ndarray:
    """Card and its drop shadow onto `img` (float32, in place); returns the card's alpha (uint8).
    `pale` > 0 washes the card out towards white by that much."""
    h, w = img.shape[:2]
    ch, cw = rgba.shape[:2]
    pad = int(lift * 1.5 + 24)
    x0, y0 = (int(max(v, 0)) for v in pts.min(axis=0) - pad)
    x1, y1 = int(min(pts[:, 0].max() + pad, w)), int(min(pts[:, 1].max() + pad, h))
    src = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float32)
    m = cv2.getPerspectiveTransform(src, (pts - [x0, y0]).astype(np.float32))
    warped = cv2.warpPerspective(rgba, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
    face: np.ndarray = cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB).astype(np.float32)
    a8 = np.ascontiguousarray(warped[..., 3])
    a = a8.astype(np.float32) / 255
    if pale > 0:
        face = cv2.addWeighted(face, 1 - pale, S.x3(a), 255 * pale, 0.0)
    S.paste(img, S.Sprite(face, a, x0, y0, lift), light, rng.uniform(0.15, 0.45))
    alpha = np.zeros((h, w), np.uint8)
    alpha[y0:y1, x0:x1] = a8
    return alpha


def _illumination(names: list[str], pts: np.ndarray, w: int, h: int, rng: random.Random,
                  p: dict) -> np.ndarray:
    """Vignetting and shadows cast from outside the frame, as one multiplier (h, w)."""
    qh, qw = h // 4, w // 4
    y, x = np.mgrid[0:qh, 0:qw].astype(np.float32)
    r2 = ((x - qw / 2) / (qw / 2)) ** 2 + ((y - qh / 2) / (qw / 2)) ** 2
    p["vignetting"] = v = rng.uniform(0.08, 0.35)
    low = 1 - v * r2 / 1.3
    if "soft_shadow" in names:
        c = pts.mean(axis=0) / 4 + np.array([rng.uniform(-1, 1), rng.uniform(-1, 1)]) * qw / 5
        blob = np.zeros((qh, qw), np.float32)
        axes = (rng.uniform(0.4, 1.0) * qw, rng.uniform(0.4, 1.0) * qw)
        cv2.ellipse(blob, ((float(c[0]), float(c[1])), axes, rng.uniform(0, 180)), 1.0, -1)
        p["soft_shadow"] = depth = rng.uniform(0.3, 0.6)
        low *= 1 - depth * cv2.GaussianBlur(blob, (0, 0), rng.uniform(5, 15))
    illum = cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR)
    if "hard_shadow" in names:
        # A straight-edged shadow (a pole, a screen's edge) whose edge crosses the card.
        c = pts.mean(axis=0) + (pts[rng.randrange(4)] - pts.mean(axis=0)) * rng.uniform(-0.5, 0.5)
        a = rng.uniform(0, math.pi)
        d, n = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
        band = rng.uniform(0.15, 0.6) * np.linalg.norm(pts[1] - pts[0]) if rng.random() < 0.5 else 3 * w
        poly = [c + d * 3 * w, c - d * 3 * w, c - d * 3 * w + n * band, c + d * 3 * w + n * band]
        sh = np.zeros((h, w), np.uint8)
        cv2.fillPoly(sh, [np.round(np.asarray(poly) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        blur = rng.uniform(0.6, 3.0)
        k = rng.uniform(0.35, 0.65)
        p["hard_shadow"] = {"depth": round(k, 3), "blur": round(blur, 2)}
        illum *= 1 - k * cv2.GaussianBlur(sh, (0, 0), blur).astype(np.float32) / 255
    return illum


def _glare(img: np.ndarray, card_alpha: np.ndarray, occluded: np.ndarray, pts: np.ndarray,
           rng: random.Random) -> None:
    """A specular highlight on the card's laminate: saturating, ending at the card's edge (the
    smooth blob is made at quarter size; the card's edge cuts it at full size)."""
    h, w = img.shape[:2]
    side = float(np.linalg.norm(pts[1] - pts[0]))
    c = pts.mean(axis=0) + (pts[rng.randrange(4)] - pts.mean(axis=0)) * rng.uniform(0, 0.9)
    rx, ry = side * rng.uniform(0.08, 0.35), side * rng.uniform(0.04, 0.15)
    x0, y0 = int(max(c[0] - 3 * rx, 0)) // 4 * 4, int(max(c[1] - 3 * rx, 0)) // 4 * 4
    x1, y1 = int(min(c[0] + 3 * rx, w)), int(min(c[1] + 3 * rx, h))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return
    y, x = np.mgrid[y0:y1:4, x0:x1:4].astype(np.float32)
    a = rng.uniform(0, math.pi)
    u = ((x - c[0]) * math.cos(a) + (y - c[1]) * math.sin(a)) / rx
    v = (-(x - c[0]) * math.sin(a) + (y - c[1]) * math.cos(a)) / ry
    blob = np.exp(-(u * u + v * v) ** rng.uniform(1.0, 2.0)) * rng.uniform(180, 400)
    blob = cv2.resize(blob, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    on_card = card_alpha[y0:y1, x0:x1].astype(np.float32) / 255
    on_card *= 1 - occluded[y0:y1, x0:x1].astype(np.float32) / 255
    img[y0:y1, x0:x1] += S.x3(blob * (0.08 + 0.92 * on_card))


def _blur_kernel(kind: str, size: float, rng: random.Random) -> np.ndarray:
    n = math.ceil(size) * 2 + 1
    k = np.zeros((n, n), np.float32)
    c = n // 2
    if kind == "defocus":
        cv2.circle(k, (c * 16, c * 16), round(size * 16), 1.0, -1, cv2.LINE_AA, 4)
    else:
        a = rng.uniform(0, math.pi)
        d = np.array([math.cos(a), math.sin(a)]) * size
        cv2.line(k, (round((c - d[0]) * 16), round((c - d[1]) * 16)),
                 (round((c + d[0]) * 16), round((c + d[1]) * 16)), 1.0, 1, cv2.LINE_AA, 4)
    return k / k.sum()


def _optics(img: np.ndarray, names: list[str], rng: random.Random, p: dict) -> np.ndarray:
    """Defocus and motion blur, done at half size when the kernel is big (speed; the result has
    no fine detail left to lose)."""
    h, w = img.shape[:2]
    for kind in ("defocus", "motion_blur"):
        if kind not in names:
            continue
        size = (rng.uniform(2.0, 5.0) if kind == "defocus" else rng.uniform(3.0, 10.0)) * w / 1280
        p[kind] = round(size, 2)
        if size > 2.5:
            small = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            small = cv2.filter2D(small, -1, _blur_kernel(kind, size / 2, rng))
            img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            img = cv2.filter2D(img, -1, _blur_kernel(kind, size, rng))
    return img


def _sensor(img: np.ndarray, illum: np.ndarray, names: list[str], rng: random.Random,
            p: dict) -> np.ndarray:
    """Light falling on the sensor (illumination, exposure, white balance), shot + read noise,
    the gain (high in low light, so the noise grows with it), softness, JPEG.

    out = gain * (signal + sigma * N), sigma = sqrt(k * signal + read^2): in cv2 calls on
    whole arrays, which cost a fraction of numpy's broadcasting ones."""
    h, w = img.shape[:2]
    low = "low_light" in names
    exposure = rng.uniform(0.12, 0.3) if low else rng.uniform(0.8, 1.1)
    gain = rng.uniform(0.3, 0.6) / exposure if low else 1.0
    wb = (rng.uniform(0.85, 1.15), 1.0, rng.uniform(0.82, 1.15))
    k_shot, read = rng.uniform(0.03, 0.12), rng.uniform(0.8, 2.5) * (2.5 if low else 1.0)
    m = illum * exposure
    buf = cv2.merge([m * wb[0], m, m * wb[2]])
    cv2.multiply(img, buf, dst=img)                                 # one scratch array, reused
    np.maximum(img, 0.0, out=img)
    cv2.addWeighted(img, k_shot, img, 0.0, read * read, dst=buf)    # variance
    cv2.sqrt(buf, dst=buf)
    cv2.multiply(buf, S.window(S.noise((h + 41, w + 43, 3), 5), h, w, rng), dst=buf)
    cv2.addWeighted(img, gain, buf, gain, 0.0, dst=img)
    soft = rng.uniform(0.4, 0.8)
    out = cv2.GaussianBlur(np.clip(img, 0, 255, out=img).astype(np.uint8), (3, 3), soft)
    q = rng.randint(50, 85)
    p["camera"] = {"exposure": round(exposure, 3), "gain": round(gain, 2), "wb": [round(g, 3) for g in wb],
                   "shot": round(k_shot, 3), "read": round(read, 2), "soft": round(soft, 2), "jpeg": q}
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
    assert ok
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert decoded is not None
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def _in_frame_fraction(pts: np.ndarray, w: int, h: int) -> float:
    box = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    area, _ = cv2.intersectConvexConvex(pts.astype(np.float32), box)
    return float(area) / max(float(cv2.contourArea(pts.astype(np.float32))), 1e-6)


def harsh_frame(seed: int, side: str = "back", *, size: tuple[int, int] = (1280, 720),
                scenario: str | None = None) -> HarshFrame:
    """One harsh frame (see the module's docstring). `side`: "back", "front" or "any"."""
    w, h = size
    rng = random.Random(f"harsh:{seed}:{side}:{scenario}:{w}x{h}")
    names, table = parse_scenario(scenario, rng)
    if side == "any":
        side = rng.choice(("front", "back"))
    index = rng.randrange(len(CARD_MODELS))
    p: dict = {"seed": seed, "side": side, "card": index, "model": CARD_MODELS[index], "table": table}
    pts, p["geometry"] = geometry(names, w, h, rng)
    long_side = max(np.linalg.norm(pts[1] - pts[0]), np.linalg.norm(pts[2] - pts[1]))
    # The picture shrunk to just above its size in the frame: the warp alone would alias it.
    level = min(4, max(0, int(math.log(max(1.3 * float(long_side), 1.0) / CARD_W_PX) / math.log(0.7))))
    pale = rng.uniform(0.1, 0.45) if table == "white_table" and rng.random() < 0.7 else 0.0
    a = rng.uniform(0, 2 * math.pi)
    light = np.array([math.cos(a) * 0.5, math.sin(a) * 0.5, 1.0])
    light /= np.linalg.norm(light)
    img = S.table(table, h, w, rng)
    mm = float(np.linalg.norm(pts[1] - pts[0]) + np.linalg.norm(pts[2] - pts[3])) / 2 / ID1_MM[0]
    skin = np.array(rng.choice(S.SKIN), np.float32) * rng.uniform(0.9, 1.05)
    occluded = np.zeros((h, w), np.uint8)
    over: list[S.Sprite] = []
    if "clutter" in names:
        kinds = rng.sample(list(S.CLUTTER), rng.randint(2, 4))
        if "cable" not in kinds:
            kinds[0] = "cable"                  # always something crossing the frame's edge
        p["clutter"] = kinds
        for kind in kinds:
            a, b = pts[rng.randrange(4)], pts[rng.randrange(4)]
            target = a + (b - a) * rng.uniform(0, 0.5)          # on the outline or inside
            sprite = S.CLUTTER[kind](target, mm, w, h, rng, light)
            if kind in ("paper", "phone") or rng.random() < 0.3:
                S.paste(img, sprite, light, rng.uniform(0.2, 0.4))      # under the card
            else:
                over.append(sprite)
    lift = rng.uniform(1.5, 6.0)
    if "hand" in names:
        under, thumb, p["hand"] = S.held_hand(pts, mm, w, h, rng, light, skin, rng.random() < 0.4)
        S.paste(img, under, light, rng.uniform(0.25, 0.45))
        over.append(thumb)
        lift = rng.uniform(10, 40)              # held above the table
    if "fingers_corner" in names:
        sprite, p["fingers"] = S.fingers_on_corner(pts, mm, w, h, rng, light, skin)
        over.append(sprite)
    card_alpha = _place_card(img, _card_rgba(index, side, level), pts, rng, light, lift, pale)
    for sprite in over:
        S.paste(img, sprite, light, rng.uniform(0.25, 0.5), occluded)
    illum = _illumination(names, pts, w, h, rng, p)
    if "glare" in names:
        _glare(img, card_alpha, occluded, pts, rng)
    img = _optics(img, names, rng, p)
    image = _sensor(img, illum, names, rng, p)
    visible = ((occluded < 128) & (card_alpha >= 128)).astype(np.uint8) * 255
    shown = float(np.count_nonzero(visible)) / max(float(np.count_nonzero(card_alpha >= 128)), 1.0)
    frac = _in_frame_fraction(pts, w, h) * shown
    return HarshFrame(image, pts, not corners_inside(pts, size), "+".join(names) or "plain", round(frac, 4),
                      p, visible)
