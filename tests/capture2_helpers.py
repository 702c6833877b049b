"""Test data for "Capture II": straightened card crops and synthetic selfie sequences.

Card crops: generated variants straightened with their *truth* corners (so these
tests do not depend on the card finder).

Selfie sequences: built from scikit-image's `astronaut` photo. They exercise the
liveness *decision logic*; they are not evidence that real spoofs fail or real
people pass (see docs/liveness.md).

* live turn: the head is modelled as a vertical cylinder and rotated (yaw):
  features slide sideways inside a fixed silhouette, the far side compresses;
* live blink: the eyes are covered by skin-coloured lids with a lash line for
  a few frames;
* photo attacks: the same still photo held static, moved / rotated / scaled
  around the frame, or tilted (a planar homography about a vertical axis).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from kiosk.testdata.cards import sample_card
from kiosk.testdata.variants import make_variants

CARD_W, CARD_H = 1024, 646


def jpeg(rgb: np.ndarray, quality: int = 92) -> np.ndarray:
    """Round-trip through JPEG, as the generator's files and real cameras deliver frames."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def straighten(frame: np.ndarray, corners) -> np.ndarray:
    """The card face from a frame, by its truth corners (TL, TR, BR, BL), at 1024 x 646."""
    dst = np.float32([[0, 0], [CARD_W, 0], [CARD_W, CARD_H], [0, CARD_H]])
    m = cv2.getPerspectiveTransform(np.float32(corners), dst)
    return cv2.warpPerspective(frame, m, (CARD_W, CARD_H), flags=cv2.INTER_LINEAR)


@dataclass
class CardSample:
    seed: int
    label: str
    side: str
    effects: list[str]
    crop: np.ndarray          # straightened 1024 x 646 RGB
    face_box: list[int]       # truth portrait box on the front (card pixels)
    corners: list[list[float]]  # truth card corners in the frame
    frame: np.ndarray | None = None


def card_samples(seeds, labels=("genuine", "photocopy", "screen", "print"), n_genuine: int = 2,
                 keep_frames: bool = False, sides=("front", "back")) -> list[CardSample]:
    out = []
    for seed in seeds:
        front, back, truth = sample_card(seed)
        for v in make_variants(front, back, seed, n_genuine=n_genuine):
            if v.label not in labels or v.side not in sides:
                continue
            frame = jpeg(v.image)
            out.append(CardSample(seed, v.label, v.side, v.effects, straighten(frame, v.corners),
                                  truth["front"]["face_box"], v.corners, frame if keep_frames else None))
    return out


def card_shots(seeds, shots_per_side: int = 3, negatives: bool = True, sides=("front", "back"),
               keep_frames: bool = False) -> list[CardSample]:
    """Cheaper than make_variants for many samples: per card, `shots_per_side` genuine
    photographs of each side (the first clean, the rest with 1-2 effects) and, with
    `negatives`, one photocopy, screen and print of each side. Same generator functions."""
    from kiosk.testdata.variants import (
        EFFECTS,
        _on_paper,
        halftone,
        on_screen,
        photocopy,
        photograph,
        photograph_sheet,
    )

    out = []
    for seed in seeds:
        front, back, truth = sample_card(seed)
        rng = random.Random(f"shots:{seed}")
        nprng = np.random.default_rng(seed)
        for side, img in (("front", front), ("back", back)):
            if side not in sides:
                continue
            vs = []
            for i in range(shots_per_side):
                eff = [] if i == 0 else rng.sample(EFFECTS, rng.randint(1, 2))
                if "blur" in eff and "motion_blur" in eff:
                    eff.remove("motion_blur")
                vs.append(photograph(img, side, "genuine", f"g{i}", rng, nprng, eff))
            if negatives:
                sheet, box = _on_paper(photocopy(img, rng, nprng), rng)
                vs.append(photograph_sheet(sheet, box, side, "photocopy", "pc", rng, nprng))
                phone, box = on_screen(img, rng, nprng)
                vs.append(photograph_sheet(phone, box, side, "screen", "sc", rng, nprng))
                sheet, box = _on_paper(halftone(img, rng), rng)
                vs.append(photograph_sheet(sheet, box, side, "print", "pr", rng, nprng))
            for v in vs:
                frame = jpeg(v.image)
                out.append(CardSample(seed, v.label, v.side, v.effects, straighten(frame, v.corners),
                                      truth["front"]["face_box"], v.corners,
                                      frame if keep_frames else None))
    return out


