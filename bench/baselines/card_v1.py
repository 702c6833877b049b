# Frozen finder of 2026-12-06, kept as a baseline for bench/bench_card_finder.py.
# A verbatim copy of kiosk/vision/card.py as it was that day; do not edit it, so
# the benchmark keeps comparing the live finder against the same reference.

"""Find an ID-1 card in an RGB frame and straighten it.

Pure functions: numpy in, data out. The search runs on a small copy of the
frame (about 320 px wide) so that it costs a millisecond or two:

1. A background model from the frame's outer ring (the card is held inside
   the frame, so the ring is table, hand or wall): a few colour centres in
   Lab. Every pixel's distance to the nearest centre, thresholded (Otsu),
   gives a foreground mask; the largest blob, filled, is the card candidate.
2. An edge route for cards whose colour is close to the background's:
   Canny edges, closed, the largest closed outline.
3. Each candidate's convex hull is reduced to a quadrilateral
   (`cv2.approxPolyN`) and scored by how well it fills the hull and by its
   aspect ratio; the best wins.
4. The corners are refined on the full-resolution frame: along each side the
   strongest luminance step is searched across the side and a line is fitted
   through the hits; the refined corners are the lines' intersections.

`straighten` warps the card to `CARD_W` x `CARD_H` (1024 x 646, ~12 px/mm,
the generator's resolution), enough for the MRZ and the dense QRs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

ID1_W_MM, ID1_H_MM = 85.60, 53.98
ID1_ASPECT = ID1_W_MM / ID1_H_MM           # 1.586
CARD_W = 1024
CARD_H = round(CARD_W / ID1_ASPECT)        # 646
WORK_W = 256                               # width of the copy the search runs on


@dataclass(frozen=True)
class CardFind:
    """The card's corners in frame pixels (TL, TR, BR, BL) and how sure we are."""

    corners: np.ndarray          # float32 (4, 2)
    score: float                 # 0..1, quad fit x aspect agreement
    touches_border: bool         # the card (or its blob) runs into the frame's edge
    area_fraction: float         # card area / frame area
    method: str                  # "fondo" (background model) or "bordes" (edges)

    @property
    def width_px(self) -> float:
        c = self.corners
        return float((np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2)


def order_corners(pts: np.ndarray) -> np.ndarray:
    """TL, TR, BR, BL for four points; the long sides become top and bottom."""
    pts = np.asarray(pts, np.float32).reshape(4, 2)
    c = pts.mean(axis=0)
    ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    pts = pts[np.argsort(ang)]                  # clockwise in image coordinates, from ~-180°
    # Start at the corner with the smallest x + y (top-left for rotations < 45°).
    start = int(np.argmin(pts.sum(axis=1)))
    pts = np.roll(pts, -start, axis=0)
    top = np.linalg.norm(pts[1] - pts[0]) + np.linalg.norm(pts[2] - pts[3])
    side = np.linalg.norm(pts[3] - pts[0]) + np.linalg.norm(pts[2] - pts[1])
    if side > top * 1.15:                       # held portrait-wise: rotate the labels
        pts = np.roll(pts, -1, axis=0)
    return pts


def _quad_from_mask(mask: np.ndarray) -> tuple[np.ndarray, float, float] | None:
    """Best quadrilateral for the largest blob of `mask`: (quad, fill, blob area)."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    cnt = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(cnt)
    if area < mask.size * 0.02:
        return None
    hull = cv2.convexHull(cnt)
    try:
        quad = cv2.approxPolyN(hull, 4, ensure_convex=True).reshape(-1, 2).astype(np.float32)
    except cv2.error:
        return None
    if len(quad) != 4:
        return None
    qarea = cv2.contourArea(quad)
    if qarea <= 0:
        return None
    fill = min(area / qarea, qarea / max(area, 1.0))
    return quad, float(fill), float(area)


def _aspect_agreement(quad: np.ndarray) -> float:
    q = order_corners(quad)
    w = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    h = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
    if h <= 0:
        return 0.0
    r = (w / h) / ID1_ASPECT
    return float(np.exp(-abs(np.log(r)) * 4))     # 1.0 exact, 0.67 at 10 % off


def _background_mask(small_lab: np.ndarray) -> np.ndarray:
    h = small_lab.shape[0]
    b = max(3, h // 40)
    ring = np.concatenate([small_lab[:b].reshape(-1, 3), small_lab[-b:].reshape(-1, 3),
                           small_lab[:, :b].reshape(-1, 3), small_lab[:, -b:].reshape(-1, 3)])
    ring = ring.astype(np.float32)
    # A card cut by the frame's edge fills part of the ring: drop ring segments whose colour
    # is far from the ring's typical colour (robustly), so the card is not taken as background.
    seg = ring[: len(ring) // 32 * 32].reshape(32, -1, 3)
    means = seg.mean(axis=1)
    med = np.median(means, axis=0)
    d = np.abs(means - med).sum(axis=1)
    keep = d <= max(18.0, 3.0 * float(np.median(d)))
    ring = seg[keep].reshape(-1, 3)[::3]
    # Four colour centres: a crude k-means seeded by the ring's luminance quartiles.
    order = np.argsort(ring[:, 0])
    centres = np.stack([ring[order[int(len(order) * q)]] for q in (0.1, 0.37, 0.63, 0.9)])
    for _ in range(3):
        d = ((ring[:, None, :] - centres[None]) ** 2).sum(-1)
        lab = d.argmin(1)
        for k in range(4):
            sel = ring[lab == k]
            if len(sel):
                centres[k] = sel.mean(0)
    # L1 distance in Lab to the nearest centre, all in OpenCV (saturating uint8, fast).
    ones = np.ones((1, 3), np.float32) * 2.0
    d8 = None
    for c in centres:
        # OpenCV takes a Scalar for src2; its stubs want an array
        diff = cv2.absdiff(small_lab, (float(c[0]), float(c[1]), float(c[2]), 0.0))  # type: ignore[call-overload]
        d = cv2.transform(diff, ones)
        d8 = d if d8 is None else cv2.min(d8, d)
    assert d8 is not None
    d8 = cv2.GaussianBlur(d8, (5, 5), 0)
    mask = cv2.threshold(d8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel, iterations=2)
    return mask


def _edge_mask(small_gray: np.ndarray) -> np.ndarray:
    g = cv2.GaussianBlur(small_gray, (5, 5), 0)
    med = float(np.median(g))
    edges = cv2.Canny(g, max(10, 0.4 * med), max(30, 1.0 * med))
    edges = cv2.dilate(edges, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    mask = np.zeros_like(g)
    cv2.drawContours(mask, contours, -1, 255, thickness=cv2.FILLED)
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))


def _touches(mask: np.ndarray, quad: np.ndarray) -> bool:
    """The card runs out of the frame: a corner on the edge, or a long contact with it."""
    h, w = mask.shape
    out = 3.0      # approxPolyN may put a corner a pixel or two outside a card that fits
    if ((quad[:, 0] < -out).any() or (quad[:, 1] < -out).any()
            or (quad[:, 0] > w - 1 + out).any() or (quad[:, 1] > h - 1 + out).any()):
        return True
    contact = int(np.count_nonzero(mask[0])) + int(np.count_nonzero(mask[-1])) \
        + int(np.count_nonzero(mask[:, 0])) + int(np.count_nonzero(mask[:, -1]))
    q = order_corners(quad)
    short = float(min(np.linalg.norm(q[3] - q[0]), np.linalg.norm(q[2] - q[1])))
    return contact > 0.3 * short


def find_card(frame: np.ndarray, refine: bool = True) -> CardFind | None:
    """The card in an RGB (or grey) frame, or None if nothing card-like is there."""
    h, w = frame.shape[:2]
    scale = WORK_W / w
    sw, sh = WORK_W, max(1, round(h * scale))
    small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_LINEAR)
    if small.ndim == 2:
        small = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)
    best: tuple[float, np.ndarray, np.ndarray, str, bool] | None = None
    for method, mask in (("fondo", _background_mask(lab)), ("bordes", _edge_mask(lab[..., 0]))):
        got = _quad_from_mask(mask)
        if got is None:
            continue
        quad, fill, _area = got
        touches = _touches(mask, quad)
        # A card cut by the frame's edge is not a full ID-1 quad: judge it by its fill only,
        # and only if it is big (a cut-off card is close to the camera).
        score = fill * (0.6 if touches and _area > 0.08 * mask.size else _aspect_agreement(quad))
        if best is None or score > best[0]:
            best = (score, quad, mask, method, touches)
        if score > 0.85 and not touches:
            break            # good enough: skip the second route
    if best is None or best[0] < 0.35:
        return None
    score, quad, mask, method, touches = best
    corners = order_corners(quad / scale)
    if refine and not touches:
        corners = refine_corners(frame, corners)
    area = float(cv2.contourArea(corners)) / (w * h)
    return CardFind(corners.astype(np.float32), float(score), touches, area, method)


def _gray(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def refine_corners(frame: np.ndarray, corners: np.ndarray, search: float = 0.015) -> np.ndarray:
    """Move each side onto the strongest luminance step near it; intersect the sides."""
    h, w = frame.shape[:2]
    c = corners.astype(np.float64)
    span = max(4.0, search * max(h, w))
    lines = []
    for i in range(4):
        p, q = c[i], c[(i + 1) % 4]
        d = q - p
        length = np.linalg.norm(d)
        if length < 10:
            return corners
        t = d / length
        n = np.array([-t[1], t[0]])
        ts = np.linspace(0.1, 0.9, 24)
        offs = np.arange(-span, span + 1, 1.0)
        base = p[None, :] + ts[:, None] * d[None, :]
        pts = base[:, None, :] + offs[None, :, None] * n[None, None, :]
        mx = pts[..., 0].astype(np.float32)
        my = pts[..., 1].astype(np.float32)
        # Sample only the profiles (a few hundred pixels), not a whole grey frame.
        prof = cv2.remap(frame, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        prof = prof.astype(np.float32).mean(axis=2) if prof.ndim == 3 else prof.astype(np.float32)
        prof = cv2.GaussianBlur(prof, (3, 1), 0)
        grad = np.abs(np.diff(prof, axis=1))
        k = grad.argmax(axis=1)
        strong = grad[np.arange(len(k)), k] > 8
        if strong.sum() < 6:
            lines.append((p, t))
            continue
        hits = base[strong] + (offs[k[strong]] + 0.5)[:, None] * n[None, :]
        # Robust line: drop hits far from the median offset (texture, glare).
        o = offs[k[strong]]
        keep = np.abs(o - np.median(o)) <= 3
        if keep.sum() < 6:
            keep = np.ones_like(o, bool)
        vx, vy, x0, y0 = cv2.fitLine(hits[keep].astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0]), np.array([vx, vy])))
    out = []
    for i in range(4):
        (p1, d1), (p2, d2) = lines[(i - 1) % 4], lines[i]
        a = np.array([d1, -d2]).T
        if abs(np.linalg.det(a)) < 1e-6:
            return corners
        s = np.linalg.solve(a, p2 - p1)
        out.append(p1 + s[0] * d1)
    out_arr = np.array(out, np.float32)
    # Refinement must not move a corner far: if it did, it locked onto something else.
    if np.abs(out_arr - corners).max() > span * 1.5:
        return corners
    return out_arr


def straighten(frame: np.ndarray, corners: np.ndarray,
               size: tuple[int, int] = (CARD_W, CARD_H)) -> np.ndarray:
    """The card warped flat to `size` (w, h) at ID-1 proportions."""
    w, h = size
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(np.asarray(corners, np.float32), dst)
    return cv2.warpPerspective(frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
