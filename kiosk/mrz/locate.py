"""Find the 3 x 30 MRZ band of a card back directly in a frame, without the card outline.

For the capture when the outline is not found, or is cut by the frame's edge, while the MRZ
is in view. Pure: numpy in, data out.

1. Lines (`mrz_lines`, on a grey copy 640 px long: half of a 1280 x 720 frame): text lines
   at any angle within +-40 deg, each fitted to evenly spaced cells, with the 30-cell
   windows that hold most characters.
2. Band: three parallel lines of one pitch, evenly spaced 1.3-2.9 pitches apart, whose
   windows put their first and last cells in columns (a line cut short by the frame, a
   finger or glare fails this: it would read shifted), every cell inside the frame. Those
   six cell centres give, through a homography, the place of the band, and of the whole
   card, on the straightened back (one pitch = 2.54 mm both along and across the lines).
3. Read (`read_mrz_in_frame`): the frame is warped into the straightened back's geometry
   and `mrz_reader.read_mrz_cells` matches the cells where the band puts them, both ways up
   (a line is a line either way round), best candidate band first.

`card_quad_from_band` turns the band into the card outline it implies: the MRZ sits at a
fixed place on the ID-1 back.

Costs (1280 x 720 frames, this 2-core container while other work ran; bench/
bench_back_reading.py): finding the band about 10 ms; finding and reading about 55 ms
median, 105 ms p90, 160 ms the worst seen. A card upside down, or a band that does not
read, costs one more read per way up and candidate band (at most 4 reads).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import cv2
import numpy as np

from kiosk.mrz.lines import TextLine, find_lines
from kiosk.mrz.reader import MrzRead, read_mrz_cells

CARD_W, CARD_H = 1024, 646
# Where the MRZ cells sit on the straightened back (1024 x 646): cell k of a line is centred
# at x = X0 + k * PITCH, line i at y = Y0 + i * LINE_STEP. Measured on kiosk.testdata backs
# (2.54 mm pitch, centred on the card, lines 4.8 mm apart) and inside docs/credential.md's
# MRZ block (0.05, 0.66, 0.95, 0.95) of the card.
PITCH = 30.36
X0 = CARD_W / 2 - 14.5 * PITCH
Y0 = 466.5
LINE_STEP = 57.75
Y_MID = Y0 + LINE_STEP      # the middle line; the block's centre is (CARD_W / 2, Y_MID)

_WORK_SIDE = 640            # lines are looked for on a copy this long (1280 x 720: half size)


@dataclass
class MrzBand:
    quad: np.ndarray            # (4, 2) float32, the band in frame px: TL TR BR BL as read
    angle: float                # degrees, text direction (0 = level, positive clockwise)
    pitch_px: float             # character pitch, frame px (mean of the three lines)
    lines: list[np.ndarray]     # per line, (4, 2) float32 box of its ink in frame px
    homography: np.ndarray      # (3, 3) frame px -> straightened card px (1024 x 646)
    line_step: float = LINE_STEP  # line spacing on that card, px: as measured, in pitches
    oriented: bool = False      # True once a read settled which way up the text runs

    def rows(self) -> list[tuple[float, float, float, float]]:
        """First and last cell centres of the three lines on the straightened card."""
        return [(X0, y, X0 + 29 * PITCH, y) for y in (Y_MID - self.line_step, Y_MID, Y_MID + self.line_step)]

    def outline(self) -> np.ndarray:
        """The band (cells plus half a cell and half a line around) on the straightened card."""
        half = 0.55 * self.line_step
        return _corners((X0 - PITCH, Y_MID - self.line_step - half, X0 + 30 * PITCH,
                         Y_MID + self.line_step + half))


def _triples(lines: list[TextLine]) -> list[tuple[TextLine, TextLine, TextLine]]:
    """Three parallel lines of one pitch, evenly spaced like an MRZ; most blobs first."""
    scored = []
    for trio in itertools.combinations(sorted(lines, key=lambda ln: ln.pitch), 3):
        if trio[2].pitch > 1.2 * trio[0].pitch:
            continue
        n = np.array([-trio[0].d[1], trio[0].d[0]])
        a, b, c = sorted(trio, key=lambda ln: float(ln.c0 @ n))
        best = _aligned(a, b, c, n)
        if best is not None:
            scored.append(best)
    scored.sort(key=lambda s: -s[0])
    return [t for _, t in scored]


def _aligned(a: TextLine, b: TextLine, c: TextLine, n: np.ndarray
             ) -> tuple[int, tuple[TextLine, TextLine, TextLine]] | None:
    """The windows of the three lines that put their cells in columns, most characters first."""
    combos = sorted(itertools.product(a.windows, b.windows, c.windows),
                    key=lambda w: -(w[0][1] + w[1][1] + w[2][1]))
    for wa, wb, wc in combos:
        trio = (replace(a, start=wa[0]), replace(b, start=wb[0]), replace(c, start=wc[0]))
        if _mrz_like(trio, n):
            return wa[1] + wb[1] + wc[1], trio
    return None


def _mrz_like(trio: tuple[TextLine, TextLine, TextLine], n: np.ndarray) -> bool:
    p = float(np.mean([ln.pitch for ln in trio]))
    d = trio[0].d
    if min(abs(float(ln.d @ d)) for ln in trio) < np.cos(np.deg2rad(4)):
        return False
    mids = [(ln.p0 + ln.p1) / 2 for ln in trio]
    d1, d2 = float((mids[1] - mids[0]) @ n), float((mids[2] - mids[1]) @ n)
    if not (1.3 * p < d1 < 2.9 * p and 1.3 * p < d2 < 2.9 * p and abs(d1 - d2) < 0.25 * max(d1, d2)):
        return False
    # The cells stand in columns: line 2's first and last cells halfway between lines 1 and
    # 3's. A line cut short (frame edge, a finger, glare) fails this, and would read shifted.
    a, b, c = trio
    return bool(np.linalg.norm(b.p0 - (a.p0 + c.p0) / 2) < 0.35 * p
                and np.linalg.norm(b.p1 - (a.p1 + c.p1) / 2) < 0.35 * p)


# -- the band and its geometry -------------------------------------------------------------------

def _corners(rect: tuple[float, float, float, float]) -> np.ndarray:
    x0, y0, x1, y1 = rect
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def _to_frame(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    out = cv2.perspectiveTransform(pts.reshape(-1, 1, 2).astype(np.float64), np.linalg.inv(h))
    return np.asarray(out.reshape(-1, 2), np.float32)


def _band(trio: tuple[TextLine, TextLine, TextLine], scale: float, shape: tuple[int, ...]
          ) -> MrzBand | None:
    """The band of three lines, mapped so that one pitch is PITCH both along and across the
    lines: the spacing of the lines varies from card to card, and the reader's glyphs must
    keep their shape (a stretched O reads Q)."""
    d = np.mean([ln.d for ln in trio], axis=0)
    n = np.array([-d[1], d[0]])
    p = float(np.mean([ln.pitch for ln in trio]))
    mids = [(ln.p0 + ln.p1) / 2 for ln in trio]
    step = float((mids[2] - mids[0]) @ n) / 2 / p * PITCH
    ys = (Y_MID - step, Y_MID, Y_MID + step)
    src = np.array([q for ln in trio for q in (ln.p0, ln.p1)], np.float64) / scale
    dst = np.array([(X0 + k * PITCH, y) for y in ys for k in (0, 29)], np.float64)
    h, _ = cv2.findHomography(src, dst, 0)
    if h is None:
        return None
    boxes = []
    for ln in trio:
        e0, e1 = ln.p0 - 0.5 * ln.pitch * ln.d, ln.p1 + 0.5 * ln.pitch * ln.d
        half = 0.5 * ln.cap * np.array([-ln.d[1], ln.d[0]])
        boxes.append((np.array([e0 - half, e1 - half, e1 + half, e0 + half]) / scale).astype(np.float32))
    # Every cell in the frame: a character cut by the frame's edge would be read as another
    # (and the names line has no check digit to tell).
    corners = np.concatenate(boxes)
    if (corners < 0).any() or (corners[:, 0] >= shape[1]).any() or (corners[:, 1] >= shape[0]).any():
        return None
    band = MrzBand(np.zeros((4, 2), np.float32), float(np.degrees(np.arctan2(d[1], d[0]))),
                   p / scale, boxes, h, step)
    band.quad = _to_frame(h, band.outline())
    return band


def _turned(band: MrzBand) -> MrzBand:
    """The same band read the other way up: 180 deg about the MRZ block's centre."""
    rot = np.array([[-1, 0, CARD_W], [0, -1, 2 * Y_MID], [0, 0, 1]], np.float64)
    h = rot @ band.homography
    angle = band.angle + 180 if band.angle <= 0 else band.angle - 180
    return MrzBand(_to_frame(h, band.outline()), angle, band.pitch_px,
                   [np.roll(b, 2, axis=0) for b in band.lines[::-1]], h, band.line_step)


