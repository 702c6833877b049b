"""Does the card answer the room's light as it tilts? Evidence a screen cannot give.

Pure functions: camera frames (RGB numpy arrays) of the card tilted a little by
hand, with the card's outline in each, in; a :class:`TiltEvidence` out. No Qt,
no camera, no file I/O (`fieldkit-kiosk scan --frames DIR` reads the files).

What is measured, in the card's own plane (each frame straightened to 5 px/mm):

* **Tilt** — the plane's normal in each frame, from the outline's homography with
  the camera's focal length (a 62-degree field by default, the Pi camera module's);
  the largest angle between two frames. Below ``TILT_MIN_DEG`` nothing is judged: the
  card did not move enough to say; above ``TILT_MAX_DEG`` an outline is wrong. The
  reading scales with assumed over true focal length (a 78-degree webcam read as 62
  degrees: x1.34), and so does the response below by its inverse: pass the camera's.
* **Response to light** — how the card's smooth shading changes as it tilts: its
  overall level (``gain_change``: the lamps' angle to the surface changes, so a
  reflecting surface brightens or darkens) and its shape (``shading_change``: the
  level removed, a sheen sliding across the laminate), each the largest change
  between two frames, in natural-log units, per degree of tilt. A backlit screen
  emits its picture whatever its angle to the room: both stay near zero. The clip
  must be taken with the exposure held: an auto-exposure re-metering as glare comes
  and goes adds a response of its own (docs/integrity.md, "Tilt").
* **Highlights and colour play** (reported, not judged): the share of the card that
  flashes 35 % or more above its median brightness and that frame's smooth
  shading (``specular_area``: the laminate mirroring a lamp or window), and the 99th
  percentile over the card of the local change of colour (``chroma_move``: a
  diffractive patch).
  Glossy photo paper and a screen's glass give highlights too, and a genuine card
  in a room without a bright source in its mirror direction gives none, so
  neither refuses on its own.

The one verdict is ``flat``: judged (tilted enough) and a response to light
below ``RESPONSE_MIN`` per degree. Thresholds and their measurement:
docs/integrity.md, "Tilt". The figures are on the project's camera-model
simulator only (bench/bench_integrity_tilt.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from kiosk.vision.card_verify import ID1_H_MM, ID1_W_MM, straighten
from kiosk.vision.integrity import OK, REASONS, SCREEN, IntegrityResult, linear_rgb

TILT_MIN_DEG = 4.0         # less tilt than this: not judged (ask to tilt more)
TILT_MAX_DEG = 30.0        # more than this between two outlines: a wrong outline, not judged
RESPONSE_MIN = 0.8e-3      # ln-brightness change per degree of tilt below this: no answer to light
SPECULAR_STEP = 0.3        # ln units above the pixel's median: a highlight (x1.35)
FOCAL_PER_WIDTH = 0.83     # focal length / frame width: a 62-degree horizontal field
MIN_FRAMES = 3

_W, _H = 428, 270          # 5 px per mm of an ID-1 card
_BORDER = 15               # 3 mm: the outline's error and the rounded corners
_CARD_MM = np.array([[0, 0], [ID1_W_MM, 0], [ID1_W_MM, ID1_H_MM], [0, ID1_H_MM]], np.float32)


@dataclass(frozen=True, slots=True)
class TiltEvidence:
    judged: bool                        # tilted enough (and enough frames) to say anything
    flat: bool                          # judged, and the card did not answer the light
    scores: dict[str, float] = field(default_factory=dict)


def plane_normals(quads: Sequence[np.ndarray], frame_size: tuple[int, int],
                  focal: float | None = None) -> np.ndarray:
    """Unit normals (n, 3) of the card's plane in camera coordinates, one per outline
    (TL, TR, BR, BL in pixels of frames `frame_size` = (w, h))."""
    w, h = frame_size
    f = focal if focal is not None else FOCAL_PER_WIDTH * w
    k_inv = np.linalg.inv(np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]]))
    out = []
    for q in quads:
        m = k_inv @ cv2.getPerspectiveTransform(_CARD_MM, np.asarray(q, np.float32))
        r1 = m[:, 0] / np.linalg.norm(m[:, 0])
        r2 = m[:, 1] / np.linalg.norm(m[:, 1])
        n = np.cross(r1, r2)
        out.append(n / np.linalg.norm(n))
    return np.array(out)


def tilt_range_deg(normals: np.ndarray) -> float:
    """The largest angle between two of the card's poses."""
    cos = np.clip(normals @ normals.T, -1.0, 1.0)
    return float(np.degrees(np.arccos(cos.min())))


def _basis() -> np.ndarray:
    yy, xx = np.mgrid[0:_H, 0:_W].astype(np.float32)
    u, v = xx / _W, yy / _H
    return np.stack([np.ones_like(u), u, v, u * u, v * v, u * v], -1).reshape(-1, 6)


_BASIS = _basis()


