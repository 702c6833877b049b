"""The card finder on frames where the old one failed: pale cards on white tables, hands and
cables joining the card at the frame's edge, cards filling the frame, printed inner boxes."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from kiosk.testdata import variants as V
from kiosk.testdata.cards import sample_card
from kiosk.vision.card import CardFind, find_card, portrait_fit, straighten
from kiosk.vision.card_verify import order_corners


def corner_error(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean corner distance over the card's diagonal, whichever corner the finder calls first."""
    t = np.asarray(truth, float)
    d = float(np.linalg.norm(t[2] - t[0]))
    return min(float(np.linalg.norm(np.roll(found, k, 0) - t, axis=1).mean()) for k in range(4)) / d


def scene(seed: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng, nprng = random.Random(seed), np.random.default_rng(seed)
    front, back, _ = sample_card(seed % 40, rng.choice("EFGH"))
    card = back if seed % 2 else front
    if kind == "white":
        bg = np.full((V.FRAME_H, V.FRAME_W, 3), rng.randint(215, 245), np.int16)
        bg = np.clip(bg + nprng.normal(0, 3, bg.shape).astype(np.int16), 0, 255).astype(np.uint8)
        return V.place(card, bg, rng)
    bg, _ = V.background(rng, nprng)
    if kind == "fill":
        return V.place(card, bg, rng, scale=(0.82, 0.9))
    frame, pts = V.place(card, bg, rng)
    side = rng.randint(0, 3)
    mid = (pts[side] + pts[(side + 1) % 4]) / 2
    out = (mid - pts.mean(0)) / np.linalg.norm(mid - pts.mean(0))
    start = tuple(int(v) for v in mid - out * 40)
    if kind == "hand":      # an arm from beyond the frame's edge, its hand over one side
        skin = (rng.randint(150, 220), rng.randint(100, 160), rng.randint(80, 130))
        cv2.line(frame, start, tuple(int(v) for v in mid + out * 900), skin, rng.randint(60, 110))
        cv2.circle(frame, start, 35, skin, -1)
    else:                   # a cable from the frame's edge to a corner of the card
        cv2.line(frame, (rng.randint(0, V.FRAME_W - 1), 0), tuple(int(v) for v in pts[side]), (30, 30, 30), 8)
    return frame, pts


@pytest.mark.parametrize("kind", ["white", "fill", "hand", "cable"])
def test_found_where_the_first_finder_was_lost(kind: str) -> None:
    errors, cut = [], 0
    for seed in range(1000, 1010):
        frame, truth = scene(seed, kind)
        f = find_card(frame)
        if f is not None and f.touches_border:
            cut += 1
        errors.append(1.0 if f is None else corner_error(f.corners, truth))
    assert cut == 0, "a card wholly inside the frame is never called cut"
    assert sum(e <= 0.03 for e in errors) >= 9, [round(e, 3) for e in errors]


def test_a_side_on_the_frame_edge_is_a_cut_card() -> None:
    frame, truth = scene(1001, "plain")
    # Shift the card so its left side leaves the frame by a fifth of its width.
    shift = -float(truth[:, 0].min()) - 0.2 * float(np.ptp(truth[:, 0]))
    moved = cv2.warpAffine(frame, np.float32([[1, 0, shift], [0, 1, 0]]), (V.FRAME_W, V.FRAME_H),
                           borderMode=cv2.BORDER_REPLICATE)
    f = find_card(moved)
    assert f is None or f.touches_border


def test_a_printed_box_inside_the_card_is_not_the_card() -> None:
    rng = random.Random(7)
    _, back, _ = sample_card(7, "G")
    card = back.copy()
    h, w = card.shape[:2]
    # A bold ID-1-shaped frame printed on the card, as some designs carry.
    cv2.rectangle(card, (int(0.12 * w), int(0.14 * h)), (int(0.88 * w), int(0.86 * h)), (40, 40, 40), 6)
    bg, _ = V.background(rng, np.random.default_rng(7))
    frame, truth = V.place(card, bg, rng)
    f = find_card(frame)
    assert f is not None and corner_error(f.corners, truth) <= 0.03


def test_the_last_outline_carries_the_preview() -> None:
    frame, truth = scene(1003, "plain")
    first = find_card(frame)
    assert first is not None
    again = find_card(frame, hint=first, thorough=False)
    assert again is not None and corner_error(again.corners, truth) <= 0.03
    empty = np.full_like(frame, 128)
    assert find_card(empty, hint=first, thorough=False) is None


def test_findings_carry_their_alternatives_as_quads() -> None:
    frame, _ = scene(1004, "white")
    f = find_card(frame)
    assert isinstance(f, CardFind)
    assert all(a.shape == (4, 2) for a in f.alternatives)


def test_the_portrait_tells_the_card_from_its_photo_box() -> None:
    front, _, _ = sample_card(11, "G")
    h, w = front.shape[:2]
    whole = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    assert portrait_fit(front, whole) == 1
    # The printed portrait's own box (left of the card, ~27 % x 62 %) taken for the card.
    box = order_corners(np.float32([[0.02 * w, 0.2 * h], [0.26 * w, 0.2 * h], [0.26 * w, 0.82 * h],
                                    [0.02 * w, 0.82 * h]]))
    assert portrait_fit(straighten(front, whole), box) == -1
