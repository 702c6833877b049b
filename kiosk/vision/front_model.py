"""The card model family from the straightened front's layout: "E/F" or "G/H", or None.

docs/credential.md §10: on G/H the portrait spans y ≈ 0.20–0.70 of the card and the
holder's signature is printed under it (y ≈ 0.73–0.92); on E/F the portrait spans
y ≈ 0.22–0.80 and there is no signature on the front. Two cues, from the portrait box that
`kiosk.vision.face.find_card_photo` finds:

- where the portrait ends (its bottom edge, as a fraction of the card's height);
- ink under the portrait: the share of pixels clearly darker than the card's local paper
  in the band between the portrait's bottom and y = 0.92, over the portrait's width.

The portrait's bottom decides, and the ink must not contradict it; when the bottom falls
between the two layouts, or the cues disagree, or no portrait is found, the answer is None
(the UI then shows the model chooser). Pure: numpy in, a string out. The same-size E/F and
G/H letters (abroad or not) are not told apart here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.vision.face import CardPhoto, find_card_photo

GH_BOTTOM_MAX = 0.735     # portrait bottom at most this: G/H layout (0.70 nominal)
EF_BOTTOM_MIN = 0.765     # at least this: E/F layout (0.80 nominal)
INK_GH_MIN = 0.006        # share of dark pixels under the portrait that reads as a signature
INK_EF_MAX = 0.003        # at most this: nothing printed under the portrait
INK_GH_MAX = 0.12         # more than this is not a signature (background, misplaced crop)
INK_CONTRAST = 0.25       # "ink": darker than the paper by this share of the card's range
SIGNATURE_END = 0.92


@dataclass(frozen=True)
class FrontLayout:
    model: str | None      # "E/F", "G/H" or None (unsure)
    photo_bottom: float | None  # portrait bottom, fraction of the card height
    ink_under_photo: float | None


def _ink(gray: np.ndarray, box: tuple[int, int, int, int]) -> float | None:
    h = gray.shape[0]
    lo, hi = np.percentile(gray, (2, 98))
    step = max(8.0, INK_CONTRAST * float(hi - lo))  # relative: the same under low light
    x, y, bw, bh = box
    y0, y1 = int(y + bh + 0.02 * h), int(SIGNATURE_END * h)
    x0, x1 = x + bw // 10, x + bw - bw // 10
    if y1 - y0 < 0.05 * h or x1 <= x0:
        return None
    band = gray[y0:y1, x0:x1].astype(np.float32)
    paper = cv2.GaussianBlur(band, (0, 0), max(3.0, 0.02 * h))  # local paper level (guilloche, light)
    paper = np.maximum(paper, np.percentile(band, 75))
    return float((band < paper - step).mean())


def front_layout(front: np.ndarray, photo: CardPhoto | None = None) -> FrontLayout:
    """Model family of a straightened front (RGB, ID-1 proportions); `photo`: a portrait
    already found on it by `find_card_photo` (found here when not given)."""
    if photo is None:
        photo = find_card_photo(front)
    if photo is None:
        return FrontLayout(None, None, None)
    h = front.shape[0]
    _x, y, _w, bh = photo.box
    bottom = (y + bh) / h
    gray = cv2.cvtColor(front, cv2.COLOR_RGB2GRAY) if front.ndim == 3 else front
    ink = _ink(gray, photo.box)
    if bottom <= GH_BOTTOM_MAX:
        by_box = "G/H"
    elif bottom >= EF_BOTTOM_MIN:
        by_box = "E/F"
    else:
        return FrontLayout(None, bottom, ink)
    if ink is not None:
        contradicts = ink > INK_GH_MAX or (by_box == "G/H" and ink <= INK_EF_MAX) or (
            by_box == "E/F" and ink >= INK_GH_MIN)
        if contradicts:
            return FrontLayout(None, bottom, ink)
    elif by_box == "G/H":
        return FrontLayout(None, bottom, ink)  # no room under the portrait: not a G/H layout
    return FrontLayout(by_box, bottom, ink)


def front_model(front: np.ndarray, photo: CardPhoto | None = None) -> str | None:
    """"E/F", "G/H", or None when the layout does not tell (then ask the auxiliary)."""
    return front_layout(front, photo).model