def _gray(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _bands(frame: np.ndarray, limit: int) -> list[MrzBand]:
    """Candidate MRZ bands in a frame (RGB or grey), the most convincing first."""
    gray = _gray(frame)
    scale = min(1.0, _WORK_SIDE / max(gray.shape[:2]))
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) \
        if scale != 1.0 else gray
    out = []
    for trio in _triples(find_lines(small))[:limit]:
        band = _band(trio, scale, gray.shape)
        if band is not None:
            out.append(band)
    return out


def find_mrz_band(frame: np.ndarray) -> MrzBand | None:
    """The most convincing MRZ band in the frame, or None.

    Not yet read, so its order (quad, lines) takes the text direction nearest to level
    (`oriented` False); `read_mrz_in_frame` returns it turned if the text reads upside down.
    """
    bands = _bands(frame, 1)
    return bands[0] if bands else None


def read_mrz_in_frame(frame: np.ndarray, tries: int = 2) -> tuple[MrzRead, MrzBand] | None:
    """Find the MRZ band and read it, both ways up; the best read (checks first) and its band.

    `tries`: how many candidate bands to read before giving up (each costs a read).
    """
    gray = _gray(frame)
    best: tuple[MrzRead, MrzBand] | None = None
    for band in _bands(gray, tries):
        for b in (band, _turned(band)):
            canvas = cv2.warpPerspective(gray, b.homography, (CARD_W, CARD_H), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REPLICATE)
            r = read_mrz_cells(canvas, b.rows())
            if r is None:
                continue
            b.oriented = r.checks_ok
            if best is None or (r.checks_ok, r.min_score) > (best[0].checks_ok, best[0].min_score):
                best = (r, b)
            if r.checks_ok:
                return best
    return best


def card_quad_from_band(band: MrzBand) -> np.ndarray:
    """The card's outline that the band implies: (4, 2) float32 frame px, TL TR BR BL.

    The corners run as the text reads once the band is `oriented`; from `find_mrz_band`
    alone an upside-down card's outline comes out on the wrong side of the band.
    """
    return _to_frame(band.homography, _corners((0, 0, CARD_W, CARD_H)))
