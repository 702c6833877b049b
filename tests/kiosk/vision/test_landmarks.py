"""Face landmarks and the liveness measures on them, with the real models (LiteRT, on the CPU).

The head renderer (kiosk.testdata.face_render) gives frames whose true pose and eyelids are
known; a flat photo turned in front of the camera is the attack the pose measure must see
through. Real-clip figures are in bench/bench_liveness_real.py, not here.
"""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from kiosk.testdata.face_render import astronaut_head, posed_points, render
from kiosk.testdata.selfies import _background, _place, astronaut, make_sequence
from kiosk.vision.landmarks import Landmarker, shared
from kiosk.vision.liveness import Challenge, LivenessChecker, LivenessConfig, Verdict
from kiosk.vision.liveness_measures import (
    eye_similarity,
    observe,
    relative_pose,
    rigid_points,
)


@pytest.fixture(scope="module")
def lm() -> Landmarker:
    return shared()


def _scene(tilt: float = 0.0, roll: float = 0.0, cx: float = 640) -> np.ndarray:
    bg = _background(random.Random(1), 1280, 720)
    return _place(astronaut(), bg, 3.5, cx, 330, roll, tilt)


def test_detects_one_face_none_and_two(lm):
    faces = lm.detect(_scene())
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 560 < x + w / 2 < 720 and 250 < y + h / 2 < 420 and 250 < w < 450
    assert lm.detect(np.full((720, 1280, 3), 128, np.uint8)) == []
    two = np.hstack([_scene(cx=320)[:, :640], _scene(cx=320)[:, :640]])
    mesh, n = lm.faces(two)
    assert n == 2 and mesh is not None


def test_a_small_face_behind_does_not_count(lm):
    """A poster or a passer-by far behind (under half the main face's width) is not a second
    person: it must not stop the liveness check."""
    frame = _scene()
    small = cv2.resize(frame[150:550, 440:840], (100, 100), interpolation=cv2.INTER_AREA)
    frame[20:120, 20:120] = small
    mesh, n = lm.faces(frame)
    assert mesh is not None and n == 1


def test_mesh_and_eyes_land_on_the_face(lm):
    frame = _scene()
    mesh, n = lm.faces(frame)
    assert n == 1 and mesh is not None and mesh.points.shape == (468, 3)
    face = lm.detect(frame)[0]
    # The eye corners lie inside the detected box, the right eye (image left) left of the left one.
    for i in (33, 133, 362, 263):
        x, y = mesh.points[i, :2]
        assert face.x0 < x < face.x1 and face.y0 < y < face.y1
    assert mesh.points[33, 0] < mesh.points[263, 0]
    assert mesh.eyes is not None and mesh.eye_patches is not None
    for contour, corners in zip(mesh.eyes, ((33, 133), (263, 362)), strict=True):
        # The eye model's corners agree with the mesh's to within a tenth of the eye's width.
        width = np.linalg.norm(mesh.points[corners[0], :2] - mesh.points[corners[1], :2])
        assert np.linalg.norm(contour[0] - mesh.points[corners[0], :2]) < 0.15 * width
        assert np.linalg.norm(contour[8] - mesh.points[corners[1], :2]) < 0.15 * width


@pytest.mark.parametrize("yaw", [-30, 30])
def test_rendered_turn_reads_as_yaw_with_its_sign(lm, yaw):
    head = astronaut_head()
    o0 = observe(render(head), 0.0, landmarker=lm)
    o = observe(render(head, yaw_deg=yaw), 0.0, o0.mesh, landmarker=lm)
    assert o0.mesh is not None and o.mesh is not None
    y, p, _ = relative_pose(rigid_points(o0.mesh), rigid_points(o.mesh))
    assert np.sign(y) == np.sign(yaw) and abs(y) > 15, (y, p)
    assert abs(p) < 8
    # The renderer's truth: positive yaw moves the nose toward the image's right.
    assert (posed_points(head, yaw_deg=yaw)[1, 0] - head.points[1, 0]) * yaw > 0


@pytest.mark.parametrize("tilt", [-40, 40])
def test_flat_photo_turned_stays_frontal(lm, tilt):
    """A photo turned about its vertical axis is foreshortened, not turned: its mesh keeps the
    frontal pose, so waving a photo cannot pass a turn."""
    o0 = observe(_scene(), 0.0, landmarker=lm)
    o = observe(_scene(tilt=tilt), 0.0, o0.mesh, landmarker=lm)
    assert o0.mesh is not None and o.mesh is not None
    y, _, _ = relative_pose(rigid_points(o0.mesh), rigid_points(o.mesh))
    assert abs(y) < 10, y


def test_closed_eyes_change_both_eye_measures(lm):
    head = astronaut_head()
    o0 = observe(render(head), 0.0, landmarker=lm)
    shut = observe(render(head, eyes_closed=1.0), 0.0, o0.mesh, landmarker=lm)
    again = observe(render(head), 0.0, o0.mesh, landmarker=lm)
    assert o0.ear and shut.ear and again.ear and o0.mesh and o0.mesh.eye_patches
    assert shut.ear / o0.ear < 0.6 and again.ear / o0.ear > 0.9
    look_shut = eye_similarity(shut, o0.mesh.eye_patches)
    look_open = eye_similarity(again, o0.mesh.eye_patches)
    assert look_shut is not None and look_open is not None and look_shut < 0.8 < look_open


def test_mirrored_preview_turns_the_other_way():
    seq = make_sequence("live", "turn_left", 2, fps=10, seconds=3.5)
    mirrored = [(np.ascontiguousarray(f[:, ::-1]), t) for f, t in seq]

    def run(frames, cfg):
        c = LivenessChecker(Challenge.TURN_LEFT, cfg)
        st = None
        for f, t in frames:
            st = c.update(f, t)
            if st.done:
                break
        return st.verdict if st else None

    assert run(seq.frames, LivenessConfig(fps=10)) == Verdict.PASSED
    assert run(mirrored, LivenessConfig(fps=10, mirrored=True)) == Verdict.PASSED
    assert run(mirrored, LivenessConfig(fps=10)) != Verdict.PASSED


def test_frame_counts_follow_the_camera_rate():
    assert LivenessConfig(fps=30).frames(0.3, 3) == 9
    assert LivenessConfig(fps=10).frames(0.3, 3) == 3
    assert LivenessConfig(fps=5).frames(0.3, 3) == 3
