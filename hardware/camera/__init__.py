"""The camera interface the kiosk uses, whatever the hardware.

``open_camera(spec)`` picks a backend (Pi camera on picamera2, an OpenCV
webcam, or a replay of images/video) and wraps it in a :class:`Camera`:

    cam = open_camera("auto")          # or "pi", "webcam:0", "replay:/dir@10"
    cam.add_output(ThreadedOutput(analyse))   # analysers get the newest frame
    cam.start()                        # returns at once; frames flow on a thread
    frame = cam.latest_frame(timeout=1.0)     # Frame(image=RGB uint8, index, ...)
    still = cam.capture_still()        # full-resolution where the backend can
    cam.stop()

A :class:`Camera` owns one worker thread that opens the backend, reads
frames, fans them out to its outputs and, when anything goes wrong (no
camera, busy, unplugged, stopped delivering), goes to the ``error`` state
with a Spanish message and retries with backoff until it works again. No
call blocks longer than the timeout it was given.

The pieces live in small modules, all re-exported here:

- :mod:`hardware.camera.errors` — ``CameraError`` and its Spanish ``MESSAGES``
- :mod:`hardware.camera.interface` — ``CameraBackend``, ``CameraInfo``, ``CameraState``, ``CameraStatus``
- :mod:`hardware.camera.worker` — ``Camera`` (worker thread, recovery) and ``Backoff``
- :mod:`hardware.camera.spec` — ``CameraSpec``, ``parse_spec``, ``open_camera``
- :mod:`hardware.camera.outputs` — ``Frame`` and the frame outputs
"""

from __future__ import annotations

from hardware.camera.errors import MESSAGES, CameraError
from hardware.camera.interface import CameraBackend, CameraInfo, CameraState, CameraStatus, Size
from hardware.camera.outputs import CallbackOutput, Frame, FrameOutput, LatestFrameOutput, ThreadedOutput
from hardware.camera.spec import CameraSpec, open_camera, parse_spec
from hardware.camera.worker import Backoff, Camera

__all__ = [
    "MESSAGES",
    "Backoff",
    "CallbackOutput",
    "Camera",
    "CameraBackend",
    "CameraError",
    "CameraInfo",
    "CameraSpec",
    "CameraState",
    "CameraStatus",
    "Frame",
    "FrameOutput",
    "LatestFrameOutput",
    "Size",
    "ThreadedOutput",
    "open_camera",
    "parse_spec",
]
