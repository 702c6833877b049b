"""One reading path for an image: where the card is, by which PATH it is read, which side it shows.

The kiosk's analysers, `fieldkit-kiosk scan` and `fieldkit-kiosk capture` all get their
card pictures here (backs through `credential.read_back`, fronts through `locate_card`), so
an image one of them reads, the others read too.

Paths, in the order they are tried (`card_views`):

- ``contorno``: the card's outline was found in the frame (`card.find_card`) and lies wholly
  inside it; the crop is that outline straightened.
- ``imagen_completa``: the image already IS the card (a flatbed scan cut to the card, a
  straightened file as `fieldkit-testdata cards` writes): ID-1 proportions within 3 %. The
  crop is the whole image. It comes first when no outline covering most of the image was
  found: inside a straightened card the finder may take a printed inner box for the card.
- ``banda_mrz``: no usable outline (none, cut by the frame's edge, or one whose crop did not read):
  the MRZ band is located and read in the frame itself (`mrz_locate.read_mrz_in_frame`); the
  card outline it implies (`mrz_locate.card_quad_from_band`) gives the crop, the best there is
  (what lies beyond the frame is filled by replicating its edge).

`credential.read_back` reads the views in turn and keeps the first that reads (an outline may be
a sheet of paper around a photocopied card, or a printed box inside the card: the MRZ band then
reads where the outline's crop did not). The reading says which path read it
(`BackReading.path`) and the record keeps it (`Credential.lectura_reverso`).

`side_cues` says which side of a card a straightened crop shows, from cues that do not
need the codes to decode: a printed portrait (either way up), a 1-D barcode (every model's
back carries one, no front does), QR finder patterns (the three nested squares of a symbol:
a blurred QR still shows them) and the density of printed text (fronts are full of it).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.mrz.locate import card_quad_from_band, read_mrz_in_frame
from kiosk.mrz.reader import MrzRead
from kiosk.vision.card import CARD_H, CARD_W, ID1_ASPECT, CardFind, as_rgb, find_card, straighten
from kiosk.vision.card_agree import AGREE, outline_agreement
from kiosk.vision.face import CardPhoto, detect_faces, find_card_photo

PATH_OUTLINE = "contorno"
PATH_WHOLE = "imagen_completa"
PATH_MRZ_BAND = "banda_mrz"
PATHS = (PATH_OUTLINE, PATH_WHOLE, PATH_MRZ_BAND)
# Not a view but how a back read on an outline its segmentation did not confirm is recorded
# (`credential.read_back`): the data are sound, the image may be a near miss.
PATH_OUTLINE_UNCONFIRMED = "contorno_sin_confirmar"

WHOLE_ASPECT_TOL = 0.03        # |aspect / ID-1 - 1| for an image that is the card itself
OUTLINE_COVERS = 0.5           # an outline covering this much of an ID-1 image is the card
MAX_ALTERNATIVES = 2           # other outlines the finder proposed, tried when the best does not read

# Which side: the answer of `shown_side`.
FRONT = "anverso"
BACK = "reverso"
UNKNOWN = "?"
FRONT_GLYPHS = 200             # glyph-sized marks: clean fronts ~280-370, IFE backs ~110-180
BARS_BLUR_MAX = 1.2            # bars sharper than this: sharp generated backs 0.8-1.0, blurred 1.4-2.6
PORTRAIT_MAX_X = 0.4           # the portrait's face centre lies left of this (fraction of the width)
PORTRAIT_H = (0.35, 0.75)      # the printed portrait's height over the card's (models E-H: ~0.5-0.6)
# The portrait box's edges where E-H fronts print it (docs/credential.md section 10: x 0.03-0.28,
# y 0.20-0.80), with room for the detector's spread on right outlines (harsh frames, 1st-99th
# percentile: left 0.00-0.08, right 0.23-0.39, bottom 0.67-0.87).
PORTRAIT_LEFT_MAX = 0.12
PORTRAIT_RIGHT = (0.18, 0.42)
PORTRAIT_BOTTOM_MAX = 0.92
FRONT_VIEWS = 3                # views tried for a front whose portrait is in place


@dataclass(frozen=True)
class CardView:
    """One picture of the card to read: its quad in the frame, the straightened crop, the path."""

    find: CardFind             # the outline, the whole image, or the outline the MRZ band implies
    card: np.ndarray           # straightened, CARD_W x CARD_H RGB
    path: str                  # one of PATHS
    mrz: MrzRead | None = None  # banda_mrz: the MRZ as read in the frame


def whole_image(frame: np.ndarray) -> CardFind | None:
    """The whole image as the card's quad, when its proportions are ID-1's; else None."""
    h, w = frame.shape[:2]
    if h == 0 or abs(w / h / ID1_ASPECT - 1) > WHOLE_ASPECT_TOL:
        return None
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return CardFind(corners, 1.0, False, 1.0, PATH_WHOLE)


def _is_whole(frame: np.ndarray, find: CardFind) -> bool:
    """A quad on the image's own corners (a caller that knows the image is the card)."""
    h, w = frame.shape[:2]
    box = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return bool(np.abs(np.asarray(find.corners, np.float32) - box).max() <= 1.0)


