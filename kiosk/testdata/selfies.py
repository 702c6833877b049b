"""Synthetic selfies and selfie frame sequences from scikit-image's `astronaut` photo.

The same synthesis the liveness tests use: for a live person the photo becomes a
textured 3-D head (kiosk.testdata.face_render: its face mesh turned by a true yaw,
its eyelids lowered for a blink); for the attacks the still photo is moved,
rotated, scaled or tilted. It lives here so that `fieldkit-testdata selfies` and
`fieldkit-kiosk capture --selfie-frames` can use it as files. These sequences are
labelled synthetic: they let the suite and the demos pass an honest landmark
checker; they are not evidence that real spoofs fail or real people pass
(the figures on real clips are in docs/liveness.md).

On disk (`write_sequence`): `DIR/000.jpg, 001.jpg, ...` and `DIR/sequence.json`
`{"challenge", "kind", "live", "seed", "fps", "size", "frames": [{"file", "t"}]}`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import cv2
import numpy as np

KINDS = ("live", "wrong_action", "static", "moved", "tilted", "pitched")
CHALLENGES = ("turn_left", "turn_right", "blink")
MANIFEST = "sequence.json"

# The astronaut's face in the 512 x 512 photo (OpenCV's frontal cascade): x 177-272, y 66-161.
FACE_CX, FACE_CY, FACE_W = 224.5, 113.5, 95.0


@cache
def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@lru_cache(maxsize=256)
def head_frame(yaw_deg: int, eyes_closed: float) -> np.ndarray:
    """The astronaut as a 3-D head (kiosk.testdata.face_render) turned by ``yaw_deg`` (positive:
    the face toward the image's right) with the eyelids ``eyes_closed`` (0 open .. 1 shut)."""
    from kiosk.testdata.face_render import astronaut_head, render

    return render(astronaut_head(), yaw_deg=yaw_deg, eyes_closed=eyes_closed)


def _background(rng: random.Random, w: int, h: int) -> np.ndarray:
    base = np.array([rng.randint(50, 200) for _ in range(3)], np.float32)
    gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None] * rng.uniform(-30, 30)
    gy = np.linspace(-1, 1, h, dtype=np.float32)[:, None, None] * rng.uniform(-30, 30)
    return np.clip(base + gx + gy, 0, 255).astype(np.uint8)


