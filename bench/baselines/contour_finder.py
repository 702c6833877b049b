"""The textbook OpenCV card finder, as a floor for bench/bench_card_finder.py.

Grey, Gaussian blur, Canny, dilate, external contours, and the largest contour
whose `approxPolyDP` (2 % of its perimeter) has four points. Run on a copy
640 px wide (what the tutorials do, and fast). No colour model, no refinement,
no tuning: it shows what the project's finder adds. `touches_border` is a
corner within 2 px of the frame's edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_W = 640
MIN_AREA = 0.02          # of the frame: smaller quads are text, QR modules, noise


@dataclass(frozen=True)
class ContourFind:
    corners: np.ndarray          # float32 (4, 2), TL TR BR BL in the image
    touches_border: bool


def _order(q: np.ndarray) -> np.ndarray:
    """Clockwise from the corner nearest the image's top-left."""
    c = q.mean(axis=0)
    q = q[np.argsort(np.arctan2(q[:, 1] - c[1], q[:, 0] - c[0]))]
    return np.roll(q, -int(np.argmin(q.sum(axis=1))), axis=0)


def find_card(frame: np.ndarray) -> ContourFind | None:
    h, w = frame.shape[:2]
    scale = WORK_W / w
    small = cv2.resize(frame, (WORK_W, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    gray = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 0), 50, 150)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    for cnt in sorted(contours, key=cv2.contourArea, reverse=True):
        if cv2.contourArea(cnt) < MIN_AREA * gray.size:
            break
        quad = cv2.approxPolyDP(cnt, 0.02 * cv2.arcLength(cnt, True), True)
        if len(quad) == 4 and cv2.isContourConvex(quad):
            corners = _order(quad.reshape(4, 2).astype(np.float32) / scale)
            edge = ((corners < 2).any() or (corners[:, 0] > w - 3).any() or (corners[:, 1] > h - 3).any())
            return ContourFind(corners, bool(edge))
    return None