def _alternatives(frame: np.ndarray, find: CardFind) -> list[CardFind]:
    """The other outlines the finder also judged a card (`CardFind.alternatives`), those wholly
    inside the frame, at most MAX_ALTERNATIVES: the best one may be a printed box, a sheet of
    paper around a copy, or a card it took to run out of the frame."""
    h, w = frame.shape[:2]
    out = []
    for q in getattr(find, "alternatives", ())[:MAX_ALTERNATIVES]:
        quad = np.asarray(q, np.float32).reshape(4, 2)
        if (quad[:, 0] >= -2).all() and (quad[:, 1] >= -2).all() and (quad[:, 0] <= w + 1).all() \
                and (quad[:, 1] <= h + 1).all():
            area = float(cv2.contourArea(quad)) / float(w * h)
            out.append(CardFind(quad, find.score, False, area, find.method))
    return out


def _usable(find: CardFind | None) -> bool:
    return find is not None and not find.touches_border


def _view(frame: np.ndarray, find: CardFind, path: str, mrz: MrzRead | None = None) -> CardView:
    if path == PATH_WHOLE and frame.shape[1] == CARD_W and frame.shape[0] == CARD_H:
        card = np.ascontiguousarray(frame)
    else:
        card = straighten(frame, find.corners)
    if card.ndim == 2:
        card = cv2.cvtColor(card, cv2.COLOR_GRAY2RGB)
    return CardView(find, card, path, mrz)


def band_view(frame: np.ndarray) -> CardView | None:
    """The card as the MRZ band located in the frame implies it, with the band's reading."""
    got = read_mrz_in_frame(frame)
    if got is None:
        return None
    mrz, band = got
    quad = np.asarray(card_quad_from_band(band), np.float32)
    h, w = frame.shape[:2]
    outside = bool((quad[:, 0] < -2).any() or (quad[:, 1] < -2).any()
                   or (quad[:, 0] > w + 2).any() or (quad[:, 1] > h + 2).any())
    area = float(cv2.contourArea(quad)) / float(w * h)
    find = CardFind(quad, 0.0, outside, area, PATH_MRZ_BAND)
    return CardView(find, straighten(frame, quad), PATH_MRZ_BAND, mrz)


def card_views(frame: np.ndarray, find: CardFind | None = None, *, paths: tuple[str, ...] = PATHS,
               located: bool = False) -> Iterator[CardView]:
    """The card pictures to try, best first, made only when asked for (a generator).

    `find`: the outline already found for this frame (the kiosk's tracker has it); else the
    finder runs here. `located`: `find` is that outline, do not run the finder again even
    when it is None. `paths` limits the paths tried.
    """
    frame = as_rgb(frame)
    if find is None and not located and (PATH_OUTLINE in paths or PATH_WHOLE in paths):
        find = find_card(frame)
    if find is not None and (find.method == PATH_WHOLE or _is_whole(frame, find)):
        if PATH_WHOLE in paths or PATH_OUTLINE in paths:
            yield _view(frame, find, PATH_WHOLE)
    else:
        whole = whole_image(frame) if PATH_WHOLE in paths else None
        outline = find if PATH_OUTLINE in paths and _usable(find) else None
        convincing = outline is not None and outline.area_fraction >= OUTLINE_COVERS
        if whole is not None and not convincing:
            yield _view(frame, whole, PATH_WHOLE)
        if outline is not None:
            yield _view(frame, outline, PATH_OUTLINE)
        if whole is not None and convincing:
            yield _view(frame, whole, PATH_WHOLE)
        if PATH_OUTLINE in paths and find is not None:
            for alt in _alternatives(frame, find):
                yield _view(frame, alt, PATH_OUTLINE)
    if PATH_MRZ_BAND in paths:
        band = band_view(frame)
        if band is not None:
            yield band


def locate_card(frame: np.ndarray, find: CardFind | None = None, *, located: bool = False) -> CardView | None:
    """The card's best picture by outline or as the whole image (fronts: no MRZ band to go by)."""
    return next(card_views(frame, find, paths=(PATH_OUTLINE, PATH_WHOLE), located=located), None)


