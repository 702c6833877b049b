"""Camera spec strings (``auto``, ``pi:N``, ``webcam:...``, ``replay:...``) and :func:`open_camera`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from hardware.camera.errors import CameraError
from hardware.camera.interface import CameraBackend, Size
from hardware.camera.worker import Backoff, Camera

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraSpec:
    """A parsed camera spec string.

    ``auto``; ``pi`` or ``pi:N``; ``webcam``, ``webcam:N`` or
    ``webcam:/dev/videoN`` (any path OpenCV opens, video files included);
    ``replay:/folder-or-video[@fps]``.
    """

    kind: str  # "auto", "pi", "webcam" or "replay"
    index: int | None = None
    path: str | None = None
    fps: float | None = None

    def __str__(self) -> str:
        if self.kind == "auto":
            return "auto"
        if self.kind == "replay":
            return f"replay:{self.path}" + (f"@{self.fps:g}" if self.fps else "")
        target = self.path if self.path is not None else self.index
        return f"{self.kind}:{target}"


def _bad_spec(spec: str, why: str) -> CameraError:
    return CameraError(
        "bad_spec",
        f"La configuración de la cámara «{spec}» no es válida. Use auto, pi, webcam:0, "
        "webcam:/dev/video0 o replay:/ruta[@fps].",
        why,
    )


def parse_spec(spec: str) -> CameraSpec:
    """Parse a spec string; raises CameraError(code="bad_spec") with a Spanish message."""
    text = spec.strip()
    kind, _, arg = text.partition(":")
    kind = kind.lower()
    if kind == "auto" and not arg:
        return CameraSpec("auto")
    if kind == "pi":
        if not arg:
            return CameraSpec("pi", index=0)
        if arg.isdigit():
            return CameraSpec("pi", index=int(arg))
        raise _bad_spec(spec, "pi takes a camera number")
    if kind == "webcam":
        if not arg:
            return CameraSpec("webcam", index=0)
        if arg.isdigit():
            return CameraSpec("webcam", index=int(arg))
        return CameraSpec("webcam", path=arg)
    if kind == "replay":
        if not arg:
            raise _bad_spec(spec, "replay needs a folder or video path")
        path, fps = arg, None
        head, sep, tail = arg.rpartition("@")
        if sep and head:
            try:
                fps = float(tail)
            except ValueError:
                fps = None
            else:
                path = head
                if not fps > 0:
                    raise _bad_spec(spec, "fps must be positive")
        return CameraSpec("replay", path=path, fps=fps)
    raise _bad_spec(spec, f"unknown camera kind {kind!r}")


def _pi_camera_present() -> bool:
    """True when picamera2 imports and lists a camera that is not a USB webcam."""
    try:
        from picamera2 import Picamera2
    except Exception:
        return False
    try:
        cams = Picamera2.global_camera_info()
    except Exception:
        _log.exception("picamera2 could not list cameras")
        return False
    return any("/usb" not in str(c.get("Id", "")) for c in cams)


def open_camera(
    spec: str | CameraSpec = "auto",
    *,
    preview_size: Size = (1280, 720),
    replay_fps: float = 15.0,
    backoff: Backoff | None = None,
    read_timeout: float = 2.0,
    stall_timeout: float = 3.0,
) -> Camera:
    """Build (not start) the camera named by ``spec``.

    ``auto`` takes the Pi camera when picamera2 finds one, else webcam 0
    (which keeps retrying until a webcam appears). ``preview_size`` is the
    live size asked of a device; a replay scales larger images down to fit
    it (stills stay full size). Only a malformed spec
    raises here; device problems show up in ``status()`` after ``start()``.
    """
    parsed = spec if isinstance(spec, CameraSpec) else parse_spec(spec)
    if parsed.kind == "auto":
        parsed = CameraSpec("pi", index=0) if _pi_camera_present() else CameraSpec("webcam", index=0)
    backend: CameraBackend
    if parsed.kind == "pi":
        from hardware.camera.pi import PiCameraBackend

        backend = PiCameraBackend(camera_num=parsed.index or 0, preview_size=preview_size)
    elif parsed.kind == "webcam":
        from hardware.camera.webcam import WebcamBackend

        device: int | str = parsed.path if parsed.path is not None else (parsed.index or 0)
        backend = WebcamBackend(device, preferred_size=preview_size)
    else:
        from hardware.camera.replay import ReplayBackend

        assert parsed.path is not None
        backend = ReplayBackend(Path(parsed.path), fps=parsed.fps or replay_fps, preview_size=preview_size)
    return Camera(backend, backoff=backoff, read_timeout=read_timeout, stall_timeout=stall_timeout)
