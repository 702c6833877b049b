"""The MRZ band found directly in a frame, without the card outline, and read.

Frames are the project's generated backs (kiosk.testdata) placed by hand here: rotated up to
35 deg and upside down, near and far, on light and textured tables, cut by the frame's edge
on the side away from the MRZ or held by a hand-like blob over the outline.
"""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from kiosk.mrz.locate import CARD_H, CARD_W, MrzBand, card_quad_from_band, find_mrz_band, read_mrz_in_frame
from kiosk.mrz.reader import read_mrz, read_mrz_cells
from kiosk.testdata import variants as V
from kiosk.testdata.cards import sample_card


def _table(light: bool, seed: int) -> np.ndarray:
    if light:
        return np.full((V.FRAME_H, V.FRAME_W, 3), (232, 230, 226), np.uint8)
    return V.background(random.Random(seed), np.random.default_rng(seed))[0]


def _place(card: np.ndarray, table: np.ndarray, angle: float, px_per_mm: float,
           shift: tuple[float, float] = (0.0, 0.0), tilt: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """`card` on `table`: rotated by `angle` deg, `px_per_mm` of card, its centre moved by
    `shift` (fractions of the card's own width and height, in its own axes), one side
    `tilt` nearer the camera. Returns the frame and the card's corners (TL TR BR BL)."""
    h, w = card.shape[:2]
    cw, ch = 85.60 * px_per_mm, 53.98 * px_per_mm
    rect = np.array([[-cw / 2, -ch / 2 * (1 - tilt)], [cw / 2, -ch / 2 * (1 + tilt)],
                     [cw / 2, ch / 2 * (1 + tilt)], [-cw / 2, ch / 2 * (1 - tilt)]])
    rect += np.array([shift[0] * cw, shift[1] * ch])
    a = np.deg2rad(angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = (rect @ rot.T + [V.FRAME_W / 2, V.FRAME_H / 2]).astype(np.float32)
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), pts)
    size = (V.FRAME_W, V.FRAME_H)
    warped = cv2.warpPerspective(card, m, size, flags=cv2.INTER_AREA)
    alpha = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, size).astype(np.float32)[..., None] / 255
    return (table * (1 - alpha) + warped * alpha).astype(np.uint8), pts


def _hand(frame: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """A skin-coloured palm and fingers over the card's top edge and one corner."""
    out = frame.copy()
    tl, tr = corners[0], corners[1]
    palm = tl + 0.3 * (tr - tl) + (tl - corners[3]) * 0.15
    cv2.ellipse(out, (int(palm[0]), int(palm[1])), (140, 80), 20, 0, 360, (205, 150, 120), -1)
    for k in range(4):
        tip = palm + np.array([-60 + 40 * k, 170])
        cv2.line(out, (int(palm[0]), int(palm[1])), (int(tip[0]), int(tip[1])), (195, 140, 112), 30)
    cv2.ellipse(out, (int(tl[0]), int(tl[1])), (90, 60), 0, 0, 360, (200, 145, 118), -1)
    return out


CASES = {
    # name: (seed, model, angle, px/mm, shift, tilt, light table, hand, blur sigma)
    "level_light_table": (7000, "G", 3.0, 8.0, (0.0, 0.0), 0.0, True, False, 0.0),
    "rotated_30": (7001, "E", 30.0, 7.5, (0.0, 0.0), 0.0, False, False, 0.0),
    "rotated_minus_35_light": (7002, "H", -35.0, 7.0, (0.0, 0.0), 0.0, True, False, 0.0),
    "upside_down": (7003, "F", 190.0, 8.5, (0.0, 0.0), 0.0, False, False, 0.0),
    "far_5_px_per_mm": (7004, "G", -12.0, 5.2, (0.0, 0.0), 0.0, True, False, 0.0),
    "near_13_px_per_mm_cut": (7005, "H", -4.0, 13.0, (0.0, -0.18), 0.0, False, False, 0.0),
    "cut_by_the_top_edge_rotated": (7006, "E", 15.0, 10.0, (0.0, -0.45), 0.0, True, False, 0.0),
    "hand_over_the_outline": (7007, "G", -8.0, 8.5, (0.0, 0.0), 0.0, True, True, 0.0),
    "perspective": (7008, "F", 8.0, 8.0, (0.0, 0.0), 0.12, False, False, 0.0),
    "blurred": (7009, "H", 20.0, 8.0, (0.0, 0.0), 0.0, False, False, 1.6),
}


def _case(name: str) -> tuple[np.ndarray, np.ndarray, dict, float, float]:
    seed, model, angle, ppmm, shift, tilt, light, hand, blur = CASES[name]
    _, back, truth = sample_card(seed, model)
    frame, corners = _place(back, _table(light, seed), angle, ppmm, shift, tilt)
    if hand:
        frame = _hand(frame, corners)
    if blur:
        frame = cv2.GaussianBlur(frame, (0, 0), blur)
    return frame, corners, truth, angle, ppmm


@pytest.fixture(scope="module")
def reads() -> dict[str, tuple[np.ndarray, dict, float, float, tuple | None]]:
    out = {}
    for name in CASES:
        frame, corners, truth, angle, ppmm = _case(name)
        out[name] = (corners, truth, angle, ppmm, read_mrz_in_frame(frame))
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_the_band_is_found_and_reads_the_truth(name: str, reads) -> None:  # type: ignore[no-untyped-def]
    corners, truth, angle, ppmm, got = reads[name]
    assert got is not None, name
    r, band = got
    assert r.checks_ok and list(r.lines) == truth["mrz"], (name, r.lines, r.corrections)
    assert band.oriented
    # The angle as the text reads (upside down: about 180 deg off level); pitch 2.54 mm.
    turn = (band.angle - _mrz_angle(corners) + 180) % 360 - 180
    assert abs(turn) < 1.5, (band.angle, angle)
    assert band.pitch_px == pytest.approx(2.54 * ppmm, rel=0.06)


def _mrz_angle(corners: np.ndarray) -> float:
    """Direction of the MRZ's middle line in the frame, degrees."""
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [1, 0], [1, 1], [0, 1]]), corners)
    a, b = cv2.perspectiveTransform(np.float32([[[0.07, 0.81]], [[0.93, 0.81]]]), m).reshape(-1, 2)
    return float(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0])))


