"""Raspberry Pi camera backend on picamera2 (``pi`` or ``pi:N``).

- Live view: ``create_preview_configuration`` with the main stream in
  ``RGB888`` at ``preview_size`` (1280x720 by default).
- Capture: ``switch_mode_and_capture_arrays`` into a
  ``create_still_configuration`` at the sensor's full resolution, then back
  to the preview mode (picamera2 does the switch back itself).
- Autofocus where the module has it (``"AfMode" in camera_controls``, e.g.
  Camera Module 3): continuous AF in both modes, and ``focus()`` runs
  ``autofocus_cycle()`` then returns to continuous.
- Colour order: picamera2 names formats after libcamera/DRM, so an
  ``RGB888`` array is ``[B, G, R]`` in memory (manual, appendix A; also
  picamera2 issues #191, #848). Frames are converted so the interface
  always yields RGB. ``swap_red_blue`` flips that for the sensors reported
  to come out the other way round (issue #1325, IMX500 on a Pi 5).
- Every picamera2 call that waits gets ``wait=<seconds>``; a camera that
  stops delivering raises ``TimeoutError`` there, which becomes ``stalled``,
  the queued job is flushed (``cancel_all_and_flush``) and the camera is
  closed and reopened by the worker.

picamera2 is imported only when the camera opens: on a desktop (or in CI)
without it, this backend reports ``unavailable`` instead of failing import.
"""

from __future__ import annotations

import logging
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import cv2
import numpy as np

from hardware.camera.errors import CameraError
from hardware.camera.interface import CameraBackend, CameraInfo, Size

_log = logging.getLogger(__name__)

PREVIEW_FORMAT = "RGB888"
STILL_FORMAT = "RGB888"

# Memory order of each 8-bit RGB format picamera2 can hand us.
_MEMORY_ORDER = {"RGB888": "BGR", "BGR888": "RGB", "XRGB8888": "BGRX", "XBGR8888": "RGBX"}
_TO_RGB = {"BGR": cv2.COLOR_BGR2RGB, "BGRX": cv2.COLOR_BGRA2RGB, "RGBX": cv2.COLOR_RGBA2RGB}
_SWAPPED = {"BGR": "RGB", "RGB": "BGR", "BGRX": "RGBX", "RGBX": "BGRX"}


def to_rgb(array: np.ndarray, fmt: str, swap_red_blue: bool = False) -> np.ndarray:
    """A picamera2 array in ``fmt`` as a contiguous RGB (h, w, 3) uint8 array."""
    order = _MEMORY_ORDER.get(fmt)
    if order is None or array.ndim != 3 or array.shape[2] != len(order):
        raise CameraError("format", detail=f"format {fmt} with shape {array.shape}")
    if swap_red_blue:
        order = _SWAPPED[order]
    if order == "RGB":
        return np.ascontiguousarray(array)
    return cv2.cvtColor(array, _TO_RGB[order])


