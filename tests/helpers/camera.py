"""Shared pieces of the camera tests (tests/hardware/test_camera_*.py): fast retries and waiting."""

from __future__ import annotations

import time
from collections.abc import Callable

from hardware.camera import Backoff, Camera, CameraError, CameraState

# Retry quickly so recovery tests take milliseconds, not seconds.
FAST = Backoff(initial=0.02, factor=2.0, maximum=0.1)


def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def wait_for_error(cam: Camera, timeout: float = 5.0) -> CameraError:
    """Wait until ``cam`` reports the error state; its error (asserted present)."""
    wait_until(lambda: cam.status().state is CameraState.ERROR, timeout)
    err = cam.status().error
    assert err is not None
    return err


def wait_for_no_camera(cam: Camera, timeout: float = 5.0) -> CameraError:
    """Wait for the ``no_camera`` error with its Spanish text (both asserted); the error."""
    err = wait_for_error(cam, timeout)
    assert err.code == "no_camera"
    assert err.message.startswith("No se encontró la cámara")
    return err
