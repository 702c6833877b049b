"""Webcam backend on OpenCV ``VideoCapture`` (``webcam:0``, ``webcam:/dev/video2``).

- Resolution negotiation: asks for ``preferred_size`` (and MJPEG, which most
  USB webcams need for 720p at full rate) and reports what the device
  actually delivers, measured on the first frame, in ``CameraInfo``.
- Unplug: reads that keep failing raise ``disconnected``; the
  :class:`~hardware.camera.worker.Camera` worker closes the device and reopens it
  with backoff, so plugging it back in resumes the stream.
- Any path OpenCV can open works, video files included (played at the
  file's frame rate): that is how the tests run this backend for real.
"""

from __future__ import annotations

import logging
import stat
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from hardware.camera.errors import CameraError
from hardware.camera.interface import CameraBackend, CameraInfo, Size

_log = logging.getLogger(__name__)


def _v4l_name(device: int | str) -> str | None:
    """The kernel's name for /dev/videoN (Linux), e.g. 'HD Pro Webcam C920'."""
    node = f"video{device}" if isinstance(device, int) else Path(device).name
    try:
        return Path(f"/sys/class/video4linux/{node}/name").read_text().strip() or None
    except OSError:
        return None


class WebcamBackend(CameraBackend):
    def __init__(
        self,
        device: int | str,
        preferred_size: Size | None = (1280, 720),
        fps: float | None = None,
        fourcc: str | None = "MJPG",
        fail_limit: int = 3,
    ) -> None:
        self.device = device
        self.preferred_size = preferred_size
        self.fps = fps
        self.fourcc = fourcc
        self.fail_limit = max(1, fail_limit)
        self._cap: cv2.VideoCapture | None = None
        self._first: np.ndarray | None = None
        self.pace_fps = None

    @property
    def spec(self) -> str:
        return f"webcam:{self.device}"

    def _is_file(self) -> bool:
        if isinstance(self.device, int):
            return False
        try:
            return stat.S_ISREG(Path(self.device).stat().st_mode)
        except OSError:
            return False

    def _check_exists(self) -> None:
        """Fail fast (and quietly) when the device node is plainly absent."""
        if isinstance(self.device, str):
            path = Path(self.device)
            if not path.exists():
                raise CameraError(
                    "no_camera",
                    f"No se encontró la cámara «{self.device}». Revise que esté conectada; "
                    "se reintentará sola.",
                    "device path does not exist",
                )
        elif sys.platform.startswith("linux") and not Path(f"/dev/video{self.device}").exists():
            raise CameraError("no_camera", detail=f"/dev/video{self.device} does not exist")

    def open(self) -> CameraInfo:
        self._check_exists()
        is_file = self._is_file()
        if isinstance(self.device, int) and sys.platform.startswith("linux"):
            cap = cv2.VideoCapture(self.device, cv2.CAP_V4L2)
        else:
            cap = cv2.VideoCapture(self.device)
        if not cap.isOpened():
            cap.release()
            if is_file:
                raise CameraError(
                    "no_camera",
                    f"No se pudo abrir «{self.device}» como cámara o video.",
                    "OpenCV could not open the file",
                )
            raise CameraError("busy", detail="VideoCapture did not open the device")
        if not is_file:
            if self.fourcc:
                cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*self.fourcc))
            if self.preferred_size is not None:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(self.preferred_size[0]))
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(self.preferred_size[1]))
            if self.fps:
                cap.set(cv2.CAP_PROP_FPS, float(self.fps))
            # V4L2 otherwise waits up to 10 s for a frame from a dead device.
            cap.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, 2000.0)
        ok, bgr = cap.read()
        if not ok or bgr is None:
            cap.release()
            raise CameraError("busy", detail="device opened but delivered no frame")
        self._cap = cap
        self._first = self._to_rgb(bgr)
        granted = (int(self._first.shape[1]), int(self._first.shape[0]))
        reported_fps = cap.get(cv2.CAP_PROP_FPS) or None
        if is_file:
            self.pace_fps = self.fps or reported_fps or 30.0
        else:
            self.pace_fps = None
        name = _v4l_name(self.device) if not is_file else None
        if granted != self.preferred_size and self.preferred_size is not None:
            _log.info("webcam %s: asked for %s, got %s", self.device, self.preferred_size, granted)
        return CameraInfo(
            backend="webcam",
            name=name or (f"Webcam {self.device}" if isinstance(self.device, int) else str(self.device)),
            device=self.spec,
            preview_size=granted,
            still_size=granted,
            requested_size=self.preferred_size,
            fps=self.pace_fps or reported_fps,
            autofocus=False,
            extra={"opencv_backend": cap.getBackendName(), "file": is_file},
        )

    @staticmethod
    def _to_rgb(bgr: np.ndarray) -> np.ndarray:
        if bgr.ndim == 2:
            return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        if bgr.shape[2] == 4:
            return cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def read(self, timeout: float) -> tuple[np.ndarray, dict[str, Any]]:
        if self._first is not None:  # the frame that proved the device works
            first, self._first = self._first, None
            return first, {}
        cap = self._cap
        if cap is None:
            raise CameraError("disconnected", detail="read on a closed device")
        deadline = time.monotonic() + timeout
        failures = 0
        while True:
            ok, bgr = cap.read()
            if ok and bgr is not None:
                return self._to_rgb(bgr), {}
            failures += 1
            if failures >= self.fail_limit or time.monotonic() >= deadline:
                raise CameraError("disconnected", detail=f"{failures} failed reads in a row")
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._first = None