class PiCameraBackend(CameraBackend):
    def __init__(
        self,
        camera_num: int = 0,
        preview_size: Size = (1280, 720),
        still_size: Size | None = None,
        autofocus: bool = True,
        rotate_180: bool = False,
        swap_red_blue: bool = False,
    ) -> None:
        self.camera_num = camera_num
        self.preview_size = preview_size
        self.still_size = still_size
        self.autofocus = autofocus
        self.rotate_180 = rotate_180
        self.swap_red_blue = swap_red_blue
        self._cam: Any = None
        self._still_config: dict[str, Any] | None = None
        self._af_continuous: dict[str, Any] = {}
        self._preview_format = PREVIEW_FORMAT

    def open(self) -> CameraInfo:
        try:
            from libcamera import Transform, controls
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraError(
                "unavailable",
                "Falta el soporte de la cámara de Raspberry Pi (paquete python3-picamera2).",
                repr(exc),
            ) from None
        try:
            infos = Picamera2.global_camera_info()
        except Exception as exc:
            raise CameraError("no_camera", detail=f"global_camera_info failed: {exc!r}") from None
        if self.camera_num >= len(infos):
            raise CameraError("no_camera", detail=f"{len(infos)} camera(s) found, wanted #{self.camera_num}")
        described = infos[self.camera_num]
        try:
            cam = Picamera2(self.camera_num)
        except IndexError:  # unplugged between the listing and the open
            raise CameraError("no_camera", detail="camera vanished while opening") from None
        except RuntimeError as exc:  # libcamera could not acquire it
            raise CameraError("busy", detail=repr(exc)) from None
        try:
            return self._configure(cam, described, Transform, controls)
        except CameraError:
            self._close_quietly(cam)
            raise
        except Exception as exc:
            self._close_quietly(cam)
            raise CameraError("config", detail=repr(exc)) from None

    def _configure(
        self, cam: Any, described: dict[str, Any], transform_cls: Any, controls: Any
    ) -> CameraInfo:
        has_af = "AfMode" in cam.camera_controls
        self._af_continuous = (
            {"AfMode": controls.AfModeEnum.Continuous} if (has_af and self.autofocus) else {}
        )
        transform = transform_cls(hflip=True, vflip=True) if self.rotate_180 else transform_cls()
        preview = cam.create_preview_configuration(
            main={"format": PREVIEW_FORMAT, "size": tuple(self.preview_size)},
            transform=transform,
            controls=dict(self._af_continuous),
        )
        still_main: dict[str, Any] = {"format": STILL_FORMAT}
        if self.still_size is not None:
            still_main["size"] = tuple(self.still_size)
        self._still_config = cam.create_still_configuration(
            main=still_main, transform=transform, controls=dict(self._af_continuous)
        )
        cam.configure(preview)
        granted = cam.stream_configuration("main")
        self._preview_format = granted["format"]
        cam.start()
        self._cam = cam
        props = cam.camera_properties
        model = str(described.get("Model") or props.get("Model") or "Cámara Raspberry Pi")
        return CameraInfo(
            backend="pi",
            name=model,
            device=f"pi:{self.camera_num}",
            preview_size=tuple(granted["size"]),
            still_size=tuple(self._still_config["main"]["size"]),
            requested_size=(self.preview_size[0], self.preview_size[1]),
            fps=None,
            autofocus=has_af,
            extra={"id": described.get("Id"), "format": self._preview_format},
        )

    def _stalled(self, what: str, timeout: float) -> CameraError:
        # The job is still queued inside picamera2: flush it before closing.
        try:
            self._cam.cancel_all_and_flush()
        except Exception:
            _log.exception("cancel_all_and_flush failed")
        return CameraError("stalled", detail=f"{what}: no frame within {timeout:.1f} s")

    def read(self, timeout: float) -> tuple[np.ndarray, dict[str, Any]]:
        if self._cam is None:
            raise CameraError("disconnected", detail="read on a closed camera")
        try:
            arrays, metadata = self._cam.capture_arrays(["main"], wait=timeout)
        except FutureTimeout:
            raise self._stalled("capture_arrays", timeout) from None
        except RuntimeError as exc:
            raise CameraError("disconnected", detail=repr(exc)) from None
        return to_rgb(arrays[0], self._preview_format, self.swap_red_blue), dict(metadata)

    def capture_still(self, timeout: float) -> tuple[np.ndarray, dict[str, Any]]:
        if self._cam is None or self._still_config is None:
            raise CameraError("disconnected", detail="still on a closed camera")
        try:
            arrays, metadata = self._cam.switch_mode_and_capture_arrays(
                self._still_config, ["main"], wait=timeout
            )
        except FutureTimeout:
            raise self._stalled("switch_mode_and_capture_arrays", timeout) from None
        except RuntimeError as exc:
            raise CameraError("disconnected", detail=repr(exc)) from None
        fmt = self._still_config["main"]["format"]
        return to_rgb(arrays[0], fmt, self.swap_red_blue), dict(metadata)

    def focus(self, timeout: float) -> bool:
        if self._cam is None or not self._af_continuous:
            return False
        try:
            focused = bool(self._cam.autofocus_cycle(wait=timeout))
        except FutureTimeout:
            self._cam.cancel_all_and_flush()
            focused = False
        finally:
            self._cam.set_controls(dict(self._af_continuous))
        return focused

    @staticmethod
    def _close_quietly(cam: Any) -> None:
        try:
            cam.close()
        except Exception:
            _log.exception("closing picamera2 failed")

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            self._close_quietly(cam)
