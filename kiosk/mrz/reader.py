"""Read the 3 x 30 TD1 machine-readable zone from a straightened card back.

A purpose-built OCR-B reader (no Tesseract): the MRZ is monospaced (2.54 mm
pitch) in one known font, and on a straightened crop its scale is known, so
matching every character cell against the 37 glyphs of OCR-B rendered at the
same cell size (`ocrb_glyphs`) is fast and very accurate:

1. Locate: in the lower part of the crop, dark blobs of character height
   (adaptive threshold, connected components) are grouped into text lines;
   the three lowest lines with enough blobs are the MRZ. For each line a
   straight centre line (tilt) and the cap height are fitted.
2. Normalise: the glyphs' height is measured on the lines themselves (the ink band's
   full width at half height, lines 1 and 2; `glyph_size`), since printers set the cap
   height apart from the pitch; each line is resampled at that scale, tilt removed.
3. Match: cell by cell from the left, normalised cross-correlation against
   every glyph (sharp and slightly blurred versions) over a small window of
   shifts (twice as wide for the first cell); the cell position follows the best
   shift (tracks drift and warp).
4. Decide (`mrz_decide`): each position takes the best character its field allows (digits
   where the INE layout has digits, letters in `IDMEX`/`MEX`/names, `<` where
   fillers are) — this alone settles 0/O, 1/I, 5/S, 8/B, 2/Z by field type.
   Then every check digit that fails drives a search over the runner-up
   characters of its field (cheapest score loss first), taken only when it is
   close to the best and clearly the cheapest.

The reader returns the lines plus per-character scores and the corrections it
made, so a caller can tell a confident read from a rescued one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import overload

import cv2
import numpy as np

from kiosk.mrz.decide import decide, ine_charsets
from kiosk.mrz.glyphs import ALPHABET, GLYPH_CAP, GLYPH_H, GLYPH_TOP, GLYPH_W, glyphs

_BLURS = (1.0, 1.8, 2.6, 3.4)  # template blur levels (normalised px) besides the sharp glyphs
_VSHIFT = 3         # +- px vertically (the line's centre is fitted, drift is small)
_SHIFT = 4          # +- px of the search window around a predicted cell (normalised units)


def _prep_templates() -> np.ndarray:
    g = glyphs().astype(np.float32)
    sets = [g] + [np.stack([cv2.GaussianBlur(t, (0, 0), s) for t in g]) for s in _BLURS]
    t = np.concatenate(sets).reshape(len(sets) * len(ALPHABET), -1)
    t = t - t.mean(1, keepdims=True)
    t /= np.linalg.norm(t, axis=1, keepdims=True) + 1e-6
    return t


_TEMPLATES = _prep_templates()


@dataclass
class MrzRead:
    lines: tuple[str, str, str]
    scores: list[list[float]]                       # best score per character, per line
    corrections: list[str] = field(default_factory=list)
    checks_ok: bool = False
    line_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def min_score(self) -> float:
        return float(min(min(s) for s in self.scores))


# -- 1. locate ---------------------------------------------------------------------------------

@dataclass
class _Line:
    slope: float        # dy/dx of the centre line
    cy0: float          # centre y at x = 0
    bend: float         # quadratic term (a bent or crumpled card)
    cap: float          # cap height, px
    x_left: float       # ink extents
    x_right: float

    @overload
    def cy(self, x: float) -> float: ...
    @overload
    def cy(self, x: np.ndarray) -> np.ndarray: ...

    def cy(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.cy0 + self.slope * x + self.bend * x * x


def _line_of(grp: list[tuple], pitch: float) -> _Line | None:
    arr = np.array(grp, np.float64)                 # x, y, w, h, cx, cy
    med_h = np.median(arr[:, 3])
    arr = arr[(arr[:, 3] > 0.45 * med_h) & (arr[:, 3] < 1.4 * med_h)]
    arr = arr[np.argsort(arr[:, 0])]
    # The longest run of blobs without a gap of more than ~2 cells: the text, not stray marks.
    runs, cur = [], [arr[0]] if len(arr) else []
    for b in arr[1:]:
        if b[0] - (cur[-1][0] + cur[-1][2]) > 2.2 * pitch:
            runs.append(cur)
            cur = [b]
        else:
            cur.append(b)
    if cur:
        runs.append(cur)
    if not runs:
        return None
    run = np.array(max(runs, key=lambda r: sum(b[2] for b in r)))
    if (run[:, 2] <= 2.5 * pitch).sum() < 10:
        return None
    x_left, x_right = run[:, 0].min(), (run[:, 0] + run[:, 2]).max()
    if not 24 * pitch <= x_right - x_left <= 32 * pitch:
        return None
    narrow = run[run[:, 2] <= 1.5 * pitch]
    tall = narrow[narrow[:, 3] >= 0.85 * np.median(narrow[:, 3])] if len(narrow) else narrow
    if len(tall) < 5:
        tall = run
    cap = float(np.median(tall[:, 3]))
    cy = tall[:, 1] + tall[:, 3] / 2
    cx = tall[:, 0] + tall[:, 2] / 2
    bend, slope, icpt = np.polyfit(cx, cy, 2) if len(tall) >= 12 else (0.0, *np.polyfit(cx, cy, 1))
    # A bend of more than a third of a cap height over the line is noise, not paper.
    if abs(bend) * ((x_right - x_left) / 2) ** 2 > cap / 3:
        bend = 0.0
        slope, icpt = np.polyfit(cx, cy, 1)
    if abs(slope) > 0.05:
        return None
    return _Line(float(slope), float(icpt), float(bend), cap, float(x_left), float(x_right))


def _find_lines(gray: np.ndarray, y_from: float = 0.45) -> list[_Line]:
    h, w = gray.shape
    y0 = int(h * y_from)
    region = gray[y0:]
    exp_cap = 0.045 * h
    pitch = 0.89 * w / 30
    block = int(exp_cap * 2) | 1
    bw = cv2.adaptiveThreshold(region, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 12)
    n, _, stats, cents = cv2.connectedComponentsWithStats(bw, connectivity=8)
    blobs = []
    rh = region.shape[0]
    black, white = np.percentile(region, (1, 90))
    ink = black + 0.5 * (white - black)              # a character's core is at least this dark
    for i in range(1, n):
        x, y, bw_, bh, area = stats[i]
        if x <= 1 or y <= 1 or x + bw_ >= w - 1 or y + bh >= rh - 1:
            continue                                 # touches the crop's edge: not a character
        if region[y:y + bh, x:x + bw_].min() > ink:
            continue                                 # a faint edge (tint, band border), not ink
        # Runs of '<' may touch and make one wide blob: keep wide blobs of text height too.
        if 0.35 * exp_cap <= bh <= 1.7 * exp_cap and 2 <= bw_ <= 30 * pitch and area >= 12:
            blobs.append((x, y + y0, bw_, bh, cents[i][0], cents[i][1] + y0))
    if len(blobs) < 30:
        return []
    blobs.sort(key=lambda b: b[5])
    groups: list[list[tuple]] = [[blobs[0]]]
    for blob in blobs[1:]:
        if blob[5] - groups[-1][-1][5] > 0.3 * exp_cap:
            groups.append([blob])
        else:
            groups[-1].append(blob)
    lines = [ln for grp in groups if len(grp) >= 12 and (ln := _line_of(grp, pitch)) is not None]
    # The lowest three lines spaced like an MRZ (line pitch about 2 cap heights).
    for i in range(len(lines) - 3, -1, -1):
        a, b, c = lines[i:i + 3]
        mid = (a.x_left + a.x_right) / 2
        d1, d2 = b.cy(mid) - a.cy(mid), c.cy(mid) - b.cy(mid)
        cap = np.median([a.cap, b.cap, c.cap])
        if 1.3 * cap < d1 < 3.2 * cap and 1.3 * cap < d2 < 3.2 * cap and abs(d1 - d2) < 0.35 * cap:
            return [a, b, c]
    return []


# -- 2./3. normalise and match -----------------------------------------------------------------

def ink_height(gray: np.ndarray, line: _Line, pitch: float) -> float | None:
    """Height of the line's ink band, image px: the full width at half height of its row profile.

    Blur spreads each edge of the band symmetrically, so the half-height crossings stay where
    the edges were (the blobs' heights, taken at a threshold, grow with blur instead).
    """
    step = 0.4                                     # rows, image px (crossings interpolated)
    xs = np.arange(line.x_left, line.x_right, 2.0, dtype=np.float32)
    if len(xs) < 10:
        return None
    rows = np.arange(-1.6 * pitch, 1.6 * pitch, step, dtype=np.float32)
    mx = np.repeat(xs[None, :], len(rows), axis=0)
    my = (line.cy(xs)[None, :] + rows[:, None]).astype(np.float32)
    band = cv2.remap(gray, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    prof = np.clip(np.percentile(band, 90) - band.astype(np.float32), 0, None).mean(axis=1)
    c = len(rows) // 2
    k = int(0.3 * pitch / step)
    half = 0.5 * float(np.median(prof[c - k:c + k]))
    if half <= 0:
        return None
    above = prof > half
    i, j = c, c
    while i > 0 and above[i]:
        i -= 1
    while j < len(prof) - 1 and above[j]:
        j += 1
    if i == 0 or j == len(prof) - 1:
        return None
    top = i + (half - prof[i]) / (prof[i + 1] - prof[i])
    bottom = j - 1 + (prof[j - 1] - half) / (prof[j - 1] - prof[j])
    return float((bottom - top) * step)


def _strip(gray: np.ndarray, line: _Line, pitch: float, s: float) -> tuple[np.ndarray, float, float]:
    """The line resampled to glyph scale (`s` image px per normalised px); strip, s, x origin."""
    x_start = line.x_left - pitch                  # one cell of margin on the left
    n_w = int((line.x_right - x_start + pitch) / s) + 2 * _SHIFT
    n_h = GLYPH_H + 2 * _VSHIFT
    xs = x_start + np.arange(n_w, dtype=np.float32) * s
    ys_rel = (np.arange(n_h, dtype=np.float32) - _VSHIFT - GLYPH_TOP - GLYPH_CAP / 2) * s
    mx = np.repeat(xs[None, :], n_h, axis=0)
    my = line.cy(xs)[None, :] + ys_rel[:, None]
    strip = cv2.remap(gray, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    return strip.astype(np.float32), s, x_start


def _cell_scores(strip: np.ndarray, x: float, templates: np.ndarray, levels: int,
                 shift: int = _SHIFT) -> tuple[np.ndarray, int]:
    """NCC of one cell against `templates` over the shift window: (levels, n) best scores, dx."""
    n = len(ALPHABET)
    xi = round(x)
    x0 = xi - shift
    need = GLYPH_W + 2 * shift
    lo, hi = max(0, x0), max(0, min(strip.shape[1], x0 + need))
    patch = strip[:, lo:hi]
    if patch.shape[1] < need:
        if patch.shape[1] == 0:
            patch = np.full((strip.shape[0], need), 255, np.float32)
        else:
            pad_l = min(need - patch.shape[1], lo - x0)
            patch = np.pad(patch, ((0, 0), (pad_l, need - patch.shape[1] - pad_l)), mode="edge")
    wins = np.lib.stride_tricks.sliding_window_view(patch, (GLYPH_H, GLYPH_W))  # (vy, vx, H, W)
    vy, vx = wins.shape[:2]
    wins = wins.reshape(vy * vx, -1)
    wins = wins - wins.mean(1, keepdims=True)
    wins = wins / (np.linalg.norm(wins, axis=1, keepdims=True) + 1e-6)
    # einsum, not `@`: numpy's BLAS spreads these small products over threads, which costs
    # ten times more than it saves when the cores are busy (as on a kiosk showing video).
    ncc = np.einsum("ij,kj->ik", wins, templates).reshape(vy * vx, levels, n)
    best_shift = int(ncc.max(axis=(1, 2)).argmax())
    return ncc.max(0), best_shift % vx - shift


def _match_line(strip: np.ndarray, first_x: float, pitch_n: float, level: int = -1
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """Scores (30, len(ALPHABET)) and cell left edges, tracking the best shift cell by cell.

    The blur level (which template set fits) is chosen on the first cells with every set,
    then the rest of the line is matched with that set only (5x less work), so that a
    sharp 'D' does not compete with a blurred 'O' either.
    """
    n = len(ALPHABET)
    levels = len(_TEMPLATES) // n
    probe = 8
    scores = np.full((30, n), -1.0, np.float32)
    first = np.full((probe, levels, n), -1.0, np.float32)
    lefts = np.zeros(30)
    x = first_x
    tmpl = _TEMPLATES if level < 0 else _TEMPLATES[level * n:(level + 1) * n]
    if level >= 0:
        probe = 0
    for k in range(30):
        if k == probe and level < 0:
            level = int(first.max(axis=2).sum(axis=0).argmax())
            scores[:probe] = first[:, level, :]
            tmpl = _TEMPLATES[level * n:(level + 1) * n]
        # The first cell is searched twice as wide: where the line starts is known to a few
        # px only (a band fitted on the three lines, the names line's ink span), and a glyph
        # cut by the window's edge matches a look-alike better than itself (F as P).
        sc, dx = _cell_scores(strip, x, tmpl, levels if level < 0 else 1,
                              2 * _SHIFT if k == 0 else _SHIFT)
        if level < 0:
            first[k] = sc
        else:
            scores[k] = sc[0]
        lefts[k] = round(x) + dx
        # Follow the text, damped: the pitch is known, only drift needs tracking.
        x = x + pitch_n + 0.6 * dx
    return scores, lefts, level


def read_mrz(card: np.ndarray) -> MrzRead | None:
    """The MRZ of a straightened card back (any size at ID-1 proportions), or None if none is seen.

    Tries the crop as given, then turned 180° (a card held upside down).
    """
    gray = _gray_1024(card)
    best: MrzRead | None = None
    for g in (gray, cv2.rotate(gray, cv2.ROTATE_180)):
        got = _read(g)
        if got is not None and (best is None or (got.checks_ok, got.min_score) > (best.checks_ok,
                                                                                   best.min_score)):
            best = got
        if best is not None and (best.checks_ok or best.min_score > 0.3):
            break                    # read the right way up, if not perfectly: no need to turn
    return best


def _gray_1024(card: np.ndarray) -> np.ndarray:
    gray = card if card.ndim == 2 else cv2.cvtColor(card, cv2.COLOR_RGB2GRAY)
    if gray.shape[1] != 1024:
        f = 1024 / gray.shape[1]
        gray = cv2.resize(gray, (1024, round(gray.shape[0] * f)), interpolation=cv2.INTER_AREA
                          if f < 1 else cv2.INTER_CUBIC)
    return gray


def read_mrz_cells(card: np.ndarray, rows: list[tuple[float, float, float, float]]) -> MrzRead | None:
    """Read the three lines where the caller has located them, without looking for them.

    `rows`: per line, top to bottom, the centres of its first and last cells
    (x1, y1, x30, y30) in the pixels of `card`, a straightened back (a geometry the caller
    trusts more than the ink span, e.g. a band fitted on all three lines at once).
    """
    gray = _gray_1024(card)
    f = gray.shape[1] / card.shape[1]
    found = _find_lines(gray)
    lines = []
    for x1, y1, x30, y30 in (tuple(f * v for v in row) for row in rows):
        pitch = (x30 - x1) / 29
        slope = (y30 - y1) / (x30 - x1)
        mid = (x1 + x30) / 2
        ln = _Line(slope, y1 - slope * x1, 0.0, pitch, mid - 14.8 * pitch, mid + 14.8 * pitch)
        # The ink's own centre line (tilt, bend) where one was found there; the cells' places
        # along it from the caller.
        near = [o for o in found if abs(o.cy(mid) - ln.cy(mid)) < 0.4 * pitch]
        if near:
            o = near[0]
            ln = _Line(o.slope, o.cy0, o.bend, o.cap, ln.x_left, ln.x_right)
        lines.append(ln)
    return _read_lines(gray, lines)


# Ink height / pitch of the digit lines (1 and 2) as the table's font prints them: measured
# on the generator's backs (31.9 px on a 30.36 px pitch); the table's own digits give 1.06.
_REF_HEIGHT = 1.051
_SIZE_DEAD = 0.03


def glyph_size(gray: np.ndarray, lines: list[_Line], pitches: list[float]) -> float:
    """Glyph size relative to the table's (1.0: cap height as the table's, on this pitch).

    Measured on lines 1 and 2 (digits, few fillers; the names line is mostly '<') as the ink
    band's height over the pitch, the same font throughout a card.
    """
    got = [h / p for ln, p in zip(lines[:2], pitches[:2], strict=True)
           if (h := ink_height(gray, ln, p)) is not None]
    if not got:
        return 1.0
    size = float(np.clip(np.mean(got) / _REF_HEIGHT, 0.78, 1.25))
    # Within the measure's own scatter on warped cards (a crumpled one measures 2 % large)
    # the table's size is kept: its glyphs match to a few per cent either way.
    return 1.0 if abs(size - 1.0) < _SIZE_DEAD else size


def _read(gray: np.ndarray) -> MrzRead | None:
    return _read_lines(gray, _find_lines(gray))


def _read_lines(gray: np.ndarray, lines: list[_Line]) -> MrzRead | None:
    if len(lines) != 3:
        return None
    w = gray.shape[1]
    nominal = 0.89 * w / 30                          # 2.54 mm at the crop's scale
    all_scores, boxes = [], []
    level = -1                       # blur level: chosen on line 1, kept for lines 2 and 3
    # The ink runs from cell 1 to cell 30: its span gives each line's pitch (perspective,
    # bends), bounded around the nominal one; its middle is the middle of the 30 cells.
    pitches = [float(np.clip((ln.x_right - ln.x_left) / 29.6, 0.9 * nominal, 1.1 * nominal))
               for ln in lines]
    size = glyph_size(gray, lines, pitches)
    for ln, pitch_img in zip(lines, pitches, strict=True):
        # Glyph scale from the glyphs' own height: printers and fonts set the cap height
        # apart from the pitch (2.2-2.7 mm on 2.54 mm), and a glyph matched at the pitch's
        # scale reads O as D or Q, 8 as 5.
        strip, s, x_start = _strip(gray, ln, pitch_img, size * pitch_img / GLYPH_W)
        pitch_n = pitch_img / s
        mid = (ln.x_left + ln.x_right) / 2
        first = (mid - 15 * pitch_img - x_start) / s + _SHIFT
        scores, _, level = _match_line(strip, first, pitch_n, level)
        all_scores.append(scores)
        cy = ln.cy((ln.x_left + ln.x_right) / 2)
        boxes.append((int(ln.x_left), int(cy - ln.cap), int(ln.x_right - ln.x_left), int(2 * ln.cap)))
    text, corrections, ok = decide(all_scores)
    best_scores = [[float(sc[i].max()) for i in range(30)] for sc in all_scores]
    return MrzRead(text, best_scores, corrections, ok, boxes)


__all__ = ["MrzRead", "ine_charsets", "read_mrz", "read_mrz_cells"]