@pytest.mark.parametrize("name", [n for n in CASES if CASES[n][5] == 0.0])
def test_the_card_outline_implied_by_the_band_is_close(name: str, reads) -> None:  # type: ignore[no-untyped-def]
    corners, _, _, ppmm, got = reads[name]
    quad = card_quad_from_band(got[1])
    # Corners within 3 % of the card's width, though the top ones lie 0.7 card heights
    # from the MRZ (the far side of the card, extrapolated).
    assert np.abs(quad - corners).max() < 0.03 * 85.60 * ppmm, (quad, corners)


def test_the_band_reads_where_the_outline_is_cut_by_the_frame() -> None:
    frame, corners, truth, _, _ = _case("cut_by_the_top_edge_rotated")
    # Both top corners leave the frame: no outline to straighten.
    assert corners[0, 1] < 0 and corners[1, 1] < 0
    got = read_mrz_in_frame(frame)
    assert got is not None and list(got[0].lines) == truth["mrz"]


def test_an_mrz_running_off_the_frame_is_not_read() -> None:
    # The first characters of every line lie beyond the left edge: a read would guess them.
    _, back, _ = sample_card(7014, "G")
    frame, corners = _place(back, _table(True, 7014), 0.0, 8.0, (-0.54, 0.0))
    assert corners[0, 0] + 0.06 * (corners[1, 0] - corners[0, 0]) < 0
    assert find_mrz_band(frame) is None and read_mrz_in_frame(frame) is None


def test_find_mrz_band_alone_gives_the_geometry() -> None:
    frame, corners, *_ = _case("rotated_30")
    band = find_mrz_band(frame)
    assert isinstance(band, MrzBand) and not band.oriented
    assert band.quad.shape == (4, 2) and band.quad.dtype == np.float32
    assert len(band.lines) == 3 and all(b.shape == (4, 2) for b in band.lines)
    assert abs(band.angle - _mrz_angle(corners)) < 1.5
    # The band's quad holds the MRZ block of the card (docs/credential.md: 0.05-0.95, 0.66-0.95).
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [1, 0], [1, 1], [0, 1]]), corners)
    block = cv2.perspectiveTransform(np.float32([[[0.06, 0.68]], [[0.94, 0.68]], [[0.94, 0.93]],
                                                 [[0.06, 0.93]]]), m).reshape(-1, 2)
    inside = [cv2.pointPolygonTest(band.quad.reshape(-1, 1, 2), (float(x), float(y)), False) >= 0
              for x, y in block]
    assert all(inside)
    # The warp the band carries straightens the card: its MRZ reads through the usual reader.
    card = cv2.warpPerspective(frame, band.homography, (CARD_W, CARD_H))
    assert read_mrz(card) is not None


def test_a_card_front_and_a_bare_table_have_no_band() -> None:
    front, _, _ = sample_card(7010, "G")
    frame, _ = _place(front, _table(True, 7010), 10.0, 8.0)
    assert find_mrz_band(frame) is None and read_mrz_in_frame(frame) is None
    table = _table(False, 7011)
    assert find_mrz_band(table) is None and read_mrz_in_frame(table) is None


def test_an_ife_back_without_mrz_gives_no_read() -> None:
    _, back, _ = sample_card(7012, "C")
    frame, _ = _place(back, _table(False, 7012), -5.0, 8.0)
    got = read_mrz_in_frame(frame)
    assert got is None or not got[0].checks_ok


def test_read_mrz_cells_reads_a_straightened_back_at_the_given_cells() -> None:
    _, back, truth = sample_card(7013, "E")
    # kiosk.testdata draws cell k of line i at x = 71.2 + 30.36 k, y = 466.5 + 57.75 i.
    rows = [(71.2, 466.5 + 57.75 * i, 71.2 + 29 * 30.36, 466.5 + 57.75 * i) for i in range(3)]
    r = read_mrz_cells(back, rows)
    assert r is not None and r.checks_ok and list(r.lines) == truth["mrz"]
    # Half size: the rows are in the pixels of the image given.
    half = cv2.resize(back, (CARD_W // 2, CARD_H // 2), interpolation=cv2.INTER_AREA)
    r2 = read_mrz_cells(half, [tuple(v / 2 for v in row) for row in rows])
    assert r2 is not None and list(r2.lines) == truth["mrz"]
