"""The portrait on the card front: found and cropped on generated variants."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.vision.face import detect_faces, find_card_photo, iou
from tests.helpers.capture2 import card_samples, card_shots

SEEDS = range(300, 315)  # 15 cards x 4 genuine front shots = 60 positives


@pytest.fixture(scope="module")
def fronts():
    return card_shots(SEEDS, shots_per_side=4, negatives=False, sides=("front",))


def test_card_photo_found_on_98_percent_of_genuine_fronts(fronts):
    assert len(fronts) >= 60
    ious = []
    for s in fronts:
        p = find_card_photo(s.crop)
        ious.append(iou(p.box, tuple(s.face_box)) if p else 0.0)
    ious = np.array(ious)
    # "Found" = the crop overlaps the printed portrait by at least half (IoU >= 0.5).
    assert (ious >= 0.5).mean() >= 0.98, sorted(ious)[:5]
    assert np.median(ious) >= 0.85


def test_crop_is_the_portrait_region(fronts):
    s = fronts[0]
    p = find_card_photo(s.crop)
    assert p is not None
    x, y, w, h = p.box
    assert p.crop.shape == (h, w, 3)
    assert np.array_equal(p.crop, s.crop[y:y + h, x:x + w])
    fx, fy, fw, fh = p.face
    assert x <= fx and y <= fy and fx + fw <= x + w and fy + fh <= y + h
    assert 1.1 < h / w < 1.6  # a portrait


def test_no_face_on_the_back_or_a_blank():
    back = card_samples([301], labels=("genuine",), sides=("back",), n_genuine=1)[0].crop
    assert find_card_photo(back) is None
    assert find_card_photo(np.full((646, 1024, 3), 200, np.uint8)) is None
    assert detect_faces(np.zeros((100, 100), np.uint8)) == []


def test_rejects_non_rgb():
    with pytest.raises(ValueError):
        find_card_photo(np.zeros((646, 1024), np.uint8))