# ---------------------------------------------------------------------------
# Selfie sequences

# The astronaut's face in the 512 x 512 photo (OpenCV's frontal cascade): x 177-272, y 66-161.
FACE_CX, FACE_CY, FACE_W = 224.5, 113.5, 95.0
# Head ellipse: centre y, half width (= cylinder radius), half height.
HEAD_CY, HEAD_RX, HEAD_RY = 100.0, 78.0, 118.0
EYES = ((201.0, 104.0), (246.0, 104.0))  # eye centres (source px)


@cache
def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@cache
def _grid() -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:512, 0:512].astype(np.float32)
    return x, y


def yawed(img: np.ndarray, theta_deg: float) -> np.ndarray:
    """Turn the head by `theta_deg` (positive: the face moves toward the image's right)."""
    if abs(theta_deg) < 1e-3:
        return img
    x, y = _grid()
    th = np.deg2rad(theta_deg)
    ry = np.clip(1 - ((y - HEAD_CY) / HEAD_RY) ** 2, 0, 1)
    half = HEAD_RX * np.sqrt(ry)
    inside = half > 4
    u = np.where(inside, (x - FACE_CX) / np.maximum(half, 1e-3), 9.0)
    inside &= np.abs(u) < 1
    phi = np.arcsin(np.clip(u, -1, 1)) - th      # where this point was before the turn
    phi = np.clip(phi, -np.pi / 2, np.pi / 2)     # hidden side: clamp to the limb
    sx = np.where(inside, FACE_CX + half * np.sin(phi), x)
    # Shade the side turning away a little (Lambertian falloff), as a real head does.
    shade = np.where(inside, 0.75 + 0.25 * np.cos(np.clip(np.arcsin(np.clip(u, -1, 1)), -1.5, 1.5)), 1.0)
    out = cv2.remap(img, sx.astype(np.float32), y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(out * shade[..., None].astype(np.float32), 0, 255).astype(np.uint8)


def eyes_closed(img: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Cover both eyes with skin-coloured lids and a lash line (amount 0..1: how closed)."""
    out = img.copy()
    for ex, ey in EYES:
        skin = np.median(img[int(ey + 16):int(ey + 24), int(ex - 8):int(ex + 8)].reshape(-1, 3), axis=0)
        lid = np.zeros(img.shape[:2], np.uint8)
        cv2.ellipse(lid, (int(ex), int(ey)), (13, max(1, int(8 * amount))), 0, 0, 360, 255, -1)
        a = cv2.GaussianBlur(lid.astype(np.float32) / 255, (0, 0), 1.2)[..., None]
        out = (out * (1 - a) + (skin * 0.93) * a).astype(np.uint8)
        if amount > 0.8:
            cv2.ellipse(out, (int(ex), int(ey + 3)), (12, 3), 0, 0, 180, (60, 45, 40), 1, cv2.LINE_AA)
    return out


def _background(rng: random.Random, w: int, h: int) -> np.ndarray:
    base = np.array([rng.randint(50, 200) for _ in range(3)], np.float32)
    gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None] * rng.uniform(-30, 30)
    gy = np.linspace(-1, 1, h, dtype=np.float32)[:, None, None] * rng.uniform(-30, 30)
    return np.clip(base + gx + gy, 0, 255).astype(np.uint8)


def _place(src: np.ndarray, bg: np.ndarray, scale: float, cx: float, cy: float, roll_deg: float,
           tilt_deg: float = 0.0) -> np.ndarray:
    """Warp the 512x512 source so its face centre lands at (cx, cy), scaled, rolled, tilted."""
    h, w = bg.shape[:2]
    a = cv2.getRotationMatrix2D((FACE_CX, FACE_CY), roll_deg, scale)
    a[0, 2] += cx - FACE_CX
    a[1, 2] += cy - FACE_CY
    m = np.vstack([a, [0, 0, 1]])
    if tilt_deg:
        # A flat photo turned about a vertical axis through the face: perspective foreshortening.
        t = np.deg2rad(tilt_deg)
        f = 1.2 * w
        c = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
        p = np.array([[np.cos(t), 0, 0], [0, 1, 0], [np.sin(t) / f, 0, 1]])
        m = np.linalg.inv(c) @ p @ c @ m
    mask = cv2.warpPerspective(np.full(src.shape[:2], 255, np.uint8), m, (w, h))
    warped = cv2.warpPerspective(src, m, (w, h), flags=cv2.INTER_LINEAR)
    a_ = (mask.astype(np.float32) / 255)[..., None]
    return (bg * (1 - a_) + warped * a_).astype(np.uint8)


@dataclass
class Sequence:
    kind: str           # live_turn_left, live_turn_right, live_blink, static, moved, tilted, wrong_action
    challenge: str      # the Challenge value the sequence is scored against
    live: bool          # should pass
    seed: int
    frames: list[tuple[np.ndarray, float]]

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        return iter(self.frames)


def make_sequence(kind: str, challenge: str, seed: int, size: tuple[int, int] = (640, 360),
                  fps: float = 15.0, seconds: float = 4.0) -> Sequence:
    """A synthetic selfie sequence. `kind`:

    live         performs `challenge` (turn_left / turn_right / blink)
    wrong_action performs a different action than `challenge`
    static       the still photo, with sensor noise and tiny hand shake
    moved        the photo moved, rotated (<= 15 deg) and scaled (0.8-1.25) around the frame
    tilted       the photo turned about a vertical axis (<= 35 deg), as a photo is waved
    """
    rng = random.Random(f"seq:{kind}:{challenge}:{seed}")
    nprng = np.random.default_rng(rng.randrange(2**32))
    w, h = size
    bg = _background(rng, w, h)
    src = astronaut()
    face_px = w * rng.uniform(0.22, 0.32)
    scale0 = face_px / FACE_W
    cx0, cy0 = w / 2 + rng.uniform(-0.05, 0.05) * w, h * 0.45 + rng.uniform(-0.04, 0.04) * h
    gain = rng.uniform(0.75, 1.15)
    n = int(seconds * fps)
    live = kind == "live"
    action = challenge
    if kind == "wrong_action":
        action = rng.choice([c for c in ("turn_left", "turn_right", "blink") if c != challenge])
    t_act = rng.uniform(1.0, 2.0)           # when the action starts (s)
    dur = rng.uniform(0.4, 0.9)             # turn ramp duration
    theta_max = rng.uniform(25, 40)
    blink_len = rng.uniform(0.12, 0.35)
    # Photo trajectories.
    amp = (rng.uniform(0.04, 0.15) * w, rng.uniform(0.03, 0.1) * h)
    freq = (rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.6))
    rot_amp, sc_amp = rng.uniform(5, 15), rng.uniform(0.1, 0.25)
    tilt_amp = rng.uniform(20, 35)
    frames = []
    for i in range(n):
        t = i / fps
        img = src
        cx, cy, sc, roll, tilt = cx0, cy0, scale0, 0.0, 0.0
        # Everyone's hand or head shakes a little.
        cx += rng.gauss(0, 1.0)
        cy += rng.gauss(0, 1.0)
        if kind in ("live", "wrong_action"):
            roll = 2 * np.sin(t * 1.3)
            if action in ("turn_left", "turn_right"):
                k = np.clip((t - t_act) / dur, 0, 1)
                # A turn toward the person's left moves their face toward the image's right.
                th = theta_max * (0.5 - 0.5 * np.cos(np.pi * k)) * (1 if action == "turn_left" else -1)
                img = yawed(img, th)
            elif action == "blink" and t_act <= t < t_act + blink_len:
                img = eyes_closed(img)
        elif kind == "moved":
            cx += amp[0] * np.sin(2 * np.pi * freq[0] * t)
            cy += amp[1] * np.sin(2 * np.pi * freq[1] * t + 1)
            roll = rot_amp * np.sin(2 * np.pi * 0.35 * t)
            sc *= 1 + sc_amp * np.sin(2 * np.pi * 0.3 * t + 2)
        elif kind == "tilted":
            tilt = tilt_amp * np.sin(np.pi * np.clip((t - t_act) / dur, 0, 1) / 2) * rng.choice((1, 1))
            tilt *= 1 if seed % 2 else -1
        elif kind != "static":
            raise ValueError(kind)
        frame = _place(img, bg, sc, cx, cy, roll, tilt).astype(np.float32) * gain
        frame += nprng.normal(0, 3, frame.shape).astype(np.float32)
        frames.append((np.clip(frame, 0, 255).astype(np.uint8), t))
    return Sequence(kind, challenge, live, seed, frames)