def _place(src: np.ndarray, bg: np.ndarray, scale: float, cx: float, cy: float, roll_deg: float,
           tilt_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
    """Warp the 512x512 source so its face centre lands at (cx, cy), scaled, rolled, tilted
    (about a vertical axis) and pitched (about a horizontal one)."""
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
    if pitch_deg:
        t = np.deg2rad(pitch_deg)
        f = 1.2 * w
        c = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
        p = np.array([[1, 0, 0], [0, np.cos(t), 0], [0, np.sin(t) / f, 1]])
        m = np.linalg.inv(c) @ p @ c @ m
    mask = cv2.warpPerspective(np.full(src.shape[:2], 255, np.uint8), m, (w, h))
    warped = cv2.warpPerspective(src, m, (w, h), flags=cv2.INTER_LINEAR)
    a_ = (mask.astype(np.float32) / 255)[..., None]
    return (bg * (1 - a_) + warped * a_).astype(np.uint8)


@dataclass
class Sequence:
    kind: str           # live, wrong_action, static, moved, tilted, pitched
    challenge: str      # the Challenge value the sequence is scored against
    live: bool          # should pass
    seed: int
    frames: list[tuple[np.ndarray, float]]
    fps: float = 15.0

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
    pitched      the photo tipped about a horizontal axis in short pulses (45-60 deg)
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
        action = rng.choice([c for c in CHALLENGES if c != challenge])
    t_act = rng.uniform(1.0, 2.0)           # when the action starts (s)
    dur = rng.uniform(0.4, 0.9)             # turn ramp duration
    theta_max = rng.uniform(40, 55)
    blink_len = rng.uniform(0.12, 0.35)
    # Photo trajectories.
    amp = (rng.uniform(0.04, 0.15) * w, rng.uniform(0.03, 0.1) * h)
    freq = (rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.6))
    rot_amp, sc_amp = rng.uniform(5, 15), rng.uniform(0.1, 0.25)
    tilt_amp = rng.uniform(20, 35)
    pitch_amp = rng.uniform(45, 60) * (1 if seed % 2 else -1)
    frames = []
    for i in range(n):
        t = i / fps
        img = src
        cx, cy, sc, roll, tilt, pitch = cx0, cy0, scale0, 0.0, 0.0, 0.0
        # Everyone's hand or head shakes a little.
        cx += rng.gauss(0, 1.0)
        cy += rng.gauss(0, 1.0)
        if kind in ("live", "wrong_action"):
            roll = 2 * np.sin(t * 1.3)
            if action in ("turn_left", "turn_right"):
                k = np.clip((t - t_act) / dur, 0, 1)
                # A turn toward the person's left moves their face toward the image's right.
                th = theta_max * (0.5 - 0.5 * np.cos(np.pi * k)) * (1 if action == "turn_left" else -1)
                img = head_frame(round(float(th)), 0.0)
            elif action == "blink":
                # The lids close and open over blink_len, shut for most of it.
                shut = 1 - abs(t - t_act - blink_len / 2) / (blink_len / 2)
                if shut > 0:
                    img = head_frame(0, round(min(1.0, 2.5 * shut), 1))
        elif kind == "moved":
            cx += amp[0] * np.sin(2 * np.pi * freq[0] * t)
            cy += amp[1] * np.sin(2 * np.pi * freq[1] * t + 1)
            roll = rot_amp * np.sin(2 * np.pi * 0.35 * t)
            sc *= 1 + sc_amp * np.sin(2 * np.pi * 0.3 * t + 2)
        elif kind == "tilted":
            tilt = tilt_amp * np.sin(np.pi * np.clip((t - t_act) / dur, 0, 1) / 2)
            tilt *= 1 if seed % 2 else -1
        elif kind == "pitched":
            # Short pulses of the photo tipped toward and back (about 0.3 s each, 45-60 deg): the
            # face squashes vertically, the eyes narrow, as a blink would narrow them.
            phase = (t - t_act) % 1.0
            if t >= t_act and phase < 0.3:
                pitch = pitch_amp * float(np.sin(np.pi * phase / 0.3))
        elif kind != "static":
            raise ValueError(kind)
        frame = _place(img, bg, sc, cx, cy, roll, tilt, pitch).astype(np.float32) * gain
        frame += nprng.normal(0, 3, frame.shape).astype(np.float32)
        frames.append((np.clip(frame, 0, 255).astype(np.uint8), t))
    return Sequence(kind, challenge, live, seed, frames, fps)


def make_selfie(seed: int, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """One good selfie: the neutral first frame of a live sequence (face centred, large)."""
    rng = random.Random(f"selfie:{seed}")
    challenge = rng.choice(CHALLENGES)
    return make_sequence("live", challenge, seed, size=size, fps=1.0, seconds=1.0).frames[0][0]


def _write_jpg(path: Path, rgb: np.ndarray, quality: int = 92) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f"no se pudo escribir {path}")


def write_sequence(seq: Sequence, out: Path) -> Path:
    """Frames as JPEG (as a camera delivers them) plus the manifest; returns the manifest path."""
    out.mkdir(parents=True, exist_ok=True)
    frames = []
    for i, (img, t) in enumerate(seq.frames):
        name = f"{i:03d}.jpg"
        _write_jpg(out / name, img)
        frames.append({"file": name, "t": round(t, 4)})
    h, w = seq.frames[0][0].shape[:2] if seq.frames else (0, 0)
    manifest = {"challenge": seq.challenge, "kind": seq.kind, "live": seq.live, "seed": seq.seed,
                "fps": seq.fps, "size": [w, h], "frames": frames}
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return path


def write_selfies(out: Path, n: int, seed: int = 0, kinds: tuple[str, ...] = ("live",),
                  size: tuple[int, int] = (640, 360), fps: float = 10.0, seconds: float = 3.5
                  ) -> list[dict[str, object]]:
    """For i < n: `out/selfie-<i>.jpg` and, per kind, `out/frames-<i>-<kind>-<challenge>/`.
    The challenge cycles through turn_left, turn_right, blink. Returns one entry per selfie."""
    out.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, object]] = []
    for i in range(n):
        s = seed + i
        challenge = CHALLENGES[s % len(CHALLENGES)]
        selfie = out / f"selfie-{i:03d}.jpg"
        _write_jpg(selfie, make_selfie(s, size=(640, 480)))
        seqs = {}
        for kind in kinds:
            d = out / f"frames-{i:03d}-{kind}-{challenge}"
            write_sequence(make_sequence(kind, challenge, s, size=size, fps=fps, seconds=seconds), d)
            seqs[kind] = d.name
        entries.append({"selfie": selfie.name, "challenge": challenge, "sequences": seqs})
    return entries
