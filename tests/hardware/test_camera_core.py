"""The camera interface itself: specs, outputs, latest-frame semantics, errors.

Runs on the real replay backend (no hardware needed)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from hardware.camera import (
    CallbackOutput,
    Camera,
    CameraError,
    CameraSpec,
    CameraState,
    FrameOutput,
    ThreadedOutput,
    open_camera,
    parse_spec,
)
from hardware.camera.replay import ReplayBackend
from hardware.camera.webcam import WebcamBackend
from tests.helpers.camera import FAST, wait_until


@pytest.fixture
def frames_dir(tmp_path: Path) -> Path:
    d = tmp_path / "frames"
    d.mkdir()
    for i in range(4):
        img = np.zeros((90, 160, 3), np.uint8)
        img[..., 2] = 40 * i  # blue level tells the frames apart (BGR on disk)
        cv2.imwrite(str(d / f"{i:02d}.png"), img)
    return d


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", CameraSpec("auto")),
        ("pi", CameraSpec("pi", index=0)),
        ("pi:1", CameraSpec("pi", index=1)),
        ("webcam", CameraSpec("webcam", index=0)),
        ("webcam:2", CameraSpec("webcam", index=2)),
        ("webcam:/dev/video2", CameraSpec("webcam", path="/dev/video2")),
        ("replay:/data/cards", CameraSpec("replay", path="/data/cards")),
        ("replay:/data/cards@7.5", CameraSpec("replay", path="/data/cards", fps=7.5)),
        ("replay:/data/a@b/clip.mp4", CameraSpec("replay", path="/data/a@b/clip.mp4")),
    ],
)
def test_parse_spec(text: str, expected: CameraSpec) -> None:
    assert parse_spec(text) == expected


@pytest.mark.parametrize("text", ["", "usb:0", "pi:x", "replay:", "replay:/d@0", "auto:1"])
def test_bad_spec_is_a_spanish_error(text: str) -> None:
    with pytest.raises(CameraError) as exc:
        parse_spec(text)
    assert exc.value.code == "bad_spec"
    assert "no es válida" in exc.value.message


def test_open_camera_picks_backends(frames_dir: Path) -> None:
    assert isinstance(open_camera(f"replay:{frames_dir}@5").backend, ReplayBackend)
    assert isinstance(open_camera("webcam:/dev/video9").backend, WebcamBackend)
    # picamera2 is not installed here, so auto falls back to webcam 0.
    auto = open_camera("auto").backend
    assert isinstance(auto, WebcamBackend) and auto.device == 0


def test_frames_are_read_only_rgb_and_numbered(frames_dir: Path) -> None:
    with Camera(ReplayBackend(frames_dir, fps=100), backoff=FAST) as cam:
        first = cam.latest_frame(timeout=5)
        second = cam.latest_frame(timeout=5, newer_than=first.index)
    assert second.index > first.index
    assert first.image.dtype == np.uint8 and first.image.shape == (90, 160, 3)
    assert first.size == (160, 90)
    assert not first.image.flags.writeable
    # Written as BGR with only the last (red) channel set: RGB puts it first.
    assert first.image[..., 1:].max() == 0
    assert int(first.image[0, 0, 0]) in (0, 40, 80, 120)


def test_slow_consumer_gets_the_newest_frame_and_nothing_queues(frames_dir: Path) -> None:
    seen: list[int] = []
    release = threading.Event()

    def slow(frame) -> None:
        seen.append(frame.index)
        release.wait(5)

    cam = Camera(ReplayBackend(frames_dir, fps=200), backoff=FAST)
    out = cam.add_output(ThreadedOutput(slow))
    assert isinstance(out, ThreadedOutput)
    fast_seen: list[int] = []
    cam.add_output(CallbackOutput(lambda f: fast_seen.append(f.index)))
    cam.start()
    try:
        wait_until(lambda: len(seen) == 1)  # the consumer is now stuck on frame 1
        wait_until(lambda: len(fast_seen) >= 20)  # while the camera keeps going
        release.set()
        wait_until(lambda: len(seen) >= 2)
        newest_when_freed = fast_seen[-1]
        # The second frame it got was a recent one, not frame 2 from a backlog.
        assert seen[1] >= newest_when_freed - 3
        assert out.dropped >= 15
    finally:
        cam.stop()
        out.close()


def test_a_broken_output_does_not_stop_the_camera(frames_dir: Path) -> None:
    class Broken(FrameOutput):
        def output_frame(self, frame) -> None:
            raise RuntimeError("boom")

    with Camera(ReplayBackend(frames_dir, fps=100), backoff=FAST) as cam:
        cam.add_output(Broken())
        f = cam.latest_frame(5)
        assert cam.latest_frame(5, newer_than=f.index + 3).index > f.index + 3


def test_status_reaches_outputs_and_stop_is_clean(frames_dir: Path) -> None:
    states: list[CameraState] = []
    cam = Camera(ReplayBackend(frames_dir, fps=50), backoff=FAST)
    cam.add_output(CallbackOutput(lambda f: None, lambda st: states.append(st.state)))
    cam.start()
    cam.latest_frame(5)
    cam.stop()
    assert states[0] is CameraState.STOPPED  # told on add_output
    assert CameraState.STARTING in states and CameraState.RUNNING in states
    assert states[-1] is CameraState.STOPPED
    assert not cam.running
    with pytest.raises(CameraError) as exc:
        cam.latest_frame(0.5)
    assert exc.value.code == "stopped"
    assert cam.status().message == "La cámara está apagada."
    with pytest.raises(CameraError):
        cam.capture_still(1)


def test_restart_after_stop(frames_dir: Path) -> None:
    cam = Camera(ReplayBackend(frames_dir, fps=50), backoff=FAST)
    cam.start()
    a = cam.latest_frame(5)
    cam.stop()
    cam.start()
    b = cam.latest_frame(5)  # the pre-stop frame is stale, never returned again
    cam.stop()
    assert b.index > a.index


def test_latest_frame_never_blocks_past_its_timeout(tmp_path: Path) -> None:
    cam = Camera(ReplayBackend(tmp_path / "nothing-here", fps=10), backoff=FAST)
    cam.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(CameraError):
            cam.latest_frame(timeout=0.3, fail_fast=False)
        assert time.monotonic() - t0 < 1.0
    finally:
        cam.stop()
