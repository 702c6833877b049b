"""Errors raised by the hardware layer.

Every error carries a short Spanish ``message`` that the UI can show as is,
a stable ``code`` the caller can branch on, and an optional technical
``detail`` (English, for logs) that is never shown to the auxiliary.
"""

from __future__ import annotations


class HardwareError(Exception):
    """Base class: ``message`` is for the screen, ``detail`` for the log."""

    def __init__(self, code: str, message: str, detail: str | None = None) -> None:
        super().__init__(message if detail is None else f"{message} ({detail})")
        self.code = code
        self.message = message
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, detail={self.detail!r})"
