"""kiosk.vision.card_agree: the card segmented from its surroundings, against an outline."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.testdata.harsh import harsh_frame
from kiosk.vision.card_agree import AGREE, outline_agreement


def _moved_side(corners: np.ndarray, k: int, frac: float) -> np.ndarray:
    """The outline with side k (k to k+1) moved across by frac of the card's short side
    (positive: into the card), its two corners slid along the neighbouring sides."""
    c = np.asarray(corners, np.float64).copy()
    short = min(np.linalg.norm(c[(j + 1) % 4] - c[j]) for j in range(4))
    a, b = k, (k + 1) % 4
    for i, nb in ((a, (a - 1) % 4), (b, (b + 1) % 4)):
        d = c[nb] - c[i]
        c[i] = c[i] + d / np.linalg.norm(d) * frac * short
    return c


@pytest.mark.parametrize("scenario,seed", [("wood", 50001), ("grey_table", 50003), ("hand", 50005)])
def test_the_true_outline_agrees_with_its_segmentation(scenario: str, seed: int) -> None:
    f = harsh_frame(seed, "front", scenario=scenario)
    got = outline_agreement(f.image, f.corners)
    assert got.segmented is not None and got.agrees, got.distance


@pytest.mark.parametrize("scenario,seed", [("wood", 50001), ("grey_table", 50003)])
@pytest.mark.parametrize("side,frac", [(0, 0.12), (2, 0.12), (1, -0.12)])
def test_a_side_on_a_print_line_or_on_the_table_disagrees(scenario: str, seed: int, side: int,
                                                          frac: float) -> None:
    # A side moved ~5 mm into the card (a printed rule) or out onto the table: the segmentation
    # follows the card's own edge, not the outline it started from.
    f = harsh_frame(seed, "front", scenario=scenario)
    wrong = _moved_side(f.corners, side, frac)
    got = outline_agreement(f.image, wrong)
    assert not got.agrees, got.distance
    assert got.segmented is not None
    truth = np.asarray(f.corners, np.float64)
    diag = float(np.linalg.norm(truth[2] - truth[0]))
    assert float(np.linalg.norm(got.segmented - truth, axis=1).mean()) / diag < AGREE * 2



def _right(found: np.ndarray, truth: np.ndarray) -> bool:
    f, t = np.asarray(found, np.float64), np.asarray(truth, np.float64)
    diag = float(np.linalg.norm(t[2] - t[0]))
    err = min(float(np.linalg.norm(np.roll(f, -k, axis=0) - t, axis=1).mean()) for k in range(4))
    return err / diag <= 0.03


def test_at_capture_the_finder_takes_the_settled_segmentation_or_marks_its_outline_untrusted() -> None:
    from kiosk.vision.card import find_card

    # Two sides on the lines of a checked cloth: the segmented outline is a fixed point and is right.
    f = harsh_frame(40005, "front", scenario="cloth")
    got = find_card(f.image)
    assert got is not None and got.method == "segmento" and got.trusted and _right(got.corners, f.corners)
    # A hand across the card: the lines' outline is off; its segmentation (the straight part of
    # each side, not the hand's dent) settles on the card.
    f = harsh_frame(20003, "front", scenario="hand")
    got = find_card(f.image)
    assert got is not None and got.method == "segmento" and got.trusted and _right(got.corners, f.corners)
    # A side on a line of the cloth whose segmentation does not settle: the outline comes back,
    # marked untrusted.
    f = harsh_frame(30001, "front", scenario="cloth")
    got = find_card(f.image)
    assert got is not None and not got.trusted and not _right(got.corners, f.corners)
    # The preview does not ask (`layout=False`): no opinion, trusted by default.
    live = find_card(harsh_frame(30001, "front", scenario="cloth").image, layout=False)
    assert live is not None and live.segmented is None and live.trusted


@pytest.mark.parametrize("quad", [
    [[2000, 2000], [2400, 2000], [2400, 2250], [2000, 2250]],        # wholly outside the frame
    [[100, 100], [300, 100], [500, 100], [700, 100]],                # collinear
    [[100, 100], [float("nan"), 100], [500, 300], [100, 300]],       # not a number
])
def test_a_degenerate_outline_gets_no_confirmation_and_no_crash(quad: list) -> None:
    frame = harsh_frame(50001, "front", scenario="wood").image
    got = outline_agreement(frame, np.array(quad, np.float32))
    assert got.segmented is None and not got.agrees
