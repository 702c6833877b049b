"""Pi camera backend against the fake picamera2 (tests/fake_picamera2).

The fake has upstream's names and signatures, so a renamed call or keyword
fails here; its simulated sensors let us unplug, hold or freeze a camera."""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from hardware.camera import Camera, CameraError, CameraState, open_camera
from hardware.camera.pi import PiCameraBackend, to_rgb
from tests.helpers.camera import FAST, wait_for_error, wait_for_no_camera, wait_until

FAKE = Path(__file__).resolve().parents[1] / "fake_picamera2"


@pytest.fixture
def hw(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The fake's simulated hardware, with picamera2/libcamera importable for this test only."""
    monkeypatch.syspath_prepend(str(FAKE))
    from picamera2 import fake_hw

    fake_hw.reset()
    yield fake_hw
    fake_hw.reset()
    for name in [m for m in sys.modules if m.split(".")[0] in ("picamera2", "libcamera")]:
        del sys.modules[name]


def small_sensor(hw: ModuleType, **kw) -> object:
    """A Camera Module 3 with a smaller sensor so full-res stills stay cheap in tests."""
    kw.setdefault("sensor_resolution", (2304, 1296))
    return hw.attach(hw.SimCamera(**kw))


def pi_camera(**kw) -> Camera:
    return Camera(PiCameraBackend(**kw), backoff=FAST, read_timeout=0.3, stall_timeout=1.0)


# Upstream signatures (raspberrypi/picamera2, picamera2/picamera2.py) of every
# call the backend makes; the fake must match them, so the backend does too.
UPSTREAM = {
    "__init__": "(self, camera_num=0, verbose_console=None, tuning=None, allocator=None)",
    "configure": "(self, camera_config=None) -> None",
    "start": "(self, config=None, show_preview=False) -> None",
    "stop": "(self) -> None",
    "close": "(self) -> None",
    "set_controls": "(self, controls) -> None",
    "stream_configuration": "(self, name='main') -> dict",
    "capture_array": "(self, name='main', wait=None, signal_function=None)",
    "capture_arrays": "(self, names=['main'], wait=None, signal_function=None)",
    "switch_mode_and_capture_array": (
        "(self, camera_config, name='main', wait=None, signal_function=None, delay=0)"
    ),
    "switch_mode_and_capture_arrays": (
        "(self, camera_config, names=['main'], wait=None, signal_function=None, delay=0)"
    ),
    "autofocus_cycle": "(self, wait=None, signal_function=None)",
    "cancel_all_and_flush": "(self) -> None",
    "global_camera_info": "() -> list",
}
CONFIG_PARAMS = [
    "self", "main", "lores", "raw", "transform", "colour_space", "buffer_count", "controls",
    "display", "encode", "queue", "sensor", "use_case",
]


def test_fake_matches_upstream_signatures(hw: ModuleType) -> None:
    from picamera2 import Picamera2

    for name, sig in UPSTREAM.items():
        assert str(inspect.signature(getattr(Picamera2, name))) == sig, name
    for kind in ("preview", "still", "video"):
        params = inspect.signature(getattr(Picamera2, f"create_{kind}_configuration")).parameters
        assert list(params) == CONFIG_PARAMS
    assert isinstance(inspect.getattr_static(Picamera2, "camera_controls"), property)
    assert isinstance(inspect.getattr_static(Picamera2, "global_camera_info"), staticmethod)


def test_rgb888_is_bgr_in_memory_and_comes_out_rgb(hw: ModuleType) -> None:
    bgr = hw.render((64, 32), "RGB888")
    assert tuple(bgr[0, 0]) == (0, 0, 255)  # the fake follows the manual: red scene, [B, G, R]
    rgb = to_rgb(bgr, "RGB888")
    assert tuple(rgb[0, 0]) == (255, 0, 0) and tuple(rgb[0, -1]) == (0, 0, 255)
    for fmt in ("BGR888", "XRGB8888", "XBGR8888"):
        assert np.array_equal(to_rgb(hw.render((64, 32), fmt), fmt), hw.scene((64, 32))), fmt
    assert tuple(to_rgb(bgr, "RGB888", swap_red_blue=True)[0, 0]) == (0, 0, 255)
    with pytest.raises(CameraError):
        to_rgb(hw.render((64, 32), "YUV420"), "YUV420")


def test_preview_stream_still_and_autofocus(hw: ModuleType) -> None:
    sim = small_sensor(hw)
    with pi_camera() as cam:
        frame = cam.latest_frame(5)
        still = cam.capture_still(5)
        after = cam.latest_frame(5, newer_than=still.index)
        focused = cam.focus(5)
        info = cam.info
    # Live view: RGB888 at 1280x720 from a preview configuration, continuous AF.
    preview, still_cfg = sim.configs[0], sim.configs[1]
    assert preview["use_case"] == "preview" and preview["main"]["format"] == "RGB888"
    assert preview["main"]["size"] == (1280, 720)
    assert preview["controls"] == {"AfMode": 2}  # AfModeEnum.Continuous
    assert still_cfg["use_case"] == "still" and still_cfg["main"]["size"] == (2304, 1296)
    assert still_cfg["controls"] == {"AfMode": 2}
    assert frame.size == (1280, 720) and tuple(frame.image[10, 10]) == (255, 0, 0)
    assert tuple(frame.image[10, 1279]) == (0, 0, 255)
    assert frame.meta["AfState"] is not None and "Lux" in frame.meta
    # Capture: full sensor resolution, then back to the live view.
    assert still.size == (2304, 1296) and tuple(still.image[0, 0]) == (255, 0, 0)
    assert after.size == (1280, 720)
    # Focus trigger ran a cycle and went back to continuous.
    assert focused is True
    assert sim.applied_controls["AfMode"] == 2
    assert info is not None and info.backend == "pi" and info.name == "imx708"
    assert info.autofocus and info.still_size == (2304, 1296) and info.preview_size == (1280, 720)
    assert sim.opened_by is None  # closed on stop


def test_focus_failure_is_reported(hw: ModuleType) -> None:
    small_sensor(hw, af_succeeds=False)
    with pi_camera() as cam:
        cam.latest_frame(5)
        assert cam.focus(5) is False


def test_module_without_autofocus(hw: ModuleType) -> None:
    sim = small_sensor(hw, model="imx219", autofocus=False, sensor_resolution=(3280, 2464))
    with pi_camera() as cam:
        cam.latest_frame(5)
        assert cam.focus(1) is False
        info = cam.info
    assert info is not None and not info.autofocus and info.name == "imx219"
    assert sim.configs[0]["controls"] == {}  # AfMode would be rejected by this sensor
    assert "AfMode" not in sim.applied_controls


def test_no_camera_then_one_is_connected(hw: ModuleType) -> None:
    cam = pi_camera()
    cam.start()
    try:
        wait_for_no_camera(cam)
        with pytest.raises(CameraError):
            cam.latest_frame(1)
        small_sensor(hw)
        assert cam.latest_frame(5, fail_fast=False).size == (1280, 720)
    finally:
        cam.stop()


def test_busy_camera_then_released(hw: ModuleType) -> None:
    sim = small_sensor(hw, held_elsewhere=True)
    cam = pi_camera()
    cam.start()
    try:
        err = wait_for_error(cam)
        assert err.code == "busy" and "ocupada" in err.message
        sim.held_elsewhere = False
        cam.latest_frame(5, fail_fast=False)
    finally:
        cam.stop()


def test_camera_that_stops_delivering_is_reopened(hw: ModuleType) -> None:
    sim = small_sensor(hw)
    cam = pi_camera()
    cam.start()
    try:
        before = cam.latest_frame(5)
        sim.delivering = False
        err = wait_for_error(cam)
        assert err.code == "stalled" and "dejó de enviar imagen" in err.message
        t0 = time.monotonic()
        with pytest.raises(CameraError):
            cam.capture_still(3)  # no frozen capture either
        assert time.monotonic() - t0 < 1.0
        opens = sim.opens
        wait_until(lambda: sim.opens > opens)  # closed and reopened (it was released, or this fails)
        sim.delivering = True
        after = cam.latest_frame(5, fail_fast=False)
        assert after.index > before.index and cam.status().state is CameraState.RUNNING
    finally:
        cam.stop()
    assert sim.opened_by is None


def test_auto_prefers_the_pi_camera(hw: ModuleType) -> None:
    assert not isinstance(open_camera("auto").backend, PiCameraBackend)  # none attached
    small_sensor(hw)
    cam = open_camera("auto")
    assert isinstance(cam.backend, PiCameraBackend) and cam.backend.preview_size == (1280, 720)


def test_without_picamera2_the_backend_says_so() -> None:
    assert "picamera2" not in sys.modules
    with pytest.raises(CameraError) as exc:
        PiCameraBackend().open()
    assert exc.value.code == "unavailable" and "python3-picamera2" in exc.value.message
