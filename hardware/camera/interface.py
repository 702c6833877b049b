"""What a camera is, to the rest of the kiosk: the backend interface and its dataclasses.

:class:`CameraBackend` is the driver contract (Pi camera, webcam, replay);
:class:`CameraInfo` is what an open device reports; :class:`CameraState` and
:class:`CameraStatus` are what a :class:`~hardware.camera.worker.Camera` tells
its callers and outputs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from hardware.camera.errors import MESSAGES, CameraError

Size = tuple[int, int]


class CameraState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"  # opening the device, no frame yet
    RUNNING = "running"
    ERROR = "error"  # see status.error; the camera is retrying on its own


@dataclass(frozen=True)
class CameraInfo:
    """What the open camera is and can do.

    ``preview_size`` is what the device granted for the live stream (which
    may differ from ``requested_size``); ``still_size`` is the size
    :meth:`Camera.capture_still` returns.
    """

    backend: str  # "pi", "webcam" or "replay"
    name: str  # sensor model, device name or replay source
    device: str  # the spec that opens it again, e.g. "webcam:/dev/video2"
    preview_size: Size
    still_size: Size
    requested_size: Size | None = None
    fps: float | None = None
    autofocus: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CameraStatus:
    state: CameraState
    error: CameraError | None = None
    frames: int = 0  # frames delivered since start()
    retries: int = 0  # failed open/read attempts since the last good frame
    info: CameraInfo | None = None

    @property
    def message(self) -> str | None:
        """The Spanish text to show, or None when all is well."""
        if self.error is not None:
            return self.error.message
        if self.state is CameraState.STOPPED:
            return MESSAGES["stopped"]
        return None


class CameraBackend(ABC):
    """A device driver, used from one thread only (the camera's worker).

    Backends raise :class:`CameraError` for every failure they can name.
    ``read`` returns an RGB uint8 (h, w, 3) array and a dict of extras and
    must return within about ``timeout`` seconds.
    """

    #: Frames per second the worker should pace reads at (files and replays);
    #: None for devices that pace themselves.
    pace_fps: float | None = None

    @abstractmethod
    def open(self) -> CameraInfo: ...

    @abstractmethod
    def read(self, timeout: float) -> tuple[np.ndarray, dict[str, Any]]: ...

    def capture_still(self, timeout: float) -> tuple[np.ndarray, dict[str, Any]]:
        """A full-resolution frame; by default a fresh preview frame."""
        return self.read(timeout)

    def focus(self, timeout: float) -> bool:
        """Run one autofocus cycle; True if focused. No autofocus: False."""
        return False

    def select_scene(self, name: str) -> bool:
        """Play the named scene from now on (a replay's sub-folder); False where there is none
        (a real camera shows what is in front of it)."""
        return False

    @abstractmethod
    def close(self) -> None: ...