@dataclass(frozen=True)
class FrontView:
    """A front to take: the view, its crop the right way up, the portrait found on it."""

    view: CardView
    card: np.ndarray
    photo: CardPhoto | None
    in_place: bool             # the portrait where a front has it, and the outline trusted
    agreement: float | None = None  # the outline against its segmentation (`card_agree`); None: not asked


def portrait_in_place(photo: CardPhoto | None, card: np.ndarray) -> bool:
    """The portrait where a front has it: in the left part, about half the card's height (an
    outline a side short, or a box inside the card, puts it elsewhere or makes it too big)."""
    if photo is None:
        return False
    h, w = card.shape[:2]
    x, y, bw, bh = photo.box
    return (x + bw / 2 < PORTRAIT_MAX_X * w and PORTRAIT_H[0] <= bh / h <= PORTRAIT_H[1]
            and x <= PORTRAIT_LEFT_MAX * w and PORTRAIT_RIGHT[0] * w <= x + bw <= PORTRAIT_RIGHT[1] * w
            and y + bh <= PORTRAIT_BOTTOM_MAX * h)


def segmentation_distance(frame: np.ndarray, find: CardFind) -> float:
    """How far an outline lies from the card's segmentation (`card_agree`): measured by the
    finder at capture (`CardFind.segmented`), else here (an alternative, the preview's)."""
    if find.segmented is not None:
        return find.segmented
    return outline_agreement(as_rgb(frame), find.corners).distance


def front_view(frame: np.ndarray, find: CardFind | None = None, *, located: bool = False) -> FrontView | None:
    """The front to take, the same for the kiosk and `capture`: the first view (outline, its
    alternatives, the whole image) whose portrait is in place and, for an outline, that its
    segmentation agrees with (`card_agree`); else one with a portrait at all; else the first.
    Only an `in_place` view is trusted: a wrong outline is not straightened into the record
    while a right one is at hand, and the kiosk does not take an untrusted one by itself."""
    first = with_photo = None
    views = card_views(frame, find, paths=(PATH_OUTLINE, PATH_WHOLE), located=located)
    for view in itertools.islice(views, FRONT_VIEWS):
        crop = upright_front(view.card)
        photo = find_card_photo(crop)
        in_place = portrait_in_place(photo, crop)
        agreement = None
        if in_place and view.path == PATH_OUTLINE:
            agreement = segmentation_distance(frame, view.find)
            in_place = agreement <= AGREE
        fv = FrontView(view, crop, photo, in_place, agreement)
        if fv.in_place:
            return fv
        first = first or fv
        if photo is not None and with_photo is None:
            with_photo = fv
    return with_photo or first


# -- which side is shown ----------------------------------------------------------------------

@dataclass(frozen=True)
class SideCues:
    portrait: bool             # a face printed on the card, either way up
    barcode_blur: float | None  # a 1-D barcode's blur (sigma, card px); None: no barcode
    qr_finders: int            # QR finder patterns found (three per symbol)
    glyphs: int                # glyph-sized printed marks

    @property
    def barcode(self) -> bool:
        return self.barcode_blur is not None

    @property
    def bars_blurred(self) -> bool:
        """The barcode's bars are blurred: the photo is, whatever the frame's measure says."""
        return self.barcode_blur is not None and self.barcode_blur > BARS_BLUR_MAX

    @property
    def qr_seen(self) -> bool:
        """A QR symbol is there, decoded or not: its three finders (two alone can be a
        fingerprint's or a frame's corners)."""
        return self.qr_finders >= 3


def _portrait_at_left(img: np.ndarray) -> bool:
    w = img.shape[1]
    return any(x + fw / 2 < PORTRAIT_MAX_X * w
               for x, _y, fw, _fh in detect_faces(img, work_width=512, min_frac=0.08, neighbors=4))


def _portrait(card: np.ndarray) -> bool:
    """A face in the left part of the card, where every model prints the portrait (either way
    up: a card turned over top-to-bottom shows it upside down). Faces the cascade sees in the
    guilloche or the watermark elsewhere on a back, and the small ghost portrait on the right,
    do not count."""
    return _portrait_at_left(card) or _portrait_at_left(cv2.rotate(card, cv2.ROTATE_180))


def upright_front(card: np.ndarray) -> np.ndarray:
    """A straightened front the right way up: turned 180° when its portrait is seen only so
    (the outline's corners say nothing of which way up the card is held)."""
    if _portrait_at_left(card):
        return card
    turned = cv2.rotate(card, cv2.ROTATE_180)
    return turned if _portrait_at_left(turned) else card