def _smooth_field(diff: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A quadratic surface fitted to `diff` at the `mask` pixels, robust to highlights (IRLS
    with Huber weights: rows scaled by their square root)."""
    a, b = _BASIS[mask.ravel()], diff.ravel()[mask.ravel()]
    w = np.ones_like(b)
    for _ in range(3):
        sw = np.sqrt(w)
        coef = np.linalg.lstsq(a * sw[:, None], b * sw, rcond=None)[0]
        r = b - a @ coef
        s = 1.4826 * float(np.median(np.abs(r))) + 1e-6
        w = 1.0 / np.maximum(1.0, np.abs(r) / (2.5 * s))
    return (_BASIS @ coef).reshape(_H, _W)


def tilt_evidence(frames: Sequence[np.ndarray], quads: Sequence[np.ndarray],
                  focal: float | None = None) -> TiltEvidence:
    """Judge a short clip of the card being tilted (see the module's docstring).

    `frames`: RGB uint8 frames of one size, with the exposure held; `quads`: the card's
    corners in each (TL, TR, BR, BL, frame pixels); `focal`: the camera's focal length in
    pixels of these frames, if known."""
    if len(frames) != len(quads):
        raise ValueError("se esperaba un contorno por cuadro")
    if not frames:
        return TiltEvidence(False, False, {"frames": 0.0})
    h, w = frames[0].shape[:2]
    if any(f.shape != (h, w, 3) or f.dtype != np.uint8 for f in frames):
        raise ValueError("los cuadros deben ser imágenes RGB de 8 bits del mismo tamaño")
    if any(np.shape(q) != (4, 2) or not np.isfinite(q).all() for q in quads):
        raise ValueError("cada contorno debe tener 4 esquinas [x, y]")
    if focal is not None and not (math.isfinite(focal) and focal > 0):
        raise ValueError("la distancia focal debe ser un número positivo")
    tilt = tilt_range_deg(plane_normals(quads, (w, h), focal))
    scores = {"frames": float(len(frames)), "tilt_deg": tilt}
    # Tilted by hand means a few degrees; tens of degrees is a wrong outline, not a tilt.
    if len(frames) < MIN_FRAMES or not tilt <= TILT_MAX_DEG:
        return TiltEvidence(False, False, scores)
    crops = [straighten(f, q, (_W, _H)) for f, q in zip(frames, quads, strict=True)]
    lin = np.stack([linear_rgb(c.astype(np.float32)) for c in crops])
    logy = np.log(lin @ np.array([0.2126, 0.7152, 0.0722], np.float32) + 0.01)
    median = np.median(logy, axis=0)
    inner = np.zeros((_H, _W), bool)
    inner[_BORDER:-_BORDER, _BORDER:-_BORDER] = True
    sample = np.zeros_like(inner)  # a smooth surface needs no more than every 3rd pixel each way
    sample[_BORDER:-_BORDER:3, _BORDER:-_BORDER:3] = True
    fields, excess = [], np.full((_H, _W), -np.inf, np.float32)
    for ly in logy:
        diff = ly - median
        g = _smooth_field(diff, sample)
        fields.append(g[inner])
        excess = np.maximum(excess, diff - g)
    fs = np.stack(fields)
    level = fs.mean(axis=1)
    shape = fs - level[:, None]
    # The largest change between any two frames, as the tilt is the largest angle between two
    # (measured from the first frame, a clip starting mid-wobble would read less).
    gain_change = float(level.max() - level.min())
    sq = (shape ** 2).sum(axis=1)
    dist2 = (sq[:, None] + sq[None, :] - 2 * shape @ shape.T) / shape.shape[1]
    shading_change = float(np.sqrt(max(float(dist2.max()), 0.0)))
    lab = np.stack([cv2.cvtColor(c, cv2.COLOR_RGB2LAB)[..., 1:].astype(np.float32) - 128.0 for c in crops])
    lab = np.stack([cv2.GaussianBlur(x, (0, 0), 3) for x in lab])
    lab -= np.median(lab.reshape(len(lab), -1, 2), axis=1)[:, None, None, :]  # per-frame white balance
    chroma_move = float(np.percentile(np.linalg.norm(lab.max(axis=0) - lab.min(axis=0), axis=-1)[inner], 99))
    per_deg = max(tilt, 1e-6)
    scores.update({
        "gain_change": gain_change / per_deg, "shading_change": shading_change / per_deg,
        "response": max(gain_change, shading_change) / per_deg,
        "specular_area": float((excess[inner] > SPECULAR_STEP).mean()), "chroma_move": chroma_move})
    judged = tilt >= TILT_MIN_DEG
    return TiltEvidence(judged, judged and scores["response"] < RESPONSE_MIN, scores)


def with_tilt(still: IntegrityResult, tilt: TiltEvidence) -> IntegrityResult:
    """The still's verdict, refused as a screen when it passed but the tilt found the card flat;
    the tilt's scores join the still's (prefixed ``tilt_``)."""
    scores = {**still.scores, **{f"tilt_{k}": v for k, v in tilt.scores.items()}}
    if still.verdict == OK and tilt.flat:
        return IntegrityResult(SCREEN, REASONS[SCREEN], scores)
    return IntegrityResult(still.verdict, still.reason, scores)
