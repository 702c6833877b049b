"""Replay camera: a folder of images or a video file, looping, at a set rate.

For tests, demos and testers without a camera (``replay:/path[@fps]``).
Images are played in file-name order; a video plays frame by frame and
starts again at its end. A folder may hold named scenes, sub-folders of images
(``front/``, ``back/``, ``selfie-blink/``, ...): ``select_scene(name)`` plays
one of them in a loop from its start, so a demo's selfie can be the one for the
challenge the kiosk asked. Without a selection the folder's own images play,
or, when it has none, every scene in name order. With ``preview_size`` set, live frames are scaled
down to fit it (like the Pi's preview stream) while ``capture_still``
returns the source image at full resolution.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from hardware.camera.errors import CameraError
from hardware.camera.interface import CameraBackend, CameraInfo, Size

_log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
# Decoded images are kept in memory up to this many bytes (a 1080p frame is ~6 MB).
CACHE_BYTES = 256 * 1024 * 1024


def _fit(image: np.ndarray, size: Size | None) -> np.ndarray:
    """Scale down (never up) to fit within ``size`` = (w, h), keeping proportions."""
    if size is None:
        return image
    h, w = image.shape[:2]
    scale = min(size[0] / w, size[1] / h)
    if scale >= 1.0:
        return image
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, new, interpolation=cv2.INTER_AREA)


def _images(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                  key=lambda p: p.name)


def _read_image(path: Path) -> np.ndarray | None:
    data = np.fromfile(str(path), dtype=np.uint8)  # works with non-ASCII paths too
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class ReplayBackend(CameraBackend):
    def __init__(self, source: Path | str, fps: float = 15.0, preview_size: Size | None = None) -> None:
        if not fps > 0:
            raise ValueError("fps must be positive")
        self.source = Path(source)
        self.fps = float(fps)
        self.pace_fps = self.fps
        self.preview_size = preview_size
        self._files: list[Path] = []
        self._scenes: dict[str, list[Path]] = {}
        self._scene: str | None = None  # the selected scene, kept across a reopen
        self._cache: dict[Path, np.ndarray] = {}
        self._cache_bytes = 0
        self._unreadable: set[Path] = set()  # warned about once
        self._video: cv2.VideoCapture | None = None
        self._pos = 0
        self._loops = 0
        self._current: tuple[np.ndarray, dict[str, Any]] | None = None  # full-res source frame

    def _missing(self, why: str) -> CameraError:
        return CameraError(
            "source",
            f"No se encontraron imágenes o video para reproducir en «{self.source}».",
            why,
        )

    def open(self) -> CameraInfo:
        self._pos = 0
        self._loops = 0
        if self.source.is_dir():
            self._files = _images(self.source)
            self._scenes = {d.name: _images(d) for d in sorted(self.source.iterdir()) if d.is_dir()}
            self._scenes = {k: v for k, v in self._scenes.items() if v}
            if not self._files:
                self._files = [p for files in self._scenes.values() for p in files]
            if self._scene in self._scenes:
                self._files = self._scenes[self._scene]
            if not self._files:
                raise self._missing("folder has no images")
            first = None
            for path in self._files:
                first = self._load(path)
                if first is not None:
                    break
            if first is None:
                raise self._missing("no image in the folder could be decoded")
            kind = "images"
            count = len(self._files)
        elif self.source.is_file():
            self._video = cv2.VideoCapture(str(self.source))
            ok, bgr = self._video.read() if self._video.isOpened() else (False, None)
            if not ok or bgr is None:
                self._video.release()
                self._video = None
                raise self._missing("not a readable video or image")
            self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
            first = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            kind = "video"
            count = int(self._video.get(cv2.CAP_PROP_FRAME_COUNT))
        else:
            raise self._missing("path does not exist")
        full = (int(first.shape[1]), int(first.shape[0]))
        preview = _fit(first, self.preview_size)
        return CameraInfo(
            backend="replay",
            name=self.source.name or str(self.source),
            device=f"replay:{self.source}@{self.fps:g}",
            preview_size=(int(preview.shape[1]), int(preview.shape[0])),
            still_size=full,
            requested_size=self.preview_size,
            fps=self.fps,
            autofocus=False,
            extra={"kind": kind, "frames": count}
            | ({"scenes": sorted(self._scenes)} if self._scenes else {}),
        )

    def select_scene(self, name: str) -> bool:
        files = self._scenes.get(name)
        if not files:
            return False
        self._files, self._pos, self._scene = files, 0, name
        return True

    def _load(self, path: Path) -> np.ndarray | None:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        try:
            image = _read_image(path)
        except OSError:
            image = None
        if image is None:
            if path not in self._unreadable:  # once, not at every pass of the loop
                self._unreadable.add(path)
                _log.warning("replay: skipping unreadable image %s", path)
            return None
        image.flags.writeable = False
        if self._cache_bytes + image.nbytes <= CACHE_BYTES:
            self._cache[path] = image
            self._cache_bytes += image.nbytes
        return image

    def _next_source(self) -> tuple[np.ndarray, dict[str, Any]]:
        if self._video is not None:
            ok, bgr = self._video.read()
            if not ok:  # end of the video: loop
                self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
                self._loops += 1
                self._pos = 0
                ok, bgr = self._video.read()
                if not ok:
                    raise CameraError("source", detail="video stopped decoding")
            meta = {"source": str(self.source), "position": self._pos, "loop": self._loops}
            self._pos += 1
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), meta
        for _ in range(len(self._files)):
            if self._pos >= len(self._files):
                self._pos = 0
                self._loops += 1
            path = self._files[self._pos]
            meta = {"source": str(path), "position": self._pos, "loop": self._loops}
            self._pos += 1
            image = self._load(path)
            if image is not None:
                return image, meta
        raise self._missing("no image in the folder could be decoded any more")

    def read(self, timeout: float) -> tuple[np.ndarray, dict[str, Any]]:
        image, meta = self._next_source()
        self._current = (image, meta)
        # Cached images are read-only and shared; frames are read-only anyway.
        return _fit(image, self.preview_size), dict(meta)

    def capture_still(self, timeout: float) -> tuple[np.ndarray, dict[str, Any]]:
        """The source image behind the last live frame, at full resolution."""
        if self._current is None:
            self._current = self._next_source()
        image, meta = self._current
        return image.copy(), dict(meta)

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None
        self._current = None
