"""Webcam backend for real on OpenCV VideoCapture, with a video file as the "webcam".

Unplugging is a rename of the file: OpenCV keeps reading the open file to
its end, then reads fail like an unplugged camera's, the worker reopens with
backoff (failing while the file is gone), and the stream resumes once it is
put back."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from hardware.camera import Camera, CameraError, CameraState, open_camera
from hardware.camera.webcam import WebcamBackend
from tests.helpers.camera import FAST, wait_for_no_camera, wait_until


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """10 frames, 320x240, at 60 fps: red with a white bar as long as the frame number."""
    path = tmp_path / "webcam.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 60, (320, 240))
    assert writer.isOpened()
    for i in range(10):
        rgb = np.zeros((240, 320, 3), np.uint8)
        rgb[..., 0] = 210
        rgb[:16, : 30 * (i + 1)] = 255
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_streams_rgb_and_reports_the_granted_size(video: Path) -> None:
    cam = open_camera(f"webcam:{video}", preview_size=(1280, 720), backoff=FAST)
    with cam:
        first = cam.latest_frame(5)
        nxt = cam.latest_frame(5, newer_than=first.index)
        still = cam.capture_still(5)
        info = cam.info
    assert info is not None
    assert info.backend == "webcam" and info.device == f"webcam:{video}"
    assert info.requested_size == (1280, 720)
    assert info.preview_size == (320, 240) == info.still_size  # what it really gives
    assert info.fps == pytest.approx(60, rel=0.01)
    assert first.size == (320, 240) and nxt.index > first.index
    r, g, b = (int(v) for v in first.image[120, 160])
    assert r > 190 and g < 20 and b < 20  # red stays red: BGR was converted
    assert still.size == (320, 240) and still.index > first.index


def test_paced_at_the_file_rate(video: Path) -> None:
    with Camera(WebcamBackend(str(video)), backoff=FAST) as cam:
        a = cam.latest_frame(5)
        b = cam.latest_frame(5, newer_than=a.index + 5)
    rate = (b.index - a.index) / (b.timestamp - a.timestamp)
    assert rate < 75, rate


def test_unplug_gives_a_spanish_error_and_replug_recovers(video: Path) -> None:
    errors: list[str] = []
    cam = Camera(WebcamBackend(str(video)), backoff=FAST)
    cam.start()
    try:
        before = cam.latest_frame(5)
        gone = video.with_name("unplugged.avi")
        video.rename(gone)  # unplug
        wait_until(lambda: cam.status().state is CameraState.ERROR)
        st = cam.status()
        assert st.error is not None
        errors.append(st.error.code)
        assert st.error.code in ("disconnected", "no_camera")
        assert "cámara" in st.error.message
        # While it is unplugged: the error comes back at once, never a frozen call.
        t0 = time.monotonic()
        with pytest.raises(CameraError) as exc:
            cam.latest_frame(3)
        assert time.monotonic() - t0 < 1.0
        assert exc.value.message
        wait_until(lambda: (cam.status().error or CameraError("x")).code == "no_camera")
        wait_until(lambda: cam.status().retries >= 3)  # retrying with backoff
        assert cam.status().message is not None and "No se encontró la cámara" in cam.status().message
        gone.rename(video)  # plug back
        after = cam.latest_frame(5, fail_fast=False)
        assert after.index > before.index
        assert cam.status().state is CameraState.RUNNING and cam.status().error is None
    finally:
        cam.stop()


def test_no_camera_at_an_index() -> None:
    cam = Camera(WebcamBackend(57), backoff=FAST)
    cam.start()
    try:
        wait_for_no_camera(cam)
        with pytest.raises(CameraError):
            cam.capture_still(1)
    finally:
        cam.stop()


def test_no_camera_at_a_path(tmp_path: Path) -> None:
    backend = WebcamBackend(str(tmp_path / "video77"))
    with pytest.raises(CameraError) as exc:
        backend.open()
    assert exc.value.code == "no_camera" and "video77" in exc.value.message


def test_a_file_that_is_no_video(tmp_path: Path) -> None:
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(CameraError) as exc:
        WebcamBackend(str(junk)).open()
    assert exc.value.code in ("no_camera", "busy")
    assert exc.value.message
