"""Selfie quality and the liveness challenge, on synthetic sequences (a photo rendered as a 3-D
head for the live ones, the still photo for the attacks).

These sequences test the checker's decision logic, not real-world liveness
(docs/liveness.md describes the webcam procedure). Full counts: bench/bench_liveness.py.
"""

from __future__ import annotations

import collections

import cv2
import numpy as np
import pytest

from kiosk.vision.liveness import (
    FACE_CHANGED,
    PROMPTS,
    Challenge,
    Likeness,
    LivenessChecker,
    LivenessConfig,
    Verdict,
    assess_selfie,
    choose_challenge,
    run_challenge,
)
from kiosk.vision.liveness_measures import RIGID, face_texture, shape_residual, texture_similarity
from tests.helpers.capture2 import astronaut, make_sequence

CHALLENGES = [c.value for c in Challenge]


def _frame(scale=0.22, cx=0.5, cy=0.5, gain=1.0, blur=0.0, size=(1280, 720)):
    """The astronaut with her face (95 px wide in the photo) `scale` frame widths wide at (cx, cy)."""
    w, h = size
    src = astronaut()
    s = scale * w / 95.0
    m = np.float32([[s, 0, cx * w - 224.5 * s], [0, s, cy * h - 113.5 * s]])
    img = cv2.warpAffine(src, m, (w, h), borderValue=(120, 120, 120)).astype(np.float32) * gain
    if blur:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_good_selfie_passes():
    q = assess_selfie(_frame())
    assert q.ok, q.codes
    assert q.n_faces == 1 and q.face is not None


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"scale": 0.08}, "selfie.small"),
    ({"cx": 0.2}, "selfie.center"),
    ({"gain": 0.3}, "selfie.dark"),
    ({"blur": 4.0}, "selfie.blurred"),
])
def test_selfie_reasons(kwargs, code):
    q = assess_selfie(_frame(**kwargs))
    assert not q.ok
    assert code in q.codes, q.codes


def test_no_face_and_two_faces():
    assert assess_selfie(np.full((720, 1280, 3), 128, np.uint8)).codes == ("selfie.no_face",)
    two = np.hstack([_frame(scale=0.35, size=(640, 720)), _frame(scale=0.35, size=(640, 720))])
    q = assess_selfie(two)
    assert not q.ok and q.n_faces == 2 and "selfie.many_faces" in q.codes


def test_the_codes_read_in_both_languages_and_registers():
    """Vision hands up codes; the kiosk's catalogues hold what they say, to the auxiliary and,
    on the selfie screen, to the citizen ("usted")."""
    from kiosk import i18n
    from kiosk.i18n import Msg

    small = Msg(assess_selfie(_frame(scale=0.08)).codes[0])
    assert i18n.render(small, "ciudadano") == "Acérquese a la cámara: el rostro se ve muy pequeño"
    assert i18n.render(small) == "Pida a la persona que se acerque a la cámara: el rostro se ve muy pequeño"
    assert i18n.render(small, "ciudadano", "en") == "Come closer: the face is too small"
    prompt = Msg(PROMPTS[Challenge.TURN_LEFT])
    assert i18n.render(prompt, "ciudadano") == "Gire lentamente la cabeza hacia su izquierda"
    assert i18n.render(prompt, "ciudadano", "en") == "Slowly turn your head to your left"


def test_choose_challenge_is_random_and_covers_all():
    seen = collections.Counter(choose_challenge() for _ in range(200))
    assert set(seen) == set(Challenge)


@pytest.mark.parametrize("challenge", CHALLENGES)
def test_live_sequences_pass(challenge):
    seqs = [make_sequence("live", challenge, seed, fps=10, seconds=3.5) for seed in range(3)]
    passed = [run_challenge(s, Challenge(challenge)).verdict == Verdict.PASSED for s in seqs]
    assert sum(passed) >= 2, passed


