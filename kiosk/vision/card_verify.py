"""Is a quadrilateral the card? Geometry and edge evidence for the finder's candidates; and,
once one is chosen, its corners refined on the full-resolution frame and the card straightened
(`refine_corners`, `straighten`; `kiosk.vision.card` re-exports both).

Every candidate outline, whatever detector proposed it, is judged here the same way
before anything is straightened:

- geometry: convex, no corner sharper than ~45°, a plausible size, and the ID-1 aspect
  ratio (85.60 x 53.98 mm) within the perspective a hand-held card shows;
- edges: each of the four sides must lie on a luminance step of one sign (the card is
  brighter or darker than what is beyond it all along that side). A side is judged by
  the fraction of points along it that sit on such a step; a finger over a corner costs
  two sides a part of their support, not the outline its place.

The step threshold follows the frame's own texture (the median gradient), so a pale card
on a white table, seen only by its faint edge and shadow, is judged as fairly as a dark
card on wood.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

ID1_W_MM, ID1_H_MM = 85.60, 53.98
ID1_ASPECT = ID1_W_MM / ID1_H_MM           # 1.586

_SAMPLES = 32                              # points along each side
_OFFSETS = np.arange(-2.0, 2.5, 1.0)       # across the side, small-image pixels
_NEXT = np.array([1, 2, 3, 0])             # the next corner, as an index (cheaper than np.roll)
_PREV = np.array([3, 0, 1, 2])
_MID = np.linspace(0.06, 0.94, _SAMPLES, dtype=np.float32)
_BEYOND = np.concatenate([np.linspace(1.04, 1.24, _SAMPLES // 4),
                          np.linspace(-0.24, -0.04, _SAMPLES // 4)]).astype(np.float32)


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


def inside_frame(quad: np.ndarray, shape: tuple[int, ...], margin: float) -> bool:
    """Every corner within the frame (up to `margin` px outside: a fitted corner can overshoot)
    and no side lying along the frame's edge (there the card goes on out of sight)."""
    h, w = shape[:2]
    q = np.asarray(quad).reshape(4, 2)
    if not ((q[:, 0] >= -margin).all() and (q[:, 1] >= -margin).all()
            and (q[:, 0] <= w - 1 + margin).all() and (q[:, 1] <= h - 1 + margin).all()):
        return False
    m = min(margin, 1.0)
    near = np.stack([q[:, 0] <= m, q[:, 1] <= m, q[:, 0] >= w - 1 - m, q[:, 1] >= h - 1 - m], axis=1)
    return not (near & np.roll(near, -1, axis=0)).any()


