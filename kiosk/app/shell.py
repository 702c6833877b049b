"""What the window's controllers may ask of the window, and of the screens they drive.

The window (`kiosk.app.window.KioskWindow`) is the composition root: it owns the flow, the
worker pools and the services, switches screens, and hands each controller (`capture`, `home`,
`lock`, `enroll`) this narrow `Shell`. A controller drives only the screen the factory attached
to it while that screen is shown (`view`, None otherwise), through the small Protocols below:
no probing of screens for methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PySide6.QtWidgets import QWidget

from kiosk.app.services import Services
from kiosk.capture.flow import Flow, Notice
from kiosk.ui.jobs import Jobs


class Shell(Protocol):
    """The window as its controllers see it."""

    flow: Flow
    sv: Services  # replaced when enrollment finishes: read it, never keep it
    jobs: Jobs
    cam_jobs: Jobs

    def show_notice(self, notice: Notice | None = None) -> None: ...
    def rebuild(self) -> None: ...
    def camera(self, on: bool) -> None: ...
    def server_now_ms(self) -> int: ...


class NoticeView(Protocol):
    def show_text(self, text: str | None, error: bool = False) -> None: ...


class CaptureView(Protocol):
    def show_frame(self, rgb: np.ndarray) -> None: ...
    def set_guidance(self, text: str, quad: np.ndarray | None = None, good: bool = False) -> None: ...
    def set_challenge(self, text: str) -> None: ...
    def set_liveness_state(self, state: str) -> None: ...
    def set_camera_error(self, message: str | None) -> None: ...


class EnrollView(Protocol):
    def show_frame(self, rgb: np.ndarray) -> None: ...
    def set_busy(self, busy: bool) -> None: ...
    def set_progress(self, text: str, fraction: float) -> None: ...
    def set_scanning(self, on: bool) -> None: ...
    def set_qr(self, text: str, code: str, server: str) -> None: ...


class StatusView(Protocol):
    def set_status_data(self, data: dict[str, Any]) -> None: ...


class LockView(Protocol):
    @property
    def selected(self) -> tuple[str, str] | None: ...
    def set_lockout(self, seconds: float) -> None: ...


class ResultView(Protocol):
    def show_result(self, text: str) -> None: ...


@dataclass
class Built:
    """A step's screen and where the window's notices go on it (None: the screen has no line)."""

    widget: QWidget
    notice: NoticeView | None = None
