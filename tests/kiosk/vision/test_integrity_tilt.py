"""The tilt evidence (kiosk/vision/integrity_tilt.py): the card's plane from its outline, and
whether the card answers the room's light as it tilts.

Two kinds of material: a card picture projected through a pinhole camera at known poses,
with the light as the test sets it (exact, fast); and the camera-model simulator's clips of
a laminated card and a phone screen (kiosk/testdata/fakes.py `tilt_sequence`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kiosk.testdata import fakes
from kiosk.testdata.cards import sample_card
from kiosk.vision.integrity import OK, PHOTOCOPY, REASONS, SCREEN, IntegrityResult
from kiosk.vision.integrity_tilt import (
    TILT_MIN_DEG,
    plane_normals,
    tilt_evidence,
    tilt_range_deg,
    with_tilt,
)
from tests.helpers.tilt import H, W, card_clip, card_quad


@pytest.fixture(scope="module")
def card() -> np.ndarray:
    return sample_card(7)[0]


def test_the_outline_gives_the_plane_and_its_tilt():
    for ax, ay in ((0.0, 6.0), (4.0, 0.0), (3.0, -5.0)):
        n = plane_normals([card_quad(0, 0), card_quad(ax, ay)], (W, H))
        assert tilt_range_deg(n) == pytest.approx(math.hypot(ax, ay), abs=0.3)
    # Half a pixel of noise on every corner moves the reading by a fraction of a degree.
    rng = np.random.default_rng(1)
    noisy = [card_quad(0, a) + rng.normal(0, 0.5, (4, 2)).astype(np.float32) for a in (-4, 0, 4)]
    assert tilt_range_deg(plane_normals(noisy, (W, H))) == pytest.approx(8.0, abs=0.8)


def test_a_card_answering_the_light_is_not_flat_and_a_screen_is(card):
    angles = [-5, -3, -1, 1, 3, 5]
    lit = tilt_evidence(*card_clip(card, angles, shading=0.012))
    assert lit.judged and not lit.flat
    assert lit.scores["tilt_deg"] == pytest.approx(10, abs=0.5)
    emitted = tilt_evidence(*card_clip(card, angles, shading=0.0))
    assert emitted.judged and emitted.flat
    assert emitted.scores["response"] < lit.scores["response"] / 5


def test_a_card_held_still_is_not_judged(card):
    frames, quads = card_clip(card, [0.5, 0.5, 0.6, 0.5, 0.4, 0.5], shading=0.0)
    e = tilt_evidence(frames, quads)
    assert not e.judged and not e.flat and e.scores["tilt_deg"] < TILT_MIN_DEG
    few = tilt_evidence(*card_clip(card, [-5, 5], shading=0.0))  # two frames say nothing either
    assert not few.judged and not few.flat


def test_with_tilt_refuses_only_a_passed_still_whose_card_is_flat(card):
    flat = tilt_evidence(*card_clip(card, [-5, -2, 2, 5], shading=0.0))
    lit = tilt_evidence(*card_clip(card, [-5, -2, 2, 5], shading=0.012))
    ok = IntegrityResult(OK, "", {"own_chroma": 12.0})
    copy = IntegrityResult(PHOTOCOPY, REASONS[PHOTOCOPY], {"own_chroma": 2.0})
    r = with_tilt(ok, flat)
    assert r.verdict == SCREEN and r.reason == REASONS[SCREEN]
    assert r.scores["own_chroma"] == 12.0 and r.scores["tilt_response"] >= 0
    assert with_tilt(ok, lit).verdict == OK
    assert with_tilt(copy, lit).verdict == PHOTOCOPY  # the still's refusal stands
    assert with_tilt(copy, flat).verdict == PHOTOCOPY


def test_bad_input_is_a_clear_error(card):
    frames, quads = card_clip(card, [-3, 0, 3], shading=0.0)
    with pytest.raises(ValueError, match="un contorno por cuadro"):
        tilt_evidence(frames, quads[:2])
    with pytest.raises(ValueError, match="mismo tamaño"):
        tilt_evidence([frames[0], frames[1][:-2], frames[2]], quads)
    e = tilt_evidence([], [])
    assert not e.judged and not e.flat


@pytest.mark.parametrize("kind,flat", [("genuine", False), ("screen_phone", True)])
def test_simulated_clips_laminate_answers_and_a_phone_does_not(kind, flat):
    # Seeds of the tuning part (bench/bench_integrity_tilt.py): a laminated card and a phone
    # showing it, through the camera model, 8 frames over a second of hand wobble.
    shots = fakes.tilt_sequence(kind, 45000, "front", n_frames=8, fps=8.0, resolution=(800, 600))
    e = tilt_evidence([s.frame for s in shots], [s.corners for s in shots])
    assert e.judged, e.scores
    assert e.flat is flat, e.scores
