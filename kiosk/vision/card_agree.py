"""A second, independent opinion on a found outline: the card segmented from its surroundings.

The finder's outlines come from edges: a side may sit on a printed line just inside the card
(a header's rule) or on a line of a patterned cloth just outside it, and the verifier, which
asks of a side only that it lies on a one-signed step, cannot tell. Segmentation asks another
question: which pixels look like the card and which like what surrounds it. GrabCut
(Rother et al. 2004, OpenCV) is started from the outline itself: well inside it is card,
well outside it is not, a band of `REACH` of the card's short side either way is left to the
colour models to decide; along each side a line is fitted (RANSAC) through the longest
straight part of the segment's boundary (the middle of the side only, not the rounded
corners; a finger's dent is not straight with the rest) and the four lines give the
segmented outline.

`outline_agreement` says how far apart the two outlines are (mean corner distance over the
outline's diagonal); with no segment (a degenerate outline, GrabCut with nothing to tell
apart, no straight side in the boundary) the distance is infinite: no confirmation, so the
outline is not trusted. An outline is trusted for straightening at capture when the two agree
within `AGREE`: they fail in different ways (print lines are card-coloured on both sides;
cloth lines are table-coloured on both sides), so agreement is evidence that neither failed.
Capture-time only: ~100-150 ms per GrabCut run on a 1280x720 frame, two when the outlines
disagree. Pure: numpy in, data out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

REACH = 0.15           # the undecided band each side of the outline, a fraction of its short side
WORK = 480             # the segmentation runs on the outline's surroundings scaled to this many px
ITERATIONS = 4
AGREE = 0.015          # outlines this close (mean corner distance / diagonal) agree
FIXED_POINT = 0.012    # a segmented outline this close to its own segmentation is settled
_ALONG = (0.15, 0.85)  # part of each side fitted
RANSAC_TRIES = 80
INLIER_PX = 1.5        # px of the scaled picture a boundary point may lie off its side's line
MIN_INLIERS = 0.5      # share of a side's boundary points its line must hold


@dataclass(frozen=True)
class Agreement:
    segmented: np.ndarray | None   # (4, 2) the segmented outline, frame px; None: no segment
    distance: float                # mean corner distance over the diagonal (inf without a segment)

    @property
    def agrees(self) -> bool:
        return self.distance <= AGREE


def _lines(c: np.ndarray, d: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The outline's sides moved outward by d (inward when negative), as (point, direction)."""
    centre = c.mean(axis=0)
    out = []
    for k in range(4):
        p, q = c[k], c[(k + 1) % 4]
        t = (q - p) / max(float(np.linalg.norm(q - p)), 1e-9)
        n = np.array([-t[1], t[0]])
        if float(np.dot(centre - p, n)) > 0:
            n = -n
        out.append((p + d * n, t))
    return out


