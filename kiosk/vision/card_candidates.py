"""Outline candidates for the card, from independent detectors on the small frame.

Each detector proposes quadrilaterals in small-frame pixels; none decides alone
(`card_verify.score_batch` judges them all the same way):

- `fondo`: a colour model of the background from the frame's outer ring; the largest
  foreground blob's hull reduced to four corners;
- `bordes`: closed outlines of an edge map whose thresholds follow the frame's own
  gradient levels (a pale card on a white table has a faint edge and a soft shadow);
- `lineas`: straight segments (from the blobs' outlines and from the edge map), merged
  into lines and paired into quadrilaterals. A hand, arm or cable that crosses the frame
  edge and touches the card adds curved or short pieces and lines along the frame's
  border, which are dropped, so it does not join the card; a corner under a finger is
  where the other sides' lines meet.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def background_mask(small_lab: np.ndarray) -> np.ndarray:
    """Foreground (255) where a pixel's colour is far from every colour of the frame's ring."""
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


def edge_map(small_gray: np.ndarray) -> np.ndarray:
    """Canny edges with thresholds from the frame's gradient distribution, not its brightness."""
    g = cv2.GaussianBlur(small_gray, (5, 5), 0)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    mag = cv2.magnitude(gx, gy)
    # A faint card edge on a plain table is far below the card's own print: the bar follows
    # the frame's flat-area level (median), capped by its busy level (90th percentile).
    hi = max(24.0, min(float(np.percentile(mag, 90)), 6.0 * float(np.median(mag))))
    return cv2.Canny(g, 0.4 * hi, hi, L2gradient=True)


def filled_outlines(edges: np.ndarray) -> np.ndarray:
    """The edge map's outer outlines, closed and filled (a mask like the background one)."""
    e = cv2.dilate(edges, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    contours, _ = cv2.findContours(e, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    mask = np.zeros_like(edges)
    cv2.drawContours(mask, contours, -1, 255, thickness=cv2.FILLED)
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))


@dataclass
class Blob:
    contour: np.ndarray
    area: float
    hull_quad: np.ndarray | None
    fill: float                   # blob area / hull quad area (1: a clean quadrilateral)


def blobs(mask: np.ndarray, keep: int = 3, min_frac: float = 0.02) -> list[Blob]:
    """The largest blobs of a mask, each with the quadrilateral of its convex hull."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = []
    for cnt in sorted(contours, key=cv2.contourArea, reverse=True)[:keep]:
        area = float(cv2.contourArea(cnt))
        if area < mask.size * min_frac:
            break
        quad, fill = None, 0.0
        try:
            q = cv2.approxPolyN(cv2.convexHull(cnt), 4, ensure_convex=True).reshape(-1, 2)
            qarea = float(cv2.contourArea(q.astype(np.float32)))
            if len(q) == 4 and qarea > 0:
                quad, fill = q.astype(np.float32), min(area / qarea, qarea / area)
        except cv2.error:
            pass
        out.append(Blob(cnt, area, quad, fill))
    return out


@dataclass
class Line:
    point: np.ndarray             # a point on the line (small-frame px)
    normal: np.ndarray            # unit normal
    length: float                 # total length of the segments that make it


def _segment_line(a: np.ndarray, b: np.ndarray) -> Line:
    d = b - a
    n = np.array([-d[1], d[0]], np.float64) / max(float(np.linalg.norm(d)), 1e-9)
    if n[0] < 0 or (n[0] == 0 and n[1] < 0):
        n = -n                    # one orientation per line, so normals can be compared
    return Line((a + b) / 2, n, float(np.linalg.norm(d)))


def _on_border(a: np.ndarray, b: np.ndarray, w: int, h: int, m: float = 2.5) -> bool:
    return bool((a[0] <= m and b[0] <= m) or (a[1] <= m and b[1] <= m)
                or (a[0] >= w - 1 - m and b[0] >= w - 1 - m) or (a[1] >= h - 1 - m and b[1] >= h - 1 - m))


def contour_segments(contour: np.ndarray, shape: tuple[int, ...], min_len: float) -> list[tuple]:
    """Straight pieces of an outline, those along the frame's border left out."""
    h, w = shape[:2]
    peri = cv2.arcLength(contour, True)
    poly = cv2.approxPolyDP(contour, max(1.5, 0.006 * peri), True).reshape(-1, 2).astype(np.float64)
    segs = []
    for i in range(len(poly)):
        a, b = poly[i], poly[(i + 1) % len(poly)]
        if np.linalg.norm(b - a) >= min_len and not _on_border(a, b, w, h):
            segs.append((a, b))
    return segs


def hough_segments(edges: np.ndarray, min_len: float) -> list[tuple]:
    h, w = edges.shape
    got = cv2.HoughLinesP(edges, 1, np.pi / 360, threshold=max(12, int(min_len * 0.5)),
                          minLineLength=int(min_len), maxLineGap=max(3, int(min_len * 0.15)))
    if got is None:
        return []
    segs = []
    for x1, y1, x2, y2 in got.reshape(-1, 4)[:120]:
        a, b = np.array([x1, y1], np.float64), np.array([x2, y2], np.float64)
        if not _on_border(a, b, w, h):
            segs.append((a, b))
    return segs


