"""The camera worker: one thread that opens a backend, reads frames and recovers.

A :class:`Camera` fans frames out to its outputs, runs stills and autofocus
between frames (so the device is only touched by its worker thread) and, on
any failure, goes to the ``error`` state and retries with :class:`Backoff`.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hardware.camera.errors import CameraError
from hardware.camera.interface import CameraBackend, CameraInfo, CameraState, CameraStatus
from hardware.camera.outputs import Frame, FrameOutput, LatestFrameOutput

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnection attempts: initial * factor**n, capped."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 5.0

    def delay(self, attempt: int) -> float:
        return min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))


@dataclass
class _Job:
    kind: str  # "still", "focus" or "scene"
    timeout: float
    future: Future[Any]
    arg: str = ""


class Camera:
    """A backend run on a worker thread, with outputs and automatic recovery.

    - ``start()`` returns at once; the worker opens the device (retrying
      with :class:`Backoff` while it fails) and delivers frames.
    - ``latest_frame(timeout, newer_than)`` returns the newest frame or raises
      :class:`CameraError` (the current error, or ``stalled`` / ``timeout``).
    - ``capture_still(timeout)`` and ``focus(timeout)`` run on the worker
      between frames, so the device is only ever touched by one thread.
    - ``stall_timeout``: a running camera with no frame for this long is
      reported as ``stalled`` even if its driver is stuck inside a read.
    """

    def __init__(
        self,
        backend: CameraBackend,
        *,
        backoff: Backoff | None = None,
        read_timeout: float = 2.0,
        stall_timeout: float = 3.0,
        max_fps: float | None = None,
    ) -> None:
        self.backend = backend
        self.backoff = backoff or Backoff()
        self.read_timeout = read_timeout
        self.stall_timeout = stall_timeout
        self.max_fps = max_fps
        self._lock = threading.Lock()
        self._outputs: list[FrameOutput] = []
        self._latest = LatestFrameOutput()
        self._status = CameraStatus(CameraState.STOPPED)
        self._jobs: list[_Job] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._index = 0
        self._stale_below = 0  # frames up to this index predate the last error/stop
        self._last_frame_at = 0.0
        self._stall_logged = False  # the stall reported by status() was logged

    # ----------------------------------------------------------------- public

    @property
    def info(self) -> CameraInfo | None:
        """What the device reported at its last successful open (None before)."""
        return self._status.info

    def status(self) -> CameraStatus:
        """Current state; a running camera silent for ``stall_timeout`` reads as stalled."""
        with self._lock:
            st = self._status
            silent = time.monotonic() - self._last_frame_at
            stalled = st.state is CameraState.RUNNING and silent > self.stall_timeout
            first = stalled and not self._stall_logged
            self._stall_logged |= stalled
        if first:
            _log.error("camera stalled: no frame for %.1f s (driver stuck in a read)", silent)
        return replace(st, state=CameraState.ERROR, error=CameraError("stalled")) if stalled else st

    def add_output(self, output: FrameOutput) -> FrameOutput:
        with self._lock:
            self._outputs.append(output)
            st = self._status
        self._safe(output.camera_status, st)
        return output

    def remove_output(self, output: FrameOutput) -> None:
        with self._lock:
            if output not in self._outputs:
                return
            self._outputs.remove(output)
        self._safe(output.close)

    def start(self) -> None:
        """Start the worker thread (idempotent). Never raises for device problems."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="camera-worker", daemon=True)
        self._set_status(CameraState.STARTING, retries=0)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker and close the device; outputs are kept for a restart."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                _log.warning("camera worker did not stop within %.1f s (driver stuck)", timeout)
        self._fail_jobs(CameraError("stopped"))
        self._set_status(CameraState.STOPPED, error=None)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def latest_frame(
        self, timeout: float = 1.0, newer_than: int | None = None, *, fail_fast: bool = True
    ) -> Frame:
        """The newest frame (with ``index > newer_than`` if given).

        With ``fail_fast`` (the default, for a live view) it raises
        :class:`CameraError` at once while the camera is stopped or in an
        error state; with ``fail_fast=False`` it keeps waiting through errors
        and recovery until ``timeout``. Never blocks longer than ``timeout``.
        """

        def broken() -> bool:
            return self._status.state in (CameraState.ERROR, CameraState.STOPPED)

        floor = max(-1 if newer_than is None else newer_than, self._stale_below)
        frame = self._latest.wait(timeout, floor, abort=broken if fail_fast else None)
        if frame is not None:
            return frame
        st = self.status()
        if st.error is not None:
            err = st.error
            raise CameraError(err.code, err.message, err.detail)
        if st.state is CameraState.STOPPED:
            raise CameraError("stopped")
        if st.state is CameraState.STARTING:
            raise CameraError("timeout", "La cámara todavía se está iniciando.")
        raise CameraError("stalled", detail=f"no frame within {timeout:.2f} s")

    def capture_still(self, timeout: float = 10.0) -> Frame:
        """A still at the backend's capture resolution (full sensor on the Pi)."""
        image, meta = self._run_job("still", timeout)
        return self._make_frame(image, meta)

    def focus(self, timeout: float = 5.0) -> bool:
        """Trigger one autofocus cycle; False where there is no autofocus."""
        info = self.info
        if info is not None and not info.autofocus:
            return False
        return bool(self._run_job("focus", timeout))

    def select_scene(self, name: str, timeout: float = 2.0) -> bool:
        """Ask the backend to play a named scene (replay); False where it has none."""
        return bool(self._run_job("scene", timeout, name))

    def __enter__(self) -> Camera:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --------------------------------------------------------------- internals

    def _run_job(self, kind: str, timeout: float, arg: str = "") -> Any:
        st = self.status()
        if st.state is CameraState.STOPPED:
            raise CameraError("stopped")
        if st.error is not None:
            raise CameraError(st.error.code, st.error.message, st.error.detail)
        job = _Job(kind, timeout, Future(), arg)
        with self._lock:
            self._jobs.append(job)
        try:
            return job.future.result(timeout)
        except FutureTimeout:
            job.future.cancel()
            raise CameraError("timeout", detail=f"{kind} took more than {timeout:.1f} s") from None

    def _fail_jobs(self, err: CameraError) -> None:
        with self._lock:
            jobs, self._jobs = self._jobs, []
        for job in jobs:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(err)

    def _set_status(self, state: CameraState, **changes: Any) -> None:
        with self._lock:
            old = self._status
            new = replace(old, state=state, **changes)
            if state is not CameraState.ERROR and "error" not in changes:
                new = replace(new, error=None)
            self._status = new
            if state in (CameraState.ERROR, CameraState.STOPPED):
                self._stale_below = self._index
            outputs = [*self._outputs, self._latest]
        if (old.state, old.error) != (new.state, new.error):
            _log_change(old, new)
            for out in outputs:
                self._safe(out.camera_status, new)

    @staticmethod
    def _safe(fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            _log.exception("camera output hook failed")

    def _make_frame(self, image: Any, meta: dict[str, Any]) -> Frame:
        ok = isinstance(image, np.ndarray) and image.dtype == np.uint8
        if not (ok and image.ndim == 3 and image.shape[2] == 3):
            shape = getattr(image, "shape", None)
            raise CameraError("format", detail=f"backend gave {type(image).__name__} {shape}")
        image.flags.writeable = False
        with self._lock:
            self._index += 1
            index = self._index
        return Frame(image=image, index=index, timestamp=time.monotonic(), meta=meta)

    def _publish(self, frame: Frame) -> None:
        with self._lock:
            outputs = list(self._outputs)
            self._last_frame_at = frame.timestamp
            frames = self._status.frames + 1
            unstalled = self._stall_logged and self._status.state is CameraState.RUNNING
            self._stall_logged = False
        if unstalled:  # (after an error in between, the recovery is what gets logged)
            _log.warning("camera sends frames again after a stall")
        self._latest.output_frame(frame)
        if self._status.state is not CameraState.RUNNING:
            self._set_status(CameraState.RUNNING, retries=0, frames=frames)
        else:
            with self._lock:
                self._status = replace(self._status, frames=frames)
        for out in outputs:
            self._safe(out.output_frame, frame)

    def _run(self) -> None:
        backend = self.backend
        is_open = False
        attempt = 0
        next_due = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if not is_open:
                        info = backend.open()
                        is_open = True
                        next_due = time.monotonic()
                        with self._lock:
                            self._last_frame_at = time.monotonic()
                        self._set_status(self._status.state, info=info)
                    self._do_jobs(backend)
                    fps = backend.pace_fps or self.max_fps
                    if fps:
                        now = time.monotonic()
                        if next_due > now and self._stop.wait(next_due - now):
                            break
                        next_due = max(next_due + 1.0 / fps, time.monotonic() - 1.0 / fps)
                    image, meta = backend.read(self.read_timeout)
                    self._publish(self._make_frame(image, meta))
                    attempt = 0
                except Exception as exc:  # a driver bug must not kill the thread silently
                    attempt += 1
                    if isinstance(exc, CameraError):
                        err = exc
                        # The change of state is logged once (_log_change); retries only here.
                        _log.debug("camera error (%s), attempt %d: %r", err.code, attempt, err)
                    else:
                        # A driver bug: its traceback once, not at every retry.
                        _log.log(logging.ERROR if attempt == 1 else logging.DEBUG,
                                 "unexpected camera failure", exc_info=True)
                        err = CameraError("disconnected", detail=repr(exc))
                    self._fail_jobs(err)
                    if is_open:
                        self._close(backend)
                        is_open = False
                    self._set_status(CameraState.ERROR, error=err, retries=attempt)
                    if self._stop.wait(self.backoff.delay(attempt)):
                        break
        finally:
            if is_open:
                self._close(backend)

    def _do_jobs(self, backend: CameraBackend) -> None:
        with self._lock:
            jobs, self._jobs = self._jobs, []
        for n, job in enumerate(jobs):
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                if job.kind == "still":
                    result: Any = backend.capture_still(job.timeout)
                elif job.kind == "scene":
                    result = backend.select_scene(job.arg)
                else:
                    result = backend.focus(job.timeout)
            except CameraError as err:
                job.future.set_exception(err)
                # The device failed: hand the rest back, and let the loop recover.
                with self._lock:
                    self._jobs[:0] = jobs[n + 1 :]
                raise
            job.future.set_result(result)

    @staticmethod
    def _close(backend: CameraBackend) -> None:
        try:
            backend.close()
        except Exception:
            _log.exception("closing the camera failed")


def _log_change(old: CameraStatus, new: CameraStatus) -> None:
    """One line per change of state or of error code: never one per retry, nor per frame."""
    err = new.error
    if new.state is CameraState.ERROR and err is not None:
        if old.state is CameraState.ERROR and old.error is not None:
            if old.error.code != err.code:
                _log.warning("camera still failing, now %s: %s", err.code, err.detail or err.message)
            return
        what = "lost" if old.state is CameraState.RUNNING else "cannot be opened"
        _log.error("camera %s (%s): %s", what, err.code, err.detail or err.message)
    elif new.state is CameraState.RUNNING and old.state is CameraState.ERROR:
        _log.warning("camera recovered after %d failed attempt(s)", old.retries)
    elif new.state is CameraState.RUNNING:
        info = new.info
        _log.info("camera running: %s", f"{info.device} {info.preview_size}" if info else "?")