def _barcode(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """A band of parallel vertical bars at least a fifth of the card wide: strong horizontal
    gradients with almost no vertical ones, filling a wide, low rectangle. Its box, card px."""
    f = gray.shape[1] / 512
    g = cv2.resize(gray, (512, round(gray.shape[0] / f)), interpolation=cv2.INTER_AREA)
    gx = cv2.boxFilter(np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)), -1, (9, 9))
    gy = cv2.boxFilter(np.abs(cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)), -1, (9, 9))
    raw = ((gx > 3.0 * gy) & (gx > 60)).astype(np.uint8)
    bars = cv2.morphologyEx(raw, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 3)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(bars)
    h, w = g.shape
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if bw >= 0.2 * w and bh >= 0.04 * h and bh <= 0.5 * bw and area >= 0.6 * bw * bh:
            return round(x * f), round(y * f), round(bw * f), round(bh * f)
    return None


def _bars_blur(gray: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Blur (Gaussian sigma, card px) of the bars' edges: contrast over the steepest slope
    across them (a step of contrast C blurred by sigma s peaks at C / (s * sqrt(2 pi))).
    Bars are printed sharp on every card, so this does not depend on the rest of the design
    (soft guilloche and watermarks make the frame's own blur measure read high on IFE backs)."""
    x, y, w, h = box
    r = gray[y + h // 4:y + 3 * h // 4, x + w // 10:x + 9 * w // 10].astype(np.float32)
    if r.size == 0:
        return 0.0
    slope = float(np.percentile(np.abs(cv2.Sobel(r, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)), 99.5))
    contrast = float(np.percentile(r, 98) - np.percentile(r, 2))
    return contrast / (2.5066 * max(slope, 1e-3))


def _qr_finders(gray: np.ndarray) -> int:
    """Finder patterns: a dark square holding a light one holding a dark one, areas ~49:25:9."""
    bw = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 51, 10)
    contours, hier = cv2.findContours(bw, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if hier is None:
        return 0
    h = hier[0]
    side_min = 0.012 * gray.shape[1]
    found = 0
    for i, c in enumerate(contours):
        child = h[i][2]
        if child < 0 or h[child][2] < 0:
            continue
        grand = h[child][2]
        a0 = cv2.contourArea(c)
        if a0 < side_min ** 2:
            continue
        (_, (rw, rh), _) = cv2.minAreaRect(c)
        if rw == 0 or rh == 0 or not 0.7 < rw / rh < 1.43 or a0 < 0.8 * rw * rh:
            continue                         # not a square (fingerprint rings, frames, glyphs)
        a1, a2 = cv2.contourArea(contours[child]), cv2.contourArea(contours[grand])
        if 0.3 < a1 / a0 < 0.8 and 0.06 < a2 / a0 < 0.4:
            found += 1
    return found


def _glyphs(gray: np.ndarray) -> int:
    h = gray.shape[0]
    bw = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15)
    stats = cv2.connectedComponentsWithStats(bw)[2]
    hs, ws = stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_WIDTH]
    return int(np.count_nonzero((hs >= 0.018 * h) & (hs <= 0.06 * h) & (ws <= 0.06 * h) & (ws >= 2)))


def side_cues(card: np.ndarray) -> SideCues:
    """The side cues of a straightened card crop (RGB, ideally CARD_W x CARD_H)."""
    gray = card if card.ndim == 2 else cv2.cvtColor(card, cv2.COLOR_RGB2GRAY)
    rgb = card if card.ndim == 3 else cv2.cvtColor(card, cv2.COLOR_GRAY2RGB)
    box = _barcode(gray)
    return SideCues(_portrait(rgb), None if box is None else _bars_blur(gray, box), _qr_finders(gray),
                    _glyphs(gray))


def shown_side(cues: SideCues, mrz_band: bool = False, qr_read: bool = False) -> str:
    """FRONT, BACK or UNKNOWN. The codes (an MRZ band, a QR read or its finders) make a back
    whatever else is seen (a face-like guilloche does not turn a back into a front); then a
    sharp barcode (no front has one: fingers at a back's edge can look like a portrait); then
    a portrait makes a front; a blurred barcode a back; a card dense with text, no barcode
    and no QR finder at all is a front whose portrait the detector missed."""
    if mrz_band or qr_read or cues.qr_seen:
        return BACK
    if cues.barcode and not cues.bars_blurred:
        return BACK
    if cues.portrait:
        return FRONT
    if cues.barcode:
        return BACK
    if cues.glyphs >= FRONT_GLYPHS and cues.qr_finders == 0:
        return FRONT
    return UNKNOWN
