"""Fake picamera2 for tests (see ../README.md). Mirrors the real package's API."""

from .job import Job
from .picamera2 import Picamera2, Preview

__all__ = ["Job", "Picamera2", "Preview"]