def merge_lines(segs: list[tuple], angle_tol: float = 0.07, dist_tol: float = 2.5) -> list[Line]:
    """Collinear segments merged into lines, longest first."""
    lines: list[Line] = []
    for a, b in sorted(segs, key=lambda s: -float(np.linalg.norm(s[1] - s[0]))):
        s = _segment_line(a, b)
        for ln in lines:
            if abs(float(np.dot(ln.normal, s.normal))) > np.cos(angle_tol) \
                    and abs(float(np.dot(s.point - ln.point, ln.normal))) < dist_tol:
                ln.length += s.length
                break
        else:
            lines.append(s)
    return sorted(lines, key=lambda ln: -ln.length)


def quads_from_lines(lines: list[Line], shape: tuple[int, ...], top: int = 24,
                     min_sep: float = 0.08) -> np.ndarray:
    """(N, 4, 2) quadrilaterals from two pairs of roughly parallel lines that cross each other."""
    h, w = shape[:2]
    ls = lines[:top]
    if len(ls) < 4:
        return np.zeros((0, 4, 2), np.float32)
    nrm = np.array([ln.normal for ln in ls])                    # (L, 2)
    off = np.array([float(np.dot(ln.normal, ln.point)) for ln in ls])
    dots = np.abs(nrm @ nrm.T)
    i, j = np.triu_indices(len(ls), 1)
    sep = np.abs(off[j] - off[i] * np.sign((nrm[i] * nrm[j]).sum(1)))
    par = (dots[i, j] >= np.cos(np.deg2rad(22))) & (sep >= min_sep * min(h, w))
    pi, pj = i[par], j[par]
    if len(pi) < 2:
        return np.zeros((0, 4, 2), np.float32)
    a, b = np.triu_indices(len(pi), 1)
    cross = dots[pi[a], pi[b]] <= np.cos(np.deg2rad(50))        # the pairs must cross
    a, b = a[cross], b[cross]
    la, lb, lc, ld = pi[a], pj[a], pi[b], pj[b]

    def meet(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        n1, n2 = nrm[x], nrm[y]
        det = n1[:, 0] * n2[:, 1] - n1[:, 1] * n2[:, 0]
        det = np.where(np.abs(det) < 1e-9, 1e-9, det)
        px = (off[x] * n2[:, 1] - off[y] * n1[:, 1]) / det
        py = (n1[:, 0] * off[y] - n2[:, 0] * off[x]) / det
        return np.stack([px, py], axis=1)

    q = np.stack([meet(la, lc), meet(lc, lb), meet(lb, ld), meet(ld, la)], axis=1).astype(np.float32)
    keep = (q[..., 0] >= -0.25 * w).all(1) & (q[..., 0] <= 1.25 * w).all(1) \
        & (q[..., 1] >= -0.25 * h).all(1) & (q[..., 1] <= 1.25 * h).all(1)
    return q[keep]


def side_swaps(quads: np.ndarray, lines: list[Line], reach: float = 0.3) -> np.ndarray:
    """Each quad again with one side moved onto another line parallel to it nearby.

    Lines are ranked by length, and a cluttered frame (a keyboard, a striped cloth) has many
    long ones: the card's own edge may rank too low to be paired. The best quads are close to
    the card, so trying every nearby parallel line for each of their sides finds it.
    """
    if len(quads) == 0 or not lines:
        return np.zeros((0, 4, 2), np.float32)
    nrm = np.array([ln.normal for ln in lines])
    off = np.array([float(np.dot(ln.normal, ln.point)) for ln in lines])
    out = []
    for q in np.asarray(quads, np.float64):
        sides = [(q[i], q[(i + 1) % 4]) for i in range(4)]
        size = float(np.linalg.norm(q[2] - q[0]))
        for i, (a, b) in enumerate(sides):
            sl = _segment_line(a, b)
            dot = nrm @ sl.normal
            dist = np.abs(off - np.sign(dot) * float(np.dot(sl.normal, sl.point)))
            par = np.abs(dot) > np.cos(np.deg2rad(6))
            near = np.flatnonzero(par & (dist > 1.0) & (dist < reach * size))
            prev, nxt = sides[i - 1], sides[(i + 1) % 4]
            lp, ln_ = _segment_line(*prev), _segment_line(*nxt)
            for k in near:
                cand = lines[k]
                p1, p2 = _meet(lp, cand), _meet(cand, ln_)
                if p1 is None or p2 is None:
                    continue
                v = q.copy()
                v[i], v[(i + 1) % 4] = p1, p2
                out.append(v)
    return np.array(out, np.float32).reshape(-1, 4, 2)


def _meet(l1: Line, l2: Line) -> np.ndarray | None:
    a = np.array([l1.normal, l2.normal])
    if abs(np.linalg.det(a)) < 0.2:
        return None
    return np.linalg.solve(a, np.array([np.dot(l1.normal, l1.point), np.dot(l2.normal, l2.point)]))
