"""Replay camera, for real: a folder of images and a video file, looping at a set rate."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from hardware.camera import Camera, CameraError, CameraState, open_camera
from hardware.camera.replay import ReplayBackend
from tests.helpers.camera import FAST, wait_until


def rgb_frame(i: int, size: tuple[int, int] = (160, 90)) -> np.ndarray:
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = 200  # red
    img[..., 1] = 20 * i  # green encodes the frame number
    return img


def write_images(d: Path, n: int, size: tuple[int, int] = (160, 90)) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(d / f"img_{i:03d}.png"), cv2.cvtColor(rgb_frame(i, size), cv2.COLOR_RGB2BGR))
    return d


def write_video(path: Path, n: int, size: tuple[int, int] = (160, 96), fps: float = 30) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(n):
        writer.write(cv2.cvtColor(rgb_frame(i, size), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_folder_plays_in_name_order_loops_and_gives_rgb(tmp_path: Path) -> None:
    d = write_images(tmp_path / "imgs", 3)
    (d / "notes.txt").write_text("not an image")
    with Camera(ReplayBackend(d, fps=200), backoff=FAST) as cam:
        frames = []
        last = -1
        while len(frames) < 7:
            f = cam.latest_frame(5, newer_than=last)
            last = f.index
            frames.append(f)
        info = cam.info
    positions = [f.meta["position"] for f in frames]
    # Consecutive frames are consecutive images (mod 3) unless the reader skipped one.
    assert set(positions) <= {0, 1, 2}
    for f in frames:
        r, g, b = (int(v) for v in f.image[5, 5])
        assert r == 200 and b == 0 and g == 20 * f.meta["position"]
        assert Path(f.meta["source"]).name == f"img_{f.meta['position']:03d}.png"
    assert any(f.meta["loop"] >= 1 for f in frames)
    assert info is not None and info.backend == "replay" and info.extra == {"kind": "images", "frames": 3}
    assert info.preview_size == (160, 90)


def test_named_scenes_play_when_selected(tmp_path: Path) -> None:
    """A folder of scenes: all of them in name order until one is selected, then that one in a
    loop from its start; an unknown scene changes nothing, and a real camera has none."""
    root = tmp_path / "scenes"
    write_images(root / "back", 2)
    write_images(root / "selfie-blink", 3)

    def sources(cam: Camera, n: int) -> list[str]:
        out, last = [], -1
        while len(out) < n:
            f = cam.latest_frame(5, newer_than=last)
            last = f.index
            out.append(Path(f.meta["source"]).parent.name)
        return out

    with Camera(ReplayBackend(root, fps=200), backoff=FAST) as cam:
        cam.latest_frame(5)  # opened
        assert cam.info is not None and cam.info.extra["scenes"] == ["back", "selfie-blink"]
        assert set(sources(cam, 12)) == {"back", "selfie-blink"}
        assert cam.select_scene("selfie-blink") is True
        seen = sources(cam, 8)
        assert set(seen[2:]) == {"selfie-blink"}  # a frame or two already read may come first
        assert cam.select_scene("selfie-turn_left") is False
        assert set(sources(cam, 6)) == {"selfie-blink"}
        assert cam.select_scene("back") is True
        assert set(sources(cam, 8)[2:]) == {"back"}
    video = write_video(tmp_path / "clip.avi", 3)
    with Camera(ReplayBackend(video, fps=200), backoff=FAST) as cam:
        cam.latest_frame(5)
        assert cam.select_scene("back") is False


def test_frame_rate_is_the_one_asked_for(tmp_path: Path) -> None:
    d = write_images(tmp_path / "imgs", 2)
    with Camera(ReplayBackend(d, fps=40), backoff=FAST) as cam:
        start = cam.latest_frame(5)
        end = cam.latest_frame(5, newer_than=start.index + 19)
    rate = (end.index - start.index) / (end.timestamp - start.timestamp)
    assert 25 < rate < 50, rate


def test_video_file_loops(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", 5)
    with Camera(ReplayBackend(video, fps=300), backoff=FAST) as cam:
        f = cam.latest_frame(5)
        looped = f
        while looped.meta["loop"] < 2:
            looped = cam.latest_frame(5, newer_than=looped.index)
        assert cam.status().state is CameraState.RUNNING
        assert cam.info is not None and cam.info.extra["kind"] == "video"
    assert f.size == (160, 96)
    # MJPEG is lossy: colours are close, not exact.
    r, g, b = (int(v) for v in looped.image[40, 40])
    assert abs(r - 200) < 12 and b < 12 and abs(g - 20 * looped.meta["position"]) < 12


def test_preview_is_scaled_and_still_is_full_resolution(tmp_path: Path) -> None:
    d = write_images(tmp_path / "big", 2, size=(1920, 1080))
    cam = open_camera(f"replay:{d}@60", preview_size=(640, 480), backoff=FAST)
    assert isinstance(cam.backend, ReplayBackend)
    with cam:
        live = cam.latest_frame(5)
        still = cam.capture_still(5)
        info = cam.info
    assert live.size == (640, 360)
    assert still.size == (1920, 1080)
    assert info is not None and info.still_size == (1920, 1080) and info.preview_size == (640, 360)
    assert still.meta["source"].endswith(".png")
    assert not still.image.flags.writeable


def test_missing_source_is_a_spanish_error_then_recovers(tmp_path: Path) -> None:
    d = tmp_path / "later"
    cam = Camera(ReplayBackend(d, fps=100), backoff=FAST)
    cam.start()
    try:
        wait_until(lambda: cam.status().state is CameraState.ERROR)
        st = cam.status()
        assert st.error is not None and st.error.code == "source"
        assert "No se encontraron imágenes" in st.error.message
        with pytest.raises(CameraError) as exc:
            cam.latest_frame(2)  # fails fast while in error
        assert exc.value.code == "source"
        wait_until(lambda: cam.status().retries >= 2)  # it keeps retrying on its own
        write_images(tmp_path / "staging", 2)
        shutil.move(tmp_path / "staging", d)
        f = cam.latest_frame(5, fail_fast=False)
        assert f.meta["position"] in (0, 1)
        assert cam.status().state is CameraState.RUNNING and cam.status().error is None
    finally:
        cam.stop()


def test_folder_with_no_readable_image(tmp_path: Path) -> None:
    d = tmp_path / "junk"
    d.mkdir()
    (d / "broken.png").write_bytes(b"not a png")
    backend = ReplayBackend(d)
    with pytest.raises(CameraError) as exc:
        backend.open()
    assert exc.value.code == "source"
