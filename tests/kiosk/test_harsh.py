"""Harsh frames for the card finder (kiosk/testdata/harsh.py): reproducible, each scenario
does what it says, and the true corners really sit on the card."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kiosk.testdata.harsh import (
    SCENARIOS,
    TABLE_SCENARIOS,
    HarshFrame,
    card_picture,
    corners_inside,
    harsh_frame,
)

W, H = 1280, 720


def _structure_match(f: HarshFrame, corners: np.ndarray) -> float:
    """Correlation between the frame warped flat by `corners` and the card's own picture, on the
    card's visible pixels, after a high-pass (light, shadows and white balance drop out)."""
    cw, ch = 512, 323
    dst = np.float32([[0, 0], [cw, 0], [cw, ch], [0, ch]])
    m = cv2.getPerspectiveTransform(np.float32(corners), dst)
    got = cv2.cvtColor(cv2.warpPerspective(f.image, m, (cw, ch)), cv2.COLOR_RGB2GRAY).astype(np.float32)
    shown = cv2.warpPerspective(f.visible_mask, m, (cw, ch)) > 200
    shown = cv2.erode(shown.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    src = cv2.resize(card_picture(f.params["card"], f.params["side"]), (cw, ch), interpolation=cv2.INTER_AREA)
    want = cv2.cvtColor(src, cv2.COLOR_RGB2GRAY).astype(np.float32)
    a = (got - cv2.GaussianBlur(got, (0, 0), 6))[shown]
    b = (want - cv2.GaussianBlur(want, (0, 0), 6))[shown]
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def frames() -> dict[str, HarshFrame]:
    return {s: harsh_frame(7, scenario=s, side="any") for s in SCENARIOS}


def test_same_seed_same_frame() -> None:
    a, b = harsh_frame(11), harsh_frame(11)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.corners, b.corners)
    assert a.params == b.params and a.scenario == b.scenario
    c = harsh_frame(12)
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_makes_its_frame(frames: dict[str, HarshFrame], scenario: str) -> None:
    f = frames[scenario]
    assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8
    assert f.corners.shape == (4, 2) and f.corners.dtype == np.float32
    assert scenario in f.scenario.split("+")
    assert f.cut == (scenario == "cut") == (not corners_inside(f.corners, (W, H)))
    assert 0.3 < f.card_visible_fraction <= 1.0
    quad = f.corners
    top = quad[1] - quad[0]                            # the card's own top edge, in the frame
    if scenario == "fill_frame":
        assert np.ptp(quad[:, 0]) >= 0.85 * W
    if scenario in ("hand", "fingers_corner"):
        assert f.card_visible_fraction < 0.99          # a thumb or fingers cover part of it
    if scenario == "portrait":
        assert abs(top[1]) > abs(top[0])
    if scenario == "rotation":
        tilt = np.degrees(np.arctan2(abs(top[1]), abs(top[0])))
        assert 8 < tilt < 50                           # 15-35 degrees give or take the perspective
    if scenario in TABLE_SCENARIOS:
        assert f.params["table"] == scenario
    if scenario == "low_light":
        assert f.params["camera"]["gain"] > 1.5
    if scenario in ("defocus", "motion_blur"):
        assert f.params[scenario] > 1.5


def test_cut_means_a_corner_outside_over_random_mixes() -> None:
    for seed in range(12):
        f = harsh_frame(100 + seed, scenario=None, side="any")
        assert f.cut == (not corners_inside(f.corners, (W, H))), f.scenario
        assert f.cut == ("cut" in f.scenario.split("+")), f.scenario


def test_cut_card_leaves_the_frame_by_a_margin() -> None:
    for seed in range(6):
        c = harsh_frame(seed, scenario="cut").corners
        outside = np.maximum(np.maximum(-c, c - [W - 1, H - 1]), 0).max()
        assert outside > 10                            # no corner sitting on the edge by chance


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_true_corners_sit_on_the_card(frames: dict[str, HarshFrame], scenario: str) -> None:
    f = frames[scenario]
    diag = float(np.linalg.norm(f.corners[2] - f.corners[0]))
    right = _structure_match(f, f.corners)
    # Corners pulled 2 % of the diagonal apart, or the card read upside down, no longer match.
    nudged = f.corners + np.float32([[1, 0], [0, 1], [-1, 0], [0, -1]]) * 0.02 * diag
    assert right > 0.35
    assert _structure_match(f, nudged) < 0.6 * right            # motion blur keeps some along its path
    assert _structure_match(f, np.roll(f.corners, 2, axis=0)) < 0.3 * right


def test_visible_mask_is_the_card_minus_what_covers_it(frames: dict[str, HarshFrame]) -> None:
    f = frames["hand"]
    assert set(np.unique(f.visible_mask)) <= {0, 255}
    inside = np.zeros((H, W), np.uint8)
    cv2.fillConvexPoly(inside, np.round(f.corners).astype(np.int32), 255)
    grown = cv2.dilate(inside, np.ones((3, 3), np.uint8))        # rasterising differs by a pixel
    assert np.count_nonzero(f.visible_mask & ~grown) == 0        # never outside the outline
    covered = np.count_nonzero(inside) - np.count_nonzero(f.visible_mask)
    assert covered > 0.01 * np.count_nonzero(inside)


@pytest.mark.parametrize("bad", ["nope", "wood+cloth", "fill_frame+cut", "hand+fingers_corner"])
def test_refuses_unknown_or_clashing_scenarios(bad: str) -> None:
    with pytest.raises(ValueError):
        harsh_frame(0, scenario=bad)


def test_other_frame_sizes() -> None:
    f = harsh_frame(3, scenario="fill_frame", size=(640, 480))
    assert f.image.shape == (480, 640, 3)
    assert corners_inside(f.corners, (640, 480)) and np.ptp(f.corners[:, 0]) >= 0.85 * 640
