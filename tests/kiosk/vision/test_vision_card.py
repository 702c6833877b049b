"""Card finding, straightening and the frame-quality verdict on generated frames."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.testdata.cards import sample_card
from kiosk.vision.card import CARD_H, CARD_W, find_card, order_corners, straighten
from kiosk.vision.quality import REASONS, CaptureTracker, assess_frame
from tests.helpers.vision import Frame, blurred, cut_off, genuine_back_frames, too_dark, too_far

KINDS = ("clean", "noise", "glare", "low_light", "perspective", "small", "jpeg", "crumpled")


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    return genuine_back_frames(list(range(3000, 3024)), kinds=KINDS)


def test_corners_found_within_a_few_pixels(frames) -> None:  # type: ignore[no-untyped-def]
    errs = []
    for f in frames:
        c = find_card(f.image)
        assert c is not None, f.name
        errs.append(float(np.abs(c.corners - f.corners).max()) / c.width_px)
    errs_a = np.array(errs)
    assert np.median(errs_a) < 0.004 and (errs_a < 0.015).mean() >= 0.95, np.round(errs_a, 4)


def test_straightened_card_has_id1_proportions(frames) -> None:  # type: ignore[no-untyped-def]
    f = frames[0]
    crop = straighten(f.image, find_card(f.image).corners)
    assert crop.shape == (CARD_H, CARD_W, 3) and abs(CARD_W / CARD_H - 85.60 / 53.98) < 0.002


def test_order_corners_from_any_order() -> None:
    pts = np.float32([[10, 10], [110, 12], [108, 75], [8, 73]])
    for k in range(4):
        assert np.allclose(order_corners(np.roll(pts, k, axis=0)), pts)


def test_no_card_in_an_empty_frame() -> None:
    flat = np.full((720, 1280, 3), 128, np.uint8)
    assert find_card(flat) is None
    assert assess_frame(flat, None).reasons == ["sin_credencial"]


def _reasons(img: np.ndarray) -> list[str]:
    return assess_frame(img, find_card(img)).reasons


def test_good_frames_pass(frames) -> None:  # type: ignore[no-untyped-def]
    good = [f for f in frames if f.effects[0] in ("clean", "noise", "perspective", "jpeg")]
    assert all(_reasons(f.image) == [] for f in good), [(f.name, _reasons(f.image)) for f in good]


@pytest.mark.parametrize(("make", "reason"), [
    (lambda f: too_dark(f.image), "oscura"),
    (lambda f: blurred(f.image), "borrosa"),
    (lambda f: cut_off(f.image, f.corners), "cortada"),
])
def test_bad_frames_say_why(frames, make, reason) -> None:  # type: ignore[no-untyped-def]
    hits = [reason in _reasons(make(f)) for f in frames]
    assert sum(hits) >= 0.9 * len(frames), hits


def test_glare_on_the_card_is_reported(frames) -> None:  # type: ignore[no-untyped-def]
    glare = [f for f in frames if f.effects[0] == "glare"]
    assert glare and all("reflejo" in _reasons(f.image) for f in glare)


def test_far_card_is_reported() -> None:
    hits = []
    for seed in range(3100, 3106):
        _, back, _ = sample_card(seed)
        img, _ = too_far(back, seed)
        hits.append("lejos" in _reasons(img))
    assert all(hits), hits


def test_reasons_are_codes_whose_texts_the_catalogues_hold() -> None:
    from kiosk import i18n
    from kiosk.i18n import Msg

    q = assess_frame(np.full((720, 1280, 3), 128, np.uint8), None)
    assert (q.codes, q.code) == (["quality.sin_credencial"], "quality.sin_credencial")
    assert i18n.render(Msg(q.code)) == "Coloque la credencial dentro del recuadro"
    assert i18n.render(Msg(q.code), lang="en") == "Place the card inside the box"
    for r in (*REASONS, "listo"):
        assert all(i18n.lookup(f"quality.{r}", lang) for lang in i18n.LANGUAGES), r


def test_tracker_says_steady_only_after_still_good_frames(frames) -> None:  # type: ignore[no-untyped-def]
    f = next(f for f in frames if f.effects[0] == "clean")
    tr = CaptureTracker()
    verdicts = [tr.update(f.image) for _ in range(4)]
    assert [v.steady for v in verdicts] == [False, False, False, True]
    # The card jumps: "moving", and the streak starts again.
    moved = np.roll(f.image, 60, axis=1)
    v = tr.update(moved)
    assert not v.steady and "movimiento" in v.quality.reasons
    assert not tr.update(f.image).steady
    tr.reset()
    assert tr.update(f.image).good_streak == 1
