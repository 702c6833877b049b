"""Clips of a card tilted in front of a pinhole camera, with the light as the test sets it:
material for the tilt evidence (kiosk/vision/integrity_tilt.py) and `scan --frames`."""

from __future__ import annotations

import math

import cv2
import numpy as np

from kiosk.vision.integrity_tilt import FOCAL_PER_WIDTH

W, H = 960, 720
CARD_MM = np.float32([[0, 0], [85.6, 0], [85.6, 53.98], [0, 53.98]])


def _rot(ax: float, ay: float) -> np.ndarray:
    a, b = math.radians(ax), math.radians(ay)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    return ry @ rx


def card_quad(ax: float, ay: float, dist_mm: float = 140.0, focal: float | None = None) -> np.ndarray:
    """The card's corners in a W x H frame, its centre `dist_mm` in front of the camera,
    turned by (ax, ay) degrees about its own centre; `focal` in pixels (default: the checker's
    assumed 62-degree field)."""
    f = focal if focal is not None else FOCAL_PER_WIDTH * W
    k = np.array([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]])
    pts = np.c_[CARD_MM - CARD_MM.mean(axis=0), np.zeros(4)] @ _rot(ax, ay).T + [0, 0, dist_mm]
    p = pts @ k.T
    return (p[:, :2] / p[:, 2:]).astype(np.float32)


def card_clip(card: np.ndarray, angles: list[float], shading: float, focal: float | None = None,
              dist_mm: float = 140.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The card tilted about its vertical axis through `angles`, on a grey table, with a
    camera's noise (1.5 levels) before 8-bit rounding. `shading`: how much a lamp to one side
    changes the card's light per degree it turns (ln units of linear light; the slope across
    the card moves with it): a reflecting card answers the light; 0 is a screen, which emits
    whatever its angle."""
    rng = np.random.default_rng(5)
    frames, quads = [], []
    src = np.float32([[0, 0], [card.shape[1], 0], [card.shape[1], card.shape[0]], [0, card.shape[0]]])
    x = np.linspace(-1, 1, card.shape[1], dtype=np.float32)[None, :, None]
    linear = (card.astype(np.float32) / 255) ** 2.2
    for a in angles:
        lit = linear * np.exp(shading * a * (1 + 0.5 * x))
        encoded = 255 * lit ** (1 / 2.2) + rng.normal(0, 1.5, card.shape)
        q = card_quad(0.0, a, dist_mm, focal)
        m = cv2.getPerspectiveTransform(src, q)
        frame = np.full((H, W, 3), 90, np.uint8)
        warped = cv2.warpPerspective(np.clip(np.round(encoded), 0, 255).astype(np.uint8), m, (W, H))
        inside = cv2.warpPerspective(np.ones(card.shape[:2], np.uint8), m, (W, H)) > 0
        frame[inside] = warped[inside]
        frames.append(frame)
        quads.append(q)
    return frames, quads