def _corners(lines: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray | None:
    out = []
    for k in range(4):
        (p1, d1), (p2, d2) = lines[(k - 1) % 4], lines[k]
        m = np.array([d1, -d2]).T
        if abs(float(np.linalg.det(m))) < 1e-6:
            return None
        s = np.linalg.solve(m, p2 - p1)
        out.append(p1 + s[0] * d1)
    return np.array(out)


def _offset(c: np.ndarray, d: float) -> np.ndarray:
    got = _corners(_lines(c, d))
    return c if got is None else got


def _straight_part(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The line through the longest straight part of a side's boundary points (RANSAC): a
    finger or a hand over the side dents the segment, and a least-squares line would follow
    the dent. None when no line holds most of the points (no straight side there)."""
    if len(pts) < 10:
        return None
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, len(pts), size=(RANSAC_TRIES, 2))
    best: np.ndarray | None = None
    for i, j in pairs:
        d = pts[j] - pts[i]
        n = float(np.hypot(d[0], d[1]))
        if n < 4:
            continue
        normal = np.array([-d[1], d[0]]) / n
        inliers = np.abs((pts - pts[i]) @ normal) <= INLIER_PX
        if best is None or inliers.sum() > best.sum():
            best = inliers
    if best is None or best.sum() < MIN_INLIERS * len(pts):
        return None
    vx, vy, px, py = cv2.fitLine(pts[best].astype(np.float32), cv2.DIST_L2, 0, 0.01, 0.01).ravel()
    return np.array([px, py]), np.array([vx, vy])


def segmented_outline(frame: np.ndarray, corners: np.ndarray) -> np.ndarray | None:
    """The card's outline by segmentation started from `corners` (TL TR BR BL, frame px)."""
    c = np.asarray(corners, np.float64).reshape(4, 2)
    if not np.isfinite(c).all():
        return None
    short = min(float(np.linalg.norm(c[(k + 1) % 4] - c[k])) for k in range(4))
    if short < 16 or abs(float(cv2.contourArea(c.astype(np.float32)))) < 64:
        return None                      # degenerate: no opinion to give
    d = REACH * short
    outer = _offset(c, 2 * d)
    h, w = frame.shape[:2]
    x0, y0 = np.maximum(np.floor(outer.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(outer.max(axis=0)).astype(int), (w, h))
    roi = frame[y0:y1, x0:x1]
    if roi.shape[0] < 16 or roi.shape[1] < 16:
        return None                      # the outline lies (almost) wholly outside the frame
    if roi.ndim == 2:
        roi = cv2.cvtColor(roi, cv2.COLOR_GRAY2RGB)
    s = min(1.0, WORK / max(roi.shape[:2]))
    small = cv2.resize(roi, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else roi.copy()

    def to_small(q: np.ndarray) -> np.ndarray:
        return np.round((q - (x0, y0)) * s).astype(np.int32)

    mask = np.full(small.shape[:2], cv2.GC_BGD, np.uint8)
    cv2.fillPoly(mask, [to_small(_offset(c, d))], cv2.GC_PR_BGD)
    cv2.fillPoly(mask, [to_small(c)], cv2.GC_PR_FGD)
    cv2.fillPoly(mask, [to_small(_offset(c, -d))], cv2.GC_FGD)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)                    # GrabCut's k-means start: the same answer every time
    try:
        cv2.grabCut(np.ascontiguousarray(small), mask, (0, 0, 0, 0), bgd, fgd, ITERATIONS,
                    cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None                      # a degenerate region (one colour): no opinion
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(fg)
    if n < 2:
        return None
    fg = (lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    pts = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    q = (c - (x0, y0)) * s
    fitted = []
    for k, (p, t) in enumerate(_lines(q, 0.0)):
        length = float(np.linalg.norm(q[(k + 1) % 4] - q[k]))
        n = np.array([-t[1], t[0]])
        rel = pts - p
        along, across = rel @ t / length, np.abs(rel @ n)
        near = pts[(along > _ALONG[0]) & (along < _ALONG[1]) & (across < 2.5 * d * s)]
        line = _straight_part(near)
        if line is None:
            return None
        fitted.append(line)
    got = _corners(fitted)
    return None if got is None else got / s + (x0, y0)


def outline_agreement(frame: np.ndarray, corners: np.ndarray) -> Agreement:
    """The segmented outline and its distance to `corners` (see the module)."""
    c = np.asarray(corners, np.float64).reshape(4, 2)
    seg = segmented_outline(frame, c)
    if seg is None:
        return Agreement(None, float("inf"))
    diag = (float(np.linalg.norm(c[2] - c[0])) + float(np.linalg.norm(c[3] - c[1]))) / 2
    dist = float(np.linalg.norm(seg - c, axis=1).mean()) / max(diag, 1e-9)
    return Agreement(seg.astype(np.float32), dist)


@dataclass(frozen=True)
class Settled:
    corners: np.ndarray            # the outline to use (frame px, TL TR BR BL)
    distance: float                # its distance to its own segmentation (inf: none)
    replaced: bool                 # the segmented outline replaced the finder's
    # A segmented outline that is a fixed point but that the finder's judge refused (its edge
    # evidence is weak there): not used as the outline, but worth trying as an alternative.
    candidate: np.ndarray | None = None


def settle_outline(frame: np.ndarray, corners: np.ndarray, verify: Callable[[np.ndarray], bool]) -> Settled:
    """The finder's outline if its segmentation agrees; else the segmented outline when it is a
    fixed point (segmenting again from it agrees with it: a wrong outline's segmentation rarely
    is) and `verify` accepts it (the finder's own judge: aspect, edges); else the finder's
    outline, marked by its distance as not agreeing."""
    first = outline_agreement(frame, corners)
    if first.agrees or first.segmented is None:
        return Settled(np.asarray(corners, np.float32), first.distance, False)
    again = outline_agreement(frame, first.segmented)
    if again.distance <= FIXED_POINT:
        if verify(first.segmented):
            return Settled(first.segmented, again.distance, True)
        return Settled(np.asarray(corners, np.float32), first.distance, False, first.segmented)
    return Settled(np.asarray(corners, np.float32), first.distance, False)
