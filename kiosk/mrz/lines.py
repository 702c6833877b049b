"""Lines of evenly spaced characters in a grey image, at any angle within +-40 deg.

The text-line half of `mrz_locate` (which groups three of these into an MRZ band):

1. Ink: a blackhat (dark strokes on light paper), kept where it is a fair part of the
   strongest ink nearby, so glare and dim light do not matter.
2. Piles: connected components in size classes; for each class, the angles where their
   centres pile up on lines (a sweep of 1 deg steps).
3. A line: along each pile, the longest run of blobs, fitted to evenly spaced cells (the
   pitch from the centres' strongest period, then a quadratic: perspective changes the pitch
   along the line); stray marks between cells drop out of the fit. The 30-cell windows
   that hold the most characters are kept for the band to choose between.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_CLASSES = (4.5, 6.3, 8.8, 12.3, 17.2, 24.0)   # blob heights (px) of the size classes
_ANGLES = np.deg2rad(np.arange(-40.0, 40.5, 1.0))


@dataclass(frozen=True)
class TextLine:
    """A line of characters: its centre line, its cells, the windows of 30 cells to try."""

    c0: np.ndarray              # a point of the centre line, px of the image searched
    d: np.ndarray               # its unit direction (dx >= 0)
    coef: np.ndarray            # centre of cell k at c0 + d * polyval(coef, k)
    windows: tuple[tuple[int, int], ...]   # (first cell, characters) of 30-cell windows, best first
    cap: float                  # text height, px
    ids: frozenset[int]         # its blobs
    start: int = 0              # the first cell chosen

    def cell(self, k: int) -> np.ndarray:
        return np.asarray(self.c0 + self.d * float(np.polyval(self.coef, self.start + k)))

    @property
    def p0(self) -> np.ndarray:
        return self.cell(0)

    @property
    def p1(self) -> np.ndarray:
        return self.cell(29)

    @property
    def pitch(self) -> float:
        return float(np.linalg.norm(self.p1 - self.p0) / 29)


def _ink(gray: np.ndarray) -> np.ndarray:
    """Dark strokes on lighter paper, as a binary mask, relative to the strongest ink nearby."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    bh = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, k)
    local = cv2.dilate(bh, cv2.getStructuringElement(cv2.MORPH_RECT, (41, 41)))
    floor = max(10.0, 0.12 * float(np.percentile(bh, 99.9)))
    return ((bh > 0.4 * local) & (bh > floor)).astype(np.uint8)


@dataclass
class _Blobs:
    labels: np.ndarray
    stats: np.ndarray           # x, y, w, h, area per component
    cents: np.ndarray           # (n, 2)
    ok: np.ndarray              # bool: plausible as (part of) a line of text

    def pixels(self, i: int) -> np.ndarray:
        x, y, w, h = self.stats[i, :4]
        ys, xs = np.nonzero(self.labels[y:y + h, x:x + w] == i)
        return np.stack([xs + x, ys + y], axis=1).astype(np.float64)


def _blobs(mask: np.ndarray) -> _Blobs:
    _, labels, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8)
    w, h, area = stats[:, 2], stats[:, 3], stats[:, 4]
    ok = (h >= 3) & (area >= 4) & (area >= 0.1 * w * h) & (h <= 60)
    ok[0] = False
    return _Blobs(labels, stats, cents, ok)