@pytest.mark.parametrize("challenge", CHALLENGES)
@pytest.mark.parametrize("kind", ["static", "moved", "tilted", "pitched"])
def test_photo_attacks_fail(challenge, kind):
    for seed in range(1):
        st = run_challenge(make_sequence(kind, challenge, seed, fps=10, seconds=3.5), Challenge(challenge))
        assert st.verdict == Verdict.FAILED, (kind, challenge, seed)


def test_wrong_action_fails():
    st = run_challenge(make_sequence("wrong_action", "blink", 0, fps=10, seconds=3.5), Challenge.BLINK)
    assert st.verdict == Verdict.FAILED


def test_checker_is_stateful_and_final():
    seq = make_sequence("live", "blink", 1, fps=10, seconds=3.5)
    c = LivenessChecker(Challenge.BLINK)
    states = [c.update(f, t) for f, t in seq]
    assert states[0].verdict == Verdict.PENDING and states[0].code == "liveness.hold_still"
    assert states[-1].verdict == Verdict.PASSED
    # Once decided, the verdict stays, whatever comes next.
    assert c.update(np.zeros((360, 640, 3), np.uint8), 99.0).verdict == Verdict.PASSED


def test_timeout_fails_with_its_reason():
    c = LivenessChecker(Challenge.TURN_LEFT)
    blank = np.zeros((360, 640, 3), np.uint8)
    c.update(blank, 0.0)
    st = c.update(blank, 9.0)
    assert st.verdict == Verdict.FAILED and st.code == "liveness.timeout"


# -- after the pass: is it still the person? ----------------------------------------------------------
def test_shape_residual_ignores_pose_and_size_but_not_shape():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 50, (len(RIGID), 3))
    a = np.deg2rad(30)
    rot = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    moved = 1.7 * base @ rot.T + [300, 200, 10]
    assert shape_residual(base, moved) < 1e-9
    other = moved + rng.normal(0, 5, moved.shape)
    assert shape_residual(base, other) > 0.01


def test_the_same_face_reads_alike_at_any_size_and_light_and_another_does_not():
    from kiosk.vision.landmarks import shared

    def texture(img):
        mesh, _n = shared().faces(img, eyes=False)
        assert mesh is not None
        return face_texture(img, mesh)

    near = texture(_frame(scale=0.3))
    far = texture(_frame(scale=0.15, cx=0.4, gain=0.8))
    mirrored = texture(np.ascontiguousarray(_frame(scale=0.3)[:, ::-1]))
    cfg = LivenessConfig()
    assert texture_similarity(near, far) > 0.95 > cfg.same_link
    assert texture_similarity(near, mirrored) < cfg.same_link


def test_likeness_needs_the_link_and_near_the_frontal_pose_the_face_learnt():
    cfg = LivenessConfig()
    assert Likeness(0.99, None, None).same(cfg)                    # turned: the link alone
    assert not Likeness(cfg.same_link - 0.01, None, None).same(cfg)
    assert not Likeness(0.99, cfg.same_base - 0.01, 0.0).same(cfg)
    assert not Likeness(0.99, 0.99, cfg.same_shape + 0.01).same(cfg)


def test_follow_keeps_the_person_and_refuses_another_face():
    seq = make_sequence("live", "blink", 0, fps=15, seconds=4)
    c = LivenessChecker(Challenge.BLINK)
    states = [c.update(f, t) for f, t in seq]
    assert states[-1].verdict == Verdict.PASSED
    f, t = seq.frames[-1]
    assert c.follow(c.observe(f, t + 0.07)) is None                  # the person, still there
    assert c.follow(c.observe(np.zeros_like(f), t + 0.13)) is None   # no face: nothing judged
    other = np.ascontiguousarray(f[:, ::-1])                         # another face, same place
    assert c.follow(c.observe(other, t + 0.2)) == FACE_CHANGED
    assert c.follow(c.observe(f, t + 0.27)) is None                  # the person again
