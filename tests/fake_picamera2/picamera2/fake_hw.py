"""The simulated hardware behind the fake Picamera2 (not part of picamera2's API).

Tests call ``reset()``, then ``attach(SimCamera(...))``; they can stop a
sensor's frames (``cam.delivering = False``), hold it from "another process"
(``cam.held_elsewhere = True``) or unplug it (``detach(cam)``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

lock = threading.RLock()
cameras: list[SimCamera] = []

AF_CONTROLS = {
    "AfMode": (0, 2, 0),
    "AfTrigger": (0, 1, 0),
    "AfRange": (0, 2, 0),
    "AfSpeed": (0, 1, 0),
    "LensPosition": (0.0, 32.0, 1.0),
}
BASE_CONTROLS = {
    "AeEnable": (False, True, None),
    "AnalogueGain": (1.0, 16.0, None),
    "AwbEnable": (False, True, None),
    "ExposureTime": (1, 66666, 20000),
    "FrameDurationLimits": (33333, 120000, 33333),
    "NoiseReductionMode": (0, 4, 0),
    "ScalerCrop": ((0, 0, 64, 64), (0, 0, 4608, 2592), (0, 0, 4608, 2592)),
}

# The scene the sensor "sees", as true RGB: red, green and blue vertical bands.
SCENE_RGB = ((255, 0, 0), (0, 255, 0), (0, 0, 255))


@dataclass(eq=False)
class SimCamera:
    model: str = "imx708"  # Camera Module 3 (has autofocus)
    sensor_resolution: tuple[int, int] = (4608, 2592)
    autofocus: bool = True
    fps: float = 60.0
    location: int = 2
    rotation: int = 180
    id: str = "/base/soc/i2c0mux/i2c@1/imx708@1a"
    delivering: bool = True  # False: the sensor stops sending frames
    held_elsewhere: bool = False  # another process holds it
    af_succeeds: bool = True
    af_frames: int = 2  # frames an autofocus scan takes
    # What the tests can inspect afterwards:
    opened_by: object | None = None
    opens: int = 0
    applied_controls: dict = field(default_factory=dict)
    configs: list = field(default_factory=list)

    @property
    def controls(self) -> dict:
        return BASE_CONTROLS | (AF_CONTROLS if self.autofocus else {})


def reset() -> None:
    with lock:
        cameras.clear()


def attach(cam: SimCamera) -> SimCamera:
    with lock:
        cameras.append(cam)
    return cam


def detach(cam: SimCamera) -> None:
    with lock:
        cameras.remove(cam)


def scene(size: tuple[int, int]) -> np.ndarray:
    """The true-RGB image of the scene at ``size`` = (w, h)."""
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    bounds = [0, w // 3, 2 * w // 3, w]
    for i, rgb in enumerate(SCENE_RGB):
        img[:, bounds[i] : bounds[i + 1]] = rgb
    return img


# How each format lays pixels out in memory (picamera2 manual, appendix A).
MEMORY_ORDER = {"RGB888": "BGR", "BGR888": "RGB", "XRGB8888": "BGRA", "XBGR8888": "RGBA"}


def render(size: tuple[int, int], fmt: str) -> np.ndarray:
    rgb = scene(size)
    order = MEMORY_ORDER.get(fmt)
    if order is None:  # YUV420 and friends: (h * 3 / 2, w) single plane
        w, h = size
        return np.full((h * 3 // 2, w), 128, np.uint8)
    channels = {"R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2]}
    planes = [channels[c] if c != "A" else np.full(rgb.shape[:2], 255, np.uint8) for c in order]
    return np.ascontiguousarray(np.stack(planes, axis=-1))
