"""Find an ID-1 card in an RGB frame and straighten it.

Pure functions: numpy in, data out. The search runs on a small copy of the frame
(`WORK_W` px wide):

1. Candidates from independent detectors (`card_candidates`): the background colour
   model of the frame's ring, an edge map's closed outlines, and straight lines paired
   into quadrilaterals (from the blobs' outlines and from the edge map). The cheap
   background route runs first; the others only when it has nothing convincing.
2. Every candidate is judged the same way (`card_verify`): plausible geometry, the
   ID-1 aspect ratio, and each side lying on a one-signed luminance step. Between two
   nested outlines that both qualify, the outer one wins (a card's printed inner boxes
   are not the card). Nothing under `ACCEPT` is returned as a card.
3. "Cortada" (`touches_border`) only when the card really leaves the frame: the best
   outline has a corner outside it, or nothing qualifies but a big card-like blob runs
   into the frame's edge. Such a find is never straightened.
4. The corners are refined on the full-resolution frame: along each side the strongest
   luminance step is searched across the side and a line is fitted through the hits;
   the refined corners are the lines' intersections.

`straighten` warps the card to `CARD_W` x `CARD_H` (1024 x 646, ~12 px/mm, the
generator's resolution), enough for the MRZ and the dense QRs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from kiosk.vision import card_candidates as C
from kiosk.vision.card_agree import AGREE, settle_outline
from kiosk.vision.card_verify import (
    CARD_H,
    CARD_W,
    ID1_ASPECT,
    ID1_H_MM,
    ID1_W_MM,
    EdgeField,
    enclosed_sides,
    inside_frame,
    order_corners,
    outside_background,
    perspective_agreement,
    refine_corners,
    score_batch,
    straighten,
)
from kiosk.vision.face import FRONTAL, cascade

__all__ = ["CARD_H", "CARD_W", "ID1_ASPECT", "ID1_H_MM", "ID1_W_MM", "CardFind", "find_card",
           "order_corners", "refine_corners", "straighten"]

WORK_W = 320                               # width of the copy the search runs on
LINES_ACCEPT = 0.8                         # the same, for an outline paired from straight lines
ACCEPT = 0.55                              # least outline score returned as a card
GOOD = 0.8                                 # a fast-route outline this good ends the search
SLANTED = 0.5                              # ...unless, at capture, its perspective aspect agrees less
_LAYOUT_W, _LAYOUT_H = 320, 202           # the crop the portrait check looks at
_FOLLOW = 0.004                            # refinement reach for a held outline (fraction of the frame)
_MARGIN = 4.0                              # small-frame px a fitted corner may overshoot the frame


@dataclass(frozen=True)
class CardFind:
    """The card's corners in frame pixels (TL, TR, BR, BL) and how sure we are."""

    corners: np.ndarray          # float32 (4, 2)
    score: float                 # 0..1, aspect agreement x edge support
    touches_border: bool         # the card runs out of the frame (never straightened)
    area_fraction: float         # card area / frame area
    method: str                  # the detector that proposed it: "fondo", "bordes", "lineas"
    # Other outlines that also qualified, best first (frame px, unrefined): at capture time
    # the reading tries them when the card's content is not where the best one puts it.
    alternatives: tuple[np.ndarray, ...] = ()
    # At capture (`find_card(layout=True)`): the outline's distance to the card's segmentation
    # (`card_agree`); None: not checked (the preview). Over `AGREE`: not trusted.
    segmented: float | None = None

    @property
    def trusted(self) -> bool:
        return self.segmented is None or self.segmented <= AGREE

    @property
    def width_px(self) -> float:
        c = self.corners
        return float((np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2)


@dataclass
class _Cand:
    quad: np.ndarray             # small-frame px, TL TR BR BL
    method: str
    score: float
    area: float
    inside: bool
    enclosure_checked: bool = False


def _judge(quads: np.ndarray, method: str, field: EdgeField, fg: np.ndarray,
           seen: list[_Cand]) -> None:
    shape = fg.shape
    q, scores = score_batch(np.asarray(quads, np.float32).reshape(-1, 4, 2), field, shape, fg)
    if method == "lineas":
        # Quads paired from lines are many, and on a cluttered desk some are made of the
        # card's sides and a line of the table: they must show their four edges plainly.
        scores = np.where(scores >= LINES_ACCEPT, scores, 0.0)
    order = np.argsort(-scores)[:8]              # the best few are enough to choose from
    for k in order:
        if scores[k] <= 0:
            break
        if any(np.abs(c.quad - q[k]).max() < 1.5 for c in seen):
            continue
        seen.append(_Cand(q[k], method, float(scores[k]), float(cv2.contourArea(q[k])),
                          inside_frame(q[k], shape, _MARGIN)))


def _hulls(bs: list[C.Blob]) -> np.ndarray:
    return np.array([b.hull_quad for b in bs if b.hull_quad is not None], np.float32).reshape(-1, 4, 2)


def _contains(outer: np.ndarray, inner: np.ndarray, tol: float) -> bool:
    cnt = outer.reshape(-1, 1, 2).astype(np.float32)
    return all(cv2.pointPolygonTest(cnt, (float(x), float(y)), True) >= -tol for x, y in inner)


def _choose(cands: list[_Cand], field: EdgeField, mask: np.ndarray,
            layout: Callable[[_Cand], int] | None = None) -> _Cand | None:
    if layout is not None:
        # Several outlines qualify: the card's own content settles it where it can. An ID
        # card's portrait has a known size on the card; a face far too big is a printed box
        # taken for the card, far too small a bigger rectangle around it (a box, a keyboard).
        top = sorted((c for c in cands if c.score >= ACCEPT), key=lambda c: -c.score)[:3]
        if len(top) >= 2:
            fits = {id(c): layout(c) for c in top}
            for c in top:
                if fits[id(c)] < 0:
                    c.score = 0.0
            fitting = [c for c in top if fits[id(c)] > 0]
            if fitting:
                return _pick(fitting, field)
    for c in cands:
        if c.score >= ACCEPT and not c.enclosure_checked:
            # Parallel edges a little way outside two sides: a printed box inside the card.
            # Unless the background model sees table all around (a patterned cloth has
            # parallel edges everywhere).
            c.enclosure_checked = True
            if not _table_all_round(c.quad, mask) and enclosed_sides(c.quad, field) >= 2:
                c.score *= 0.4
    ok = [c for c in cands if c.score >= ACCEPT]
    return _pick(ok, field) if ok else None


def _pick(ok: list[_Cand], field: EdgeField) -> _Cand:
    best = max(ok, key=lambda c: c.score)
    diag = float(np.linalg.norm(best.quad[2] - best.quad[0]))

    def rival(c: _Cand, outer: _Cand, inner: _Cand) -> np.ndarray | None:
        # 3 % of the diagonal is a side on a print line just inside the card (a near miss);
        # an outer outline running out of the frame must differ more (5 %) to call it cut.
        moved = np.linalg.norm(outer.quad - inner.quad, axis=1) > (0.03 if outer.inside else 0.05) * diag
        if not moved.any() or c.score < 0.7 * best.score:
            return None
        if not _contains(outer.quad, inner.quad, 0.02 * diag):
            return None
        return moved

    # A card's inner printed boxes (portrait, MRZ field, a text line taken for an edge) are
    # not the card: a clearly larger outline around the best one that also qualifies, nearly
    # as well, is the card. "Clearly": a shadow's outline hugging the card does not count.
    # But an outline one side of which ran on onto a line of the table (a keyboard's edge, a
    # box) is not the card either: when two outlines differ by one side, the strip between
    # them says which is the card.
    for c in sorted(ok, key=lambda c: -c.area):
        if c is best:
            break
        moved = rival(c, c, best)
        if moved is None:
            continue
        if moved.sum() == 2 and not _strip_is_card(c.quad, best.quad, moved, field):
            continue
        return c
    for c in sorted(ok, key=lambda c: -c.score):
        if c is best or c.area >= best.area:
            continue
        moved = rival(c, best, c)
        if moved is not None and moved.sum() == 2 and not _strip_is_card(best.quad, c.quad, moved, field):
            return c
    return best


def portrait_fit(frame: np.ndarray, corners: np.ndarray) -> int:
    """+1: the outline's crop shows a face of an ID portrait's size (16-55 % of the card's
    height, either way up); -1: a face of a size no card portrait has (a printed photo box
    taken for the card shows its face sideways and filling it); 0: no face."""
    crop = _gray(straighten(frame, corners, (_LAYOUT_W, _LAYOUT_H)))
    side = int(0.12 * _LAYOUT_H)
    turns = (crop, cv2.rotate(crop, cv2.ROTATE_180), cv2.rotate(crop, cv2.ROTATE_90_CLOCKWISE),
             cv2.rotate(crop, cv2.ROTATE_90_COUNTERCLOCKWISE))
    sizes = []
    for k, img in enumerate(turns):
        found = cascade(FRONTAL).detectMultiScale(img, 1.2, 3, minSize=(side, side))
        if len(found) and k >= 2:
            return -1           # a face sideways on a landscape card: a box, not the card
        sizes += [float(f[3]) / _LAYOUT_H for f in found]
        if k == 1 and sizes:
            break               # upright or upside down: the turned views are not needed
    if not sizes:
        return 0
    return 1 if 0.16 <= max(sizes) <= 0.55 else -1


def _table_all_round(quad: np.ndarray, mask: np.ndarray) -> bool:
    if not 0.02 < float(np.count_nonzero(mask)) / mask.size < 0.7:
        return False
    return bool((outside_background(quad[None], mask) >= 0.9).all())


def _strip_is_card(outer: np.ndarray, inner: np.ndarray, moved: np.ndarray, field: EdgeField) -> bool:
    """Two outlines that differ by one side: is the strip between them card? Then the sides
    next to it run on as edges between the inner and the outer corner; over a table they do not."""
    segs = [np.array([inner[k], outer[k], outer[k], inner[k]], np.float32) for k in np.flatnonzero(moved)]
    return float(field.support_batch(np.array(segs))[:, 0].mean()) >= 0.5


def _cut_blob(blobs: list[C.Blob], shape: tuple[int, ...]) -> np.ndarray | None:
    """A big blob that runs into the frame's edge and fills its hull like a card: a cut card."""
    h, w = shape[:2]
    for b in blobs[:1]:
        if b.hull_quad is None or b.area < 0.08 * h * w or b.fill < 0.6:
            continue
        pts = b.contour.reshape(-1, 2)
        on_edge = ((pts[:, 0] <= 1) | (pts[:, 1] <= 1) | (pts[:, 0] >= w - 2) | (pts[:, 1] >= h - 2)).sum()
        q = order_corners(b.hull_quad)
        short = float(min(np.linalg.norm(q[3] - q[0]), np.linalg.norm(q[2] - q[1])))
        if on_edge > 0.3 * short:
            return q
    return None


def _shrink(frame: np.ndarray, w: int, h: int) -> np.ndarray:
    """An area-averaged small copy (aliasing makes false edges), by bilinear halvings:
    a halving samples each 2 x 2 block's centre, i.e. averages it, at a third of the
    cost of OpenCV's area interpolation."""
    img = frame
    while img.shape[1] >= 2 * w and img.shape[0] >= 2 * h:
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
    if img.shape[1] != w or img.shape[0] != h:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return img


def find_card(frame: np.ndarray, refine: bool = True, hint: CardFind | None = None,
              thorough: bool = True, layout: bool = True) -> CardFind | None:
    """The card in an RGB (or grey) frame, or None if nothing card-like is there.

    `hint`: the previous frame's find (live preview). Its outline is judged first with the
    cheap candidates, so a card the slower detectors found stays found at the cheap cost.
    `thorough=False`: the cheap route only (the live preview between thorough frames).
    `layout=False`: no portrait check between rival outlines and no second opinion from
    segmentation (`card_agree`; tens to hundreds of ms: capture time only). With a `hint` that
    still holds, the search ends there and no second opinion is asked (the preview's route)."""
    frame = as_rgb(frame)
    h, w = frame.shape[:2]
    if h < 16 or w < 16:
        return None
    scale = WORK_W / w
    small = _shrink(frame, WORK_W, max(1, round(h * scale)))
    if small.ndim == 2:
        small = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    field = EdgeField.of(gray)
    shape = gray.shape
    if hint is not None and not hint.touches_border:
        # The preview's steady state: the last outline (the best a full search found) still
        # on its edges ends the search.
        q, sc = score_batch(hint.corners.reshape(1, 4, 2) * scale, field, shape)
        if sc[0] >= ACCEPT and inside_frame(q[0], shape, _MARGIN):
            # Refined already: only follow the card's own edge a few pixels (a wide search
            # could hop to a printed line and back, and the preview would see motion).
            return _found(frame, q[0] / scale, float(sc[0]), hint.method, refine, search=_FOLLOW)
    min_len = 0.15 * min(shape)
    cands: list[_Cand] = []
    # The colour model needs no detail: it runs at half the size (a quarter of the cost), and
    # its outlines are only proposals that the verifier judges at full small size.
    tiny = cv2.resize(small, (shape[1] // 2, shape[0] // 2), interpolation=cv2.INTER_LINEAR)
    mask = cv2.resize(C.background_mask(cv2.cvtColor(tiny, cv2.COLOR_RGB2LAB)), (shape[1], shape[0]),
                      interpolation=cv2.INTER_NEAREST)
    fg = C.blobs(mask)
    if hint is not None and not hint.touches_border:
        _judge(hint.corners.reshape(1, 4, 2) * scale, hint.method, field, mask, cands)
    _judge(_hulls(fg), "fondo", field, mask, cands)
    best = _choose(cands, field, mask)
    # At capture (`layout`) the other detectors also run when the fast outline is no rectangle
    # in perspective: the colour model took a pale part of the card for table, and the side
    # there cuts across the card (its side ratio alone can still pass for ID-1).
    doubtful = layout and best is not None and perspective_agreement(best.quad[None], shape)[0] < SLANTED
    if thorough and (best is None or best.score < GOOD or not best.inside or doubtful):
        edges = C.edge_map(gray)
        eb = C.blobs(C.filled_outlines(edges))
        _judge(_hulls(eb), "bordes", field, mask, cands)
        segs = [s for b in fg + eb for s in C.contour_segments(b.contour, shape, min_len)]
        segs += C.hough_segments(edges, min_len)
        lines = C.merge_lines(segs)
        _judge(C.quads_from_lines(lines, shape), "lineas", field, mask, cands)
        near = sorted(cands, key=lambda c: -c.score)[:4]
        _judge(C.side_swaps(np.array([c.quad for c in near]), lines), "lineas", field, mask, cands)
        fit = (lambda c: portrait_fit(frame, order_corners(c.quad / scale))) if layout else None
        best = _choose(cands, field, mask, fit)
    if best is None:
        cut = _cut_blob(fg, shape)
        if cut is None:
            return None
        corners = order_corners(cut / scale)
        return CardFind(corners.astype(np.float32), 0.0, True,
                        float(cv2.contourArea(corners)) / (w * h), "fondo")
    others = sorted((c for c in cands if c is not best and c.score >= ACCEPT and c.inside),
                    key=lambda c: -c.score)
    alts = tuple(order_corners(c.quad / scale).astype(np.float32) for c in others[:3])
    found = _found(frame, best.quad / scale, best.score, best.method, refine, not best.inside, alts)
    if not layout or found.touches_border:
        return found
    # At capture, a second opinion from segmentation (tens of ms, so not in the preview).
    def verify(q: np.ndarray) -> bool:
        quad, sc = score_batch(order_corners(q).reshape(1, 4, 2) * scale, field, shape)
        return bool(sc[0] >= ACCEPT and inside_frame(quad[0], shape, _MARGIN))

    s = settle_outline(frame, found.corners, verify)
    if not s.replaced:
        if s.candidate is not None:   # tried first by the reading, under its own checks
            return replace(found, segmented=s.distance,
                           alternatives=(order_corners(s.candidate).astype(np.float32), *alts[:2]))
        return replace(found, segmented=s.distance)
    corners = order_corners(s.corners).astype(np.float32)
    return CardFind(corners, found.score, False, float(cv2.contourArea(corners)) / (w * h), "segmento",
                    (found.corners, *alts[:2]), s.distance)


def _found(frame: np.ndarray, quad: np.ndarray, score: float, method: str, refine: bool,
           touches: bool = False, alts: tuple[np.ndarray, ...] = (), search: float = 0.015) -> CardFind:
    h, w = frame.shape[:2]
    corners = order_corners(quad)
    if refine and not touches:
        corners = refine_corners(frame, corners, search)
    area = float(cv2.contourArea(corners)) / (w * h)
    return CardFind(corners.astype(np.float32), float(score), touches, area, method, alts)


def as_rgb(frame: np.ndarray) -> np.ndarray:
    """A frame as 8-bit RGB: grey stays grey (2-D), an alpha channel is dropped."""
    if frame.ndim == 3 and frame.shape[2] == 4:
        frame = frame[..., :3]
    elif frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[..., 0]
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    return frame


def _gray(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