@dataclass
class EdgeField:
    """The small grey frame's gradients and the step that counts as an edge in it."""

    gxy: np.ndarray              # float32 (h, w, 2): x and y gradients
    threshold: float

    @classmethod
    def of(cls, gray: np.ndarray) -> EdgeField:
        g = cv2.GaussianBlur(gray, (3, 3), 0).astype(np.float32)
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
        mag = cv2.magnitude(gx, gy)
        # A Sobel of a 3-grey-level step is ~12; texture raises the bar to the frame's own level.
        t = max(9.0, 2.2 * float(np.median(mag[::2, ::2])))
        return cls(cv2.merge([gx, gy]), t)

    def support_batch(self, quads: np.ndarray) -> np.ndarray:
        """`support` for (N, 4, 2) quads at once (one remap for all): (N, 4)."""
        return self.profile(quads, ends=False)[0]

    def profile(self, quads: np.ndarray, ends: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(support (N, 4), continuing ends (N,)) of (N, 4, 2) quads, in one remap.

        A card's sides end at its corners (beyond them is table); a box cut out of a bigger
        card by one printed line has two sides that run on along the card's own edges."""
        k = _SAMPLES // 4
        ts = _MID if not ends else np.concatenate([_MID, _BEYOND])
        pos, neg = self._steps(quads, ts)
        mp, mn = pos[..., :_SAMPLES], neg[..., :_SAMPLES]
        mp_n, mn_n = mp.sum(2), mn.sum(2)
        support = (np.maximum(mp_n, mn_n) / _SAMPLES).astype(np.float32)
        if not ends:
            return support, np.zeros(len(support), int)
        sign = (mp_n >= mn_n)[..., None]
        same = np.where(sign, pos[..., _SAMPLES:], neg[..., _SAMPLES:])         # (N, 4, 2k)
        n_ends = (same[..., :k].mean(2) >= 0.6).astype(int) + (same[..., k:].mean(2) >= 0.6)
        return support, n_ends.sum(1)

    def _steps(self, quads: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per side and point (N, 4, len(ts)): is there a positive / negative step across it?"""
        q = np.asarray(quads, np.float32)
        n_q = len(q)
        samples = len(ts)
        d = q[:, _NEXT] - q
        t = d / np.maximum(np.linalg.norm(d, axis=2, keepdims=True), 1e-6)
        n = np.stack([-t[..., 1], t[..., 0]], axis=2)                              # (N, 4, 2)
        base = q[:, :, None, :] + ts[None, None, :, None] * d[:, :, None, :]     # (N, 4, S, 2)
        pts = base[..., None, :] + _OFFSETS[None, None, None, :, None] * n[:, :, None, None, :]
        # One row per side keeps the maps under OpenCV's 32767-row limit for thousands of quads.
        mx = pts[..., 0].reshape(n_q * 4, -1).astype(np.float32)
        my = pts[..., 1].reshape(n_q * 4, -1).astype(np.float32)
        g = cv2.remap(self.gxy, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        g = g.reshape(n_q, 4, samples, len(_OFFSETS), 2)
        proj = g[..., 0] * n[:, :, None, None, 0] + g[..., 1] * n[:, :, None, None, 1]
        k = np.abs(proj).argmax(axis=3)
        best = np.take_along_axis(proj, k[..., None], axis=3)[..., 0]
        strong = np.abs(best) > self.threshold
        # One sign along a side: the card is lighter (or darker) than its surroundings there.
        return strong & (best > 0), strong & (best < 0)


def _edge_score(sup: np.ndarray) -> np.ndarray:
    srt = np.sort(sup, axis=1)
    edge = (0.5 * srt[:, 0] + srt[:, 1] + srt[:, 2] + srt[:, 3]) / 3.5
    return np.where((srt[:, 0] < 0.2) | (srt[:, 1] < 0.45), 0.0, edge)


def order_batch(quads: np.ndarray) -> np.ndarray:
    """`order_corners` for (N, 4, 2) quads given in cyclic order (either direction)."""
    q = np.asarray(quads, np.float32)
    # Make every quad clockwise in image coordinates (positive shoelace area with y down).
    x, y = q[..., 0], q[..., 1]
    area2 = (x * y[:, _NEXT] - x[:, _NEXT] * y).sum(1)
    q = np.where((area2 < 0)[:, None, None], q[:, ::-1], q)
    start = q.sum(2).argmin(1)
    idx = (start[:, None] + np.arange(4)[None]) % 4
    q = np.take_along_axis(q, idx[..., None], axis=1)
    sl = np.linalg.norm(q[:, _NEXT] - q, axis=2)
    top, side = sl[:, 0] + sl[:, 2], sl[:, 1] + sl[:, 3]
    rot = side > top * 1.15
    return np.where(rot[:, None, None], q[:, _NEXT], q)


def plausible_batch(q: np.ndarray, shape: tuple[int, ...], min_area: float = 0.02) -> np.ndarray:
    """`plausible` for (N, 4, 2) ordered quads, as a boolean mask."""
    h, w = shape[:2]
    x, y = q[..., 0], q[..., 1]
    area = 0.5 * np.abs((x * y[:, _NEXT] - x[:, _NEXT] * y).sum(1))
    u = q[:, _PREV] - q
    v = q[:, _NEXT] - q
    nu, nv = np.linalg.norm(u, axis=2), np.linalg.norm(v, axis=2)
    cos = (u * v).sum(2) / np.maximum(nu * nv, 1e-9)
    cross = v[..., 0] * u[..., 1] - v[..., 1] * u[..., 0]
    convex = (cross > 0).all(1) | (cross < 0).all(1)
    sl = np.linalg.norm(q[:, _NEXT] - q, axis=2)
    opp = (np.minimum(sl[:, 0], sl[:, 2]) > 0.6 * np.maximum(sl[:, 0], sl[:, 2])) \
        & (np.minimum(sl[:, 1], sl[:, 3]) > 0.6 * np.maximum(sl[:, 1], sl[:, 3]))
    return (area >= min_area * h * w) & (np.abs(cos) <= 0.72).all(1) & convex & opp \
        & (np.minimum(nu, nv) > 1e-6).all(1)


def true_aspect(q: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Width / height of the rectangles that (N, 4, 2) ordered quads picture, undoing perspective.

    Zhang & He, "Whiteboard scanning and image enhancement" (2007): with the principal point
    at the frame's centre and square pixels, the focal length and the rectangle's true aspect
    follow from its four corners. Where the view is too close to frontal for that (or the
    estimate is not a real camera), a typical focal length stands in; for a degenerate quad,
    the ratio of mean side lengths.
    """
    h, w = shape[:2]
    sl = np.linalg.norm(q[:, _NEXT] - q, axis=2)
    simple = (sl[:, 0] + sl[:, 2]) / np.maximum(sl[:, 1] + sl[:, 3], 1e-9)
    u0, v0 = (w - 1) / 2.0, (h - 1) / 2.0
    ones = np.ones((len(q), 1))
    m1, m2 = np.hstack([q[:, 0], ones]), np.hstack([q[:, 1], ones])
    m4, m3 = np.hstack([q[:, 2], ones]), np.hstack([q[:, 3], ones])
    c14 = np.cross(m1, m4)
    den2 = (np.cross(m2, m4) * m3).sum(1)
    den3 = (np.cross(m3, m4) * m2).sum(1)
    safe = (np.abs(den2) > 1e-9) & (np.abs(den3) > 1e-9)
    k2 = (c14 * m3).sum(1) / np.where(safe, den2, 1.0)
    k3 = (c14 * m2).sum(1) / np.where(safe, den3, 1.0)
    n2 = k2[:, None] * m2 - m1
    n3 = k3[:, None] * m3 - m1
    n23, n33 = n2[:, 2], n3[:, 2]
    prod = n23 * n33
    persp = safe & (np.abs(prod) > 1e-6)
    f2 = -((n2[:, 0] * n3[:, 0] - (n2[:, 0] * n33 + n23 * n3[:, 0]) * u0 + prod * u0 * u0)
           + (n2[:, 1] * n3[:, 1] - (n2[:, 1] * n33 + n23 * n3[:, 1]) * v0 + prod * v0 * v0)) \
        / np.where(persp, prod, 1.0)
    diag = float(np.hypot(w, h))
    persp &= (f2 > (0.3 * diag) ** 2) & (f2 < (6.0 * diag) ** 2)
    # A trapezoid (one pair of sides parallel in the picture) does not give the focal length:
    # a typical tablet or webcam lens (~65° across) stands in.
    f2 = np.where(persp, f2, (0.75 * diag) ** 2)

    def norm2(n: np.ndarray) -> np.ndarray:
        # n^T A^-T A^-1 n with A = [[f, 0, u0], [0, f, v0], [0, 0, 1]]
        x = (n[:, 0] - u0 * n[:, 2]) ** 2 / f2
        y = (n[:, 1] - v0 * n[:, 2]) ** 2 / f2
        return x + y + n[:, 2] ** 2

    r = np.sqrt(norm2(n2) / np.maximum(norm2(n3), 1e-12))
    # Nearly parallel opposite sides: the view is close to frontal, the side ratio is right and
    # the estimate is at the mercy of a pixel (or of a bent card's sides).
    d = q[:, _NEXT] - q
    ang = np.arctan2(d[..., 1], d[..., 0])
    skew = np.maximum(np.abs(np.sin(ang[:, 0] - ang[:, 2])), np.abs(np.sin(ang[:, 1] - ang[:, 3])))
    strong = skew > np.sin(np.deg2rad(6))
    return np.where(strong & safe & np.isfinite(r) & (r > 0), r, simple)


def aspect_batch(q: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Agreement of (N, 4, 2) ordered quads with ID-1: 1 within 6 %, 0.88 at 10 %, 0.24 at 20 %."""
    sl = np.linalg.norm(q[:, _NEXT] - q, axis=2)
    agree = _agreement((sl[:, 0] + sl[:, 2]) / np.maximum(sl[:, 1] + sl[:, 3], 1e-9))
    todo = agree < 0.99
    if shape is not None and todo.any():
        # Either reading may be the right one: a bent card or a few pixels of corner error on
        # a small card make the perspective estimate wild, an oblique view the side ratio.
        agree[todo] = np.maximum(agree[todo], _agreement(true_aspect(q[todo], shape)))
    return agree


def perspective_agreement(q: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Agreement of (N, 4, 2) ordered quads with ID-1 by the perspective reading alone
    (`true_aspect`): `aspect_batch` forgives a wild one when the side ratio agrees, but a side
    that cuts across the card at a slant gives a quad that is no rectangle seen in perspective."""
    return _agreement(true_aspect(np.asarray(q, np.float64), shape))


def _agreement(ratio: np.ndarray) -> np.ndarray:
    r = ratio / ID1_ASPECT
    x = np.maximum(0.0, np.abs(np.log(np.maximum(r, 1e-9))) - 0.06) / 0.1
    return np.exp(-x * x)


def score_batch(quads: np.ndarray, field: EdgeField, shape: tuple[int, ...],
                fg: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ordered quads, scores) for (N, 4, 2) cyclic quads; implausible ones score 0.

    `fg`: the background model's foreground mask; when given (and meaningful: neither
    empty nor most of the frame), an outline with card beyond two or more of its sides is
    an inner box and scores at most half."""
    if len(quads) == 0:
        return np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
    q = order_batch(quads)
    asp = aspect_batch(q, shape)
    ok = plausible_batch(q, shape) & (asp > 0.3)
    if ok.sum() > 4000:                          # a pathological edge map: judge the squarest
        ok &= asp >= np.sort(asp[ok])[-4000]
    scores = np.zeros(len(q), np.float32)
    if ok.any():
        sup, ends = field.profile(q[ok])
        # Side ends running on past their corners: a piece of a bigger outline.
        scores[ok] = asp[ok] * _edge_score(sup) * np.where(ends >= 2, 0.3, np.where(ends == 1, 1.0, 1.0))
    if fg is not None and 0.02 < float(np.count_nonzero(fg)) / fg.size < 0.7:
        # Only for outlines well inside the frame: when the card fills it, the ring the
        # background model learns from is mostly card, and the model is upside down.
        x, y = q[..., 0], q[..., 1]
        area = 0.5 * np.abs((x * y[:, _NEXT] - x[:, _NEXT] * y).sum(1))
        live = (scores > 0) & (area < 0.45 * fg.size)
        if live.any():
            outside_ok = (outside_background(q[live], fg) >= 0.5).sum(axis=1)
            scores[live] *= np.where(outside_ok >= 3, 1.0, 0.5)
    return q, scores


def outside_background(quads: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per quad and side: the fraction of a band just outside the side that the background
    model calls background (N, 4). A card's printed inner box has card all around it; the
    card itself has table (or hand) beyond at least three of its sides."""
    q = np.asarray(quads, np.float32)
    n_q = len(q)
    d = q[:, _NEXT] - q
    length = np.linalg.norm(d, axis=2, keepdims=True)
    t = d / np.maximum(length, 1e-6)
    # Outward normal of a clockwise (TL TR BR BL, y down) quad.
    n = np.stack([t[..., 1], -t[..., 0]], axis=2)
    ts = np.linspace(0.1, 0.9, 16, dtype=np.float32)
    offs = np.array([0.04, 0.08], np.float32)
    scale = np.sqrt(np.abs(np.linalg.det(np.stack([q[:, 2] - q[:, 0], q[:, 3] - q[:, 1]], axis=1))))
    base = q[:, :, None, :] + ts[None, None, :, None] * d[:, :, None, :]
    step = (offs[None, :] * scale[:, None])[:, None, None, :, None]
    pts = base[..., None, :] + step * n[:, :, None, None, :]
    mx = pts[..., 0].reshape(n_q * 4, -1).astype(np.float32)
    my = pts[..., 1].reshape(n_q * 4, -1).astype(np.float32)
    v = cv2.remap(mask, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return (v.reshape(n_q, 4, -1) == 0).mean(axis=2)


def offset_quads(q: np.ndarray, dists: np.ndarray) -> np.ndarray:
    """An ordered (clockwise, y down) quad grown outward by each distance: (D, 4, 2)."""
    q = np.asarray(q, np.float64).reshape(4, 2)
    d = np.roll(q, -1, axis=0) - q
    t = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    n = np.stack([t[:, 1], -t[:, 0]], axis=1)                  # outward normals
    tj, nj = np.roll(t, 1, axis=0), np.roll(n, 1, axis=0)      # the side ending at each corner
    # Corner i moves to q_i + a * n_i + b * t_i where both moved sides meet: solve for (a, b)
    # per corner once (the move is linear in the distance).
    det = t[:, 0] * (-tj[:, 1]) - t[:, 1] * (-tj[:, 0])
    rhs = nj - n                                               # (4, 2), per unit distance
    s = (rhs[:, 0] * (-tj[:, 1]) - rhs[:, 1] * (-tj[:, 0])) / np.where(np.abs(det) < 1e-9, 1e-9, det)
    step = n + s[:, None] * t                                   # corner move per unit distance
    return (q[None] + np.asarray(dists)[:, None, None] * step[None]).astype(np.float32)


def enclosed_sides(q: np.ndarray, field: EdgeField) -> int:
    """How many sides of an ordered quad have a parallel edge of their own length a little way
    outside them: the marks of a printed box inside a bigger card (or of the card's own outline
    around a box taken for it)."""
    sl = np.linalg.norm(np.roll(q, -1, axis=0) - q, axis=1)
    short = float(min(sl[0] + sl[2], sl[1] + sl[3]) / 2)
    dists = np.linspace(0.08, 0.5, 12) * short
    sup = field.support_batch(offset_quads(q, dists))           # (D, 4)
    return int((sup.max(axis=0) >= 0.6).sum())


# -- on the full-resolution frame: refining a found outline, straightening it -----------------
CARD_W = 1024
CARD_H = round(CARD_W / ID1_ASPECT)        # 646


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
