"""The selfie is the person who passed liveness (kiosk.capture.analysis.SelfieAnalyser).

Real parts only: the shipped synthetic live sequences (kiosk.testdata.selfies.make_sequence, a
photo rendered as a 3-D head doing what the challenge asks) and another face
(make_selfie with another seed: the photo placed elsewhere, another size and background). To
keep the photo from being taken on the frame of the pass itself, the live sequence is moved off
centre (in the direction of the turn, so the turned head stays off centre): the selfie check
then refuses it ("Centre el rostro"), as for a person who passed while badly placed.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kiosk import i18n
from kiosk.capture.analysis import BIND_IOU, BIND_WINDOW_S, Captured, Guidance, SelfieAnalyser, iou
from kiosk.testdata.selfies import CHALLENGES, make_selfie, make_sequence
from kiosk.vision.liveness import Challenge

SIZE = (640, 360)
FPS = 15.0


def _shift(img: np.ndarray, dx: float, dy: float = 0.0) -> np.ndarray:
    h, w = img.shape[:2]
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


def _off_centre(challenge: str) -> float:
    """How far to move the sequence: toward where the turn takes the face (a turn to the person's
    left moves it to the image's right), so the face stays off centre through the challenge."""
    return (-1.0 if challenge == "turn_right" else 1.0) * 0.27 * SIZE[0]


def _other_face(seed: int = 11) -> np.ndarray:
    return make_selfie(seed, size=SIZE)


def _until_passed(a: SelfieAnalyser, frames: list[tuple[np.ndarray, float]]) -> tuple[int, float]:
    """Feeds frames (pressing the shutter on each) until liveness passed; its index and time."""
    for i, (f, t) in enumerate(frames):
        r = a(f, t, force=True)
        assert not isinstance(r, Captured), "the off-centre face must not be taken"
        if r.liveness == "passed":
            return i, t
    raise AssertionError("liveness did not pass on the live sequence")


@pytest.mark.parametrize("challenge", CHALLENGES)
def test_the_genuine_sequence_is_captured_on_a_frame_of_its_own(challenge: str) -> None:
    seq = make_sequence("live", challenge, 0, size=SIZE, fps=FPS)
    a = SelfieAnalyser(Challenge(challenge))
    for f, t in seq:
        r = a(f, t)
        if isinstance(r, Captured):
            break
    else:
        raise AssertionError("the live sequence was never captured")
    assert str(r.reading.verdict) == "passed" and r.measured.ok
    assert any(np.array_equal(r.image, f) for f, _t in seq) and a.restarts == 0


@pytest.mark.parametrize("challenge", CHALLENGES)
def test_another_face_shown_after_the_pass_is_never_taken(challenge: str) -> None:
    seq = make_sequence("live", challenge, 0, size=SIZE, fps=FPS)
    moved = [(_shift(f, _off_centre(challenge)), t) for f, t in seq]
    a = SelfieAnalyser(Challenge(challenge))
    _i, t_pass = _until_passed(a, moved)
    other = _other_face()
    # The person leaves; a photo of someone else, well placed and sharp, is held up, and the
    # shutter pressed, for two seconds.
    got = [a(other, t_pass + (k + 1) / FPS, force=True) for k in range(int(2 * FPS))]
    assert not any(isinstance(r, Captured) for r in got)
    assert a.restarts >= 1
    # The challenge starts again, plainly: nothing counts as passed for the new face.
    first = got[0]
    assert isinstance(first, Guidance) and first.liveness == "pending" and first.code == "liveness.hold_still"
    assert first.text == "Mire de frente a la cámara y no se mueva"
    assert all(isinstance(r, Guidance) and r.liveness != "passed" for r in got)


@pytest.mark.parametrize("challenge", CHALLENGES)
def test_a_face_seen_before_the_challenge_is_never_taken_with_the_shutter(challenge: str) -> None:
    """A good photo of someone else first (what the shutter once fell back to), then the person
    who passes off centre and leaves: no photo, of either."""
    other = _other_face(12)
    a = SelfieAnalyser(Challenge(challenge))
    for k in range(8):
        assert not isinstance(a(other, k / FPS, force=True), Captured)
    seq = make_sequence("live", challenge, 1, size=SIZE, fps=FPS)
    t0 = 8 / FPS
    moved = [(_shift(f, _off_centre(challenge)), t0 + t) for f, t in seq]
    passed = False
    for f, t in moved:
        r = a(f, t, force=True)
        assert not isinstance(r, Captured), "neither the other face nor an off-centre one is a selfie"
        passed |= r.liveness == "passed"
    assert passed   # the shutter was pressed after the pass too


def test_the_person_who_passed_and_then_centres_is_taken() -> None:
    """Binding does not block a genuine capture: after the pass the person moves to the centre in
    small steps (every frame's face overlapping the last one's), within the window."""
    challenge = "blink"
    seq = make_sequence("live", challenge, 0, size=SIZE, fps=FPS)
    dx = _off_centre(challenge)
    moved = [(_shift(f, dx), t) for f, t in seq]
    a = SelfieAnalyser(Challenge(challenge))
    i, t_pass = _until_passed(a, moved)
    still = seq.frames[i][0]
    steps = 8                                   # ~0.5 s, 0.27 frame widths: IoU ~0.8 per step
    taken = None
    for k in range(1, steps + 1):
        frame = _shift(still, dx * (1 - k / steps))
        r = a(frame, t_pass + k / FPS)
        if isinstance(r, Captured):
            taken = (k, r)
            break
    assert taken is not None and a.restarts == 0
    k, r = taken
    assert np.array_equal(r.image, _shift(still, dx * (1 - k / steps))) and r.measured.ok


def test_the_window_is_short_and_the_box_must_overlap() -> None:
    assert BIND_WINDOW_S <= 2.0 and BIND_IOU >= 0.5
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


def test_the_prompt_and_guidance_speak_to_the_citizen_in_both_languages() -> None:
    seq = make_sequence("live", "turn_left", 0, size=SIZE, fps=FPS)
    a = SelfieAnalyser(Challenge.TURN_LEFT)
    asked = next(r for f, t in seq if isinstance(r := a(f, t), Guidance) and r.prompt is not None)
    assert asked.register == "ciudadano"
    assert asked.challenge == "Gire lentamente la cabeza hacia su izquierda"
    i18n.set_language("en")
    try:
        assert asked.challenge == "Slowly turn your head to your left"
    finally:
        i18n.set_language("es")
