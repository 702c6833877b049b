"""The camera model and the fakes made through it (kiosk/testdata/fakes.py, camera_model.py)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from kiosk.testdata import fakes
from kiosk.testdata.camera_model import PREVIEW, STILL, render
from tests.helpers.capture2 import straighten

SEED = 31337
SMALL = (640, 480)     # a small full-field camera mode keeps the sequences cheap


def _grey(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = cv2.GaussianBlur(a, (0, 0), 2).ravel(), cv2.GaussianBlur(b, (0, 0), 2).ravel()
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def genuine_pair() -> list[fakes.Shot]:
    return fakes.make_shots("genuine", SEED, "front", ("preview", "still"))


def test_shots_are_frames_with_the_card_where_the_corners_say(genuine_pair):
    preview, still = genuine_pair
    for shot, size in ((preview, PREVIEW), (still, STILL)):
        assert shot.frame.dtype == np.uint8 and shot.frame.shape == (size[1], size[0], 3)
        assert shot.corners.shape == (4, 2) and shot.corners.dtype == np.float32
        assert (shot.corners >= 0).all()
        assert (shot.corners[:, 0] < size[0]).all() and (shot.corners[:, 1] < size[1]).all()
        assert shot.kind == "genuine" and shot.params["light"]["cct"] > 0
        # Straightened by its corners, the frame is the card: it matches the card art, and a
        # crop shifted by a tenth of the card does not.
        art = _grey(fakes.card_art(SEED)[0])
        assert _ncc(_grey(straighten(shot.frame, shot.corners)), art) > 0.6
        shifted = shot.corners + (shot.corners[1] - shot.corners[0]) * 0.1
        assert _ncc(_grey(straighten(shot.frame, shifted)), art) < 0.5


def test_a_still_has_more_pixels_per_mm_than_a_preview(genuine_pair):
    preview, still = genuine_pair
    assert 7.0 <= preview.px_per_mm <= 12.0
    assert still.px_per_mm > 2.5 * preview.px_per_mm
    side = float(np.linalg.norm(still.corners[1] - still.corners[0]))
    assert side / 85.6 == pytest.approx(still.px_per_mm, rel=0.15)


def test_same_seed_same_frame_other_seed_other_frame():
    a = fakes.make_fake("print_inkjet", SEED, "back", SMALL)
    b = fakes.make_fake("print_inkjet", SEED, "back", SMALL)
    c = fakes.make_fake("print_inkjet", SEED + 1, "back", SMALL)
    assert np.array_equal(a.frame, b.frame) and np.array_equal(a.corners, b.corners)
    assert not np.array_equal(a.frame, c.frame)


def _chroma(rgb: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    return np.hypot(lab[..., 1] - 128, lab[..., 2] - 128)


def test_a_grey_copy_is_grey_on_paper_but_not_in_a_warm_photograph():
    scene = fakes.make_scene("photocopy_grey", SEED, "front")
    fine = scene.sheet.fine
    assert fine is not None
    srgb = (np.clip(cv2.resize(fine, (512, 323), interpolation=cv2.INTER_AREA), 0, 1) ** (1 / 2.2) * 255)
    sheet_chroma = _chroma(srgb.astype(np.uint8))
    assert sheet_chroma.max() < 5           # toner is neutral; the paper's tint is all the colour
    light = replace(scene.light, cct=2700.0, tint=0.0, mix=0.0)
    sensor = replace(scene.sensor, awb_adapt=0.3, awb_err=(0.0, 0.0))
    shot = render(replace(scene, light=light, sensor=sensor), "preview")
    crop = cv2.resize(straighten(shot.frame, shot.corners), (256, 161), interpolation=cv2.INTER_AREA)
    assert float(np.median(_chroma(crop))) > float(np.median(sheet_chroma)) + 4


@pytest.mark.parametrize("kind", ["screen_phone", "screen_monitor"])
def test_a_screen_sheet_carries_its_subpixel_grid(kind):
    sheet = fakes.build_sheet(kind, SEED)
    pitch = sheet.params["pitch_mm"]
    assert sheet.emitter is not None
    # Sample 64 pixels of the screen at 16 points per pixel, with a negligible footprint.
    n = 64 * 16
    centre = sheet.card_mm.mean(axis=0)
    steps = (np.arange(n, dtype=np.float32) + 0.5) / 16 * pitch
    v, u = np.meshgrid(centre[1] + steps[:64], centre[0] + steps, indexing="ij")
    em = sheet.emitter(u.astype(np.float32), v.astype(np.float32), pitch * 0.02)
    spec = np.abs(np.fft.rfft(em - em.mean(axis=1, keepdims=True), axis=1)).sum(axis=(0, 2))
    period = 64 if sheet.params["layout"] == "stripe" else 32   # pentile repeats every 2 pixels
    peak = int(np.argmax(spec[8:]) + 8)
    assert peak % period == 0, (peak, period)
    assert spec[peak] > 10 * np.median(spec[8:])
    # The colours sit side by side, not on top of each other.
    assert float(np.corrcoef(em[..., 0].ravel(), em[..., 1].ravel())[0, 1]) < 0.3


def _highlights(shots: list[fakes.Shot]) -> tuple[float, float]:
    """(brightest excess over the clip's per-pixel median, travel of its centroid in px) on
    straightened, brightness-normalised frames."""
    lum = np.stack([cv2.GaussianBlur(_grey(cv2.resize(straighten(s.frame, s.corners), (256, 161))), (0, 0), 2)
                    for s in shots]).astype(np.float32)
    lum = lum / np.median(lum, axis=(1, 2), keepdims=True)
    excess = lum - np.median(lum, axis=0)
    cents = []
    for e in excess:
        thr = np.percentile(e, 99)
        ys, xs = np.nonzero(e >= thr)
        cents.append((xs.mean(), ys.mean()))
    c = np.array(cents)
    return float(excess.max()), float(np.linalg.norm(c.max(axis=0) - c.min(axis=0)))


def test_tilting_moves_the_laminate_glare_and_paper_has_none():
    gen = fakes.tilt_sequence("genuine", SEED, n_frames=6, fps=15, resolution=SMALL, glare=True)
    pap = fakes.tilt_sequence("photocopy_grey", SEED, n_frames=6, fps=15, resolution=SMALL, glare=True)
    assert len(gen) == 6 and gen[1].t == pytest.approx(1 / 15)
    assert not np.allclose(gen[0].pose.r, gen[-1].pose.r)
    g_peak, g_travel = _highlights(gen)
    p_peak, _ = _highlights(pap)
    assert g_peak > 0.25 and g_travel > 15
    assert p_peak < 0.12
    assert g_peak > 3 * p_peak