def _fit(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total least squares line through points: (centre, unit direction with dx >= 0)."""
    c = pts.mean(axis=0)
    _, _, vt = np.linalg.svd(pts - c, full_matrices=False)
    d = vt[0] if vt[0][0] >= 0 else -vt[0]
    return c, d


def _piles(cents: np.ndarray, c: float) -> list[np.ndarray]:
    """Sets of blobs (indices into `cents`) whose centres pile up on one line.

    A sweep over the angles: at the two best angles (most blobs on shared lines), every bin
    of the across-line coordinate with a dozen blobs or more is a candidate line.
    """
    b = 0.35 * c
    v = -cents[:, :1] * np.sin(_ANGLES) + cents[:, 1:2] * np.cos(_ANGLES)   # (n, angles)
    bins = np.floor(v / b).astype(np.int64)
    bins -= bins.min()
    nb = int(bins.max()) + 2
    counts = np.bincount((bins + np.arange(len(_ANGLES)) * nb).ravel(),
                         minlength=len(_ANGLES) * nb).reshape(len(_ANGLES), nb)
    pair = counts[:, :-1] + counts[:, 1:]
    score = (np.maximum(pair - 6, 0) ** 2).sum(axis=1)
    angles: list[int] = []
    for a in np.argsort(-score):
        if score[a] <= 0 or len(angles) == 2:
            break
        if all(abs(int(a) - t) >= 5 for t in angles):
            angles.append(int(a))
    out = []
    for a in angles:
        row = pair[a]
        for k in np.nonzero(row >= 12)[0]:
            if row[k] >= row[max(0, k - 1):k + 2].max():     # the top of its pile
                out.append(np.nonzero((bins[:, a] == k) | (bins[:, a] == k + 1))[0])
    return out


def _line(ids: np.ndarray, bl: _Blobs) -> TextLine | None:
    """The text line through blobs `ids`: one run of blobs along it, fitted to 30 cells."""
    c0, d = _fit(bl.cents[ids])
    n = np.array([-d[1], d[0]])
    h_med = float(np.median(bl.stats[ids, 3]))
    on = bl.ok & (np.abs((bl.cents - c0) @ n) < 0.4 * h_med)
    near = np.nonzero(on & (bl.stats[:, 3] <= 1.6 * h_med) & (bl.stats[:, 3] >= 0.4 * h_med))[0]
    # Blobs longer than a character (runs of '<' that touch) count only if they are as thin
    # as the text across the line.
    long: dict[int, np.ndarray] = {}
    for i in np.nonzero(on & (bl.stats[:, 3] > 1.6 * h_med) & (bl.stats[:, 4] < 40 * h_med ** 2))[0]:
        px = bl.pixels(int(i))
        if np.ptp((px - c0) @ n) <= 1.5 * h_med:
            long[int(i)] = px
    along = (bl.cents[near] - c0) @ d
    half = 0.4 * (bl.stats[near, 2] * abs(d[0]) + bl.stats[near, 3] * abs(d[1]))
    spans = [(a - h, a + h, int(i)) for a, h, i in zip(along, half, near, strict=True)]
    spans += [(float(((px - c0) @ d).min()), float(((px - c0) @ d).max()), i) for i, px in long.items()]
    spans.sort()
    runs: list[list[tuple[float, float, int]]] = []
    for s in spans:
        if runs and s[0] - max(r[1] for r in runs[-1]) <= 2.6 * h_med:
            runs[-1].append(s)
        else:
            runs.append([s])
    run = max(runs, key=len)
    single = np.array([i for _, _, i in run if i not in long], np.int64)
    if len(run) < 10 or len(single) < 8:
        return None
    c0, d = _fit(bl.cents[single])
    u = np.sort((bl.cents[single] - c0) @ d)
    grid = _grid(u, h_med)
    if grid is None:
        return None
    coef, occupied = grid
    for px in (long[i] for _, _, i in run if i in long):
        along_px = (px - c0) @ d
        lo, hi = _cell_of(coef, np.array([along_px.min(), along_px.max()]))
        occupied.update(range(round(lo + 0.3), round(hi - 0.3) + 1))
    windows = _windows(occupied)
    if not windows:
        return None
    ln = TextLine(c0, d, coef, windows, float(np.median(bl.stats[single, 3])),
               frozenset(i for _, _, i in run), windows[0][0])
    return ln if 0.45 * ln.pitch <= ln.cap <= 1.7 * ln.pitch else None


def _grid(u: np.ndarray, size: float) -> tuple[np.ndarray, set[int]] | None:
    """Fit the blob centres `u` (sorted) to evenly spaced cells: centre = poly(cell index).

    The pitch comes from the centres' strongest period between 0.75 and 1.5 text heights
    (pieces of a broken character do not fool it as gaps would); pieces closer than 0.6
    pitch are one character. Then a walk counts cells (a gap of two pitches is one missing
    character), a quadratic is fitted (perspective changes the pitch along the line) and
    centres off their cell by more than 0.3 pitch are dropped: stray marks, not characters.
    """
    ps = size * np.linspace(0.75, 1.5, 151)
    p = float(ps[int(np.argmax(np.abs(np.exp(2j * np.pi * u[None, :] / ps[:, None]).sum(axis=1))))])
    groups: list[list[float]] = []
    for x in u:
        if groups and x - groups[-1][-1] < 0.6 * p:
            groups[-1].append(float(x))
        else:
            groups.append([float(x)])
    c = np.array([np.mean(g) for g in groups])
    if len(c) < 8:
        return None
    k = np.zeros(len(c))
    for i in range(1, len(c)):
        m = max(1, round((c[i] - c[i - 1]) / p))
        k[i] = k[i - 1] + m
        if abs((c[i] - c[i - 1]) / m - p) < 0.15 * p:
            p = 0.8 * p + 0.2 * (c[i] - c[i - 1]) / m          # follows perspective, slowly
    keep = np.ones(len(c), bool)
    for _ in range(3):
        coef = np.polyfit(k[keep], c[keep], 2 if keep.sum() >= 12 else 1)
        local = np.polyval(np.polyder(coef), k)
        if (local <= 0).any():
            return None
        k = k + np.round((c - np.polyval(coef, k)) / local)
        keep = np.abs(c - np.polyval(coef, k)) < 0.3 * local
        if keep.sum() < 8:
            return None
    return coef, {int(x) for x in k[keep]}


def _cell_of(coef: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Fractional cell index of positions `u` along the line (inverse of the fit)."""
    ks = np.arange(-40.0, 80.0, 0.05)
    return np.asarray(np.interp(u, np.polyval(coef, ks), ks))


def _windows(occupied: set[int]) -> tuple[tuple[int, int], ...]:
    """30-cell windows holding the most characters (16 at least, up to 3 fewer than the best):
    (first cell, characters), best first; of equals, the one whose characters sit most
    evenly around its middle. The three lines settle between them which one is right."""
    cells = np.array(sorted(occupied))
    lo = int(cells.min()) - 29
    ind = np.zeros(int(cells.max()) - lo + 31)
    ind[cells - lo] = 1
    n = np.concatenate([[0], np.cumsum(ind)])
    sx = np.concatenate([[0], np.cumsum(ind * np.arange(len(ind)))])
    starts = np.arange(len(ind) - 29)
    count = n[starts + 30] - n[starts]
    off = np.abs((sx[starts + 30] - sx[starts]) / np.maximum(count, 1) - starts - 14.5)
    order = np.lexsort((off, -count))
    floor = max(16, count[order[0]] - 3)
    return tuple((int(a) + lo, int(count[a])) for a in order[:5] if count[a] >= floor)


def find_lines(gray: np.ndarray) -> list[TextLine]:
    """Lines of at least 16 evenly spaced characters in `gray` (dark ink on light), any angle
    within +-40 deg, each fitted to 30 cells."""
    bl = _blobs(_ink(gray))
    hs = bl.stats[:, 3]
    found: list[TextLine] = []
    for c in _CLASSES:
        idx = np.nonzero(bl.ok & (hs >= c / 1.45) & (hs <= c * 1.45))[0]
        if len(idx) < 12:
            continue
        for pile in _piles(bl.cents[idx], c):
            ids = set(idx[pile].tolist())
            # Neighbouring size classes see the same line: fit it once.
            if any(len(ids & o.ids) > 0.5 * len(ids) for o in found):
                continue
            ln = _line(idx[pile], bl)
            if ln is not None and not any(len(ln.ids & o.ids) > 0.5 * len(ln.ids) for o in found):
                found.append(ln)
    return found
