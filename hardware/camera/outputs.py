"""Frame sinks ("outputs") that a camera fans its frames out to.

Shaped after picamera2's encoder/output split: the camera pushes every frame
to a list of outputs through ``output_frame(frame)``; a new kind of consumer
is a subclass, not an ``if`` in the camera. ``output_frame`` runs on the
camera's worker thread and must return quickly; anything slow belongs in a
:class:`ThreadedOutput`, which keeps only the newest undelivered frame (a
slow consumer skips frames; nothing queues up).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hardware.camera.interface import CameraStatus

_log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Frame:
    """One camera frame.

    ``image`` is an RGB ``uint8`` array of shape (height, width, 3), marked
    read-only because every output shares it: copy it before drawing on it.
    ``index`` grows by one per delivered frame for the life of the camera
    (across reconnections); ``timestamp`` is ``time.monotonic()`` when the
    backend handed the frame over. ``meta`` holds backend extras (for replay:
    the source file and its position).
    """

    image: np.ndarray
    index: int
    timestamp: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return (int(self.image.shape[1]), int(self.image.shape[0]))


class FrameOutput:
    """A frame sink. Subclass and override what you need.

    Both hooks are called on the camera's worker thread; an exception raised
    here is logged and swallowed, so one broken consumer never stops the
    camera or the other outputs.
    """

    def output_frame(self, frame: Frame) -> None:
        """A new frame. Return quickly."""

    def camera_status(self, status: CameraStatus) -> None:
        """The camera's state changed (running, error with a Spanish message, stopped)."""

    def close(self) -> None:
        """The output was removed from the camera, or the camera was stopped."""


class CallbackOutput(FrameOutput):
    """Calls ``on_frame(frame)`` (and ``on_status(status)``) on the camera thread."""

    def __init__(
        self,
        on_frame: Callable[[Frame], None],
        on_status: Callable[[CameraStatus], None] | None = None,
    ) -> None:
        self._on_frame = on_frame
        self._on_status = on_status

    def output_frame(self, frame: Frame) -> None:
        self._on_frame(frame)

    def camera_status(self, status: CameraStatus) -> None:
        if self._on_status is not None:
            self._on_status(status)


class LatestFrameOutput(FrameOutput):
    """Keeps the newest frame; ``wait(timeout, newer_than)`` blocks for one.

    Returns ``None`` on timeout (the camera turns that into a Spanish error).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._generation = 0  # bumped on status changes so waiters re-check

    @property
    def frame(self) -> Frame | None:
        with self._cond:
            return self._frame

    def output_frame(self, frame: Frame) -> None:
        with self._cond:
            self._frame = frame
            self._cond.notify_all()

    def camera_status(self, status: CameraStatus) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait(
        self,
        timeout: float,
        newer_than: int | None = None,
        abort: Callable[[], bool] | None = None,
    ) -> Frame | None:
        """The newest frame with ``index > newer_than`` (any frame if None).

        ``abort`` is re-checked whenever the camera's state changes; when it
        returns True the wait ends early with ``None``.
        """
        floor = -1 if newer_than is None else newer_than
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            while True:
                if self._frame is not None and self._frame.index > floor:
                    return self._frame
                if abort is not None and abort():
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)


class ThreadedOutput(FrameOutput):
    """Runs ``consumer(frame)`` on its own thread with a one-frame mailbox.

    While the consumer is busy, newer frames replace the waiting one, so it
    always gets the newest frame and never a backlog. ``delivered`` and
    ``dropped`` count what happened. Use it for analysers (card finding, QR)
    so a slow one neither slows the camera nor the live view.
    """

    def __init__(self, consumer: Callable[[Frame], None], name: str = "frame-consumer") -> None:
        self._consumer = consumer
        self._cond = threading.Condition()
        self._pending: Frame | None = None
        self._closed = False
        self.delivered = 0
        self.dropped = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def output_frame(self, frame: Frame) -> None:
        with self._cond:
            if self._closed:
                return
            if self._pending is not None:
                self.dropped += 1
            self._pending = frame
            self._cond.notify()

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                frame, self._pending = self._pending, None
            assert frame is not None  # the wait above ends on a pending frame or on close
            try:
                self._consumer(frame)
            except Exception:
                self.errors += 1
                _log.exception("frame consumer failed on frame %s", frame.index)
            else:
                self.delivered += 1
