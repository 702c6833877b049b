"""The installed package's version: the one look-up (records, heartbeats, diagnostics)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "apoyo-fieldkit"
UNKNOWN = "0+unknown"  # a source tree that was never installed


def package_version() -> str:
    """The version pip installed, or ``0+unknown``."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return UNKNOWN
