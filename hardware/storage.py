"""Free storage for the path where records are kept (``os.statvfs``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hardware.errors import HardwareError


@dataclass(frozen=True)
class StorageStatus:
    path: str  # the directory actually measured (nearest existing ancestor)
    total_bytes: int
    free_bytes: int  # available to this (unprivileged) user: f_bavail
    read_only: bool

    @property
    def used_fraction(self) -> float:
        if self.total_bytes <= 0:
            return 1.0
        return 1.0 - self.free_bytes / self.total_bytes


def _existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def storage_status(path: Path | str) -> StorageStatus:
    """Space on the file system holding ``path`` (which need not exist yet)."""
    target = _existing(Path(path))
    try:
        st = os.statvfs(target)
    except OSError as exc:
        raise HardwareError(
            "storage",
            "No se pudo consultar el espacio libre del almacenamiento.",
            f"statvfs({target}): {exc}",
        ) from None
    return StorageStatus(
        path=str(target),
        total_bytes=st.f_blocks * st.f_frsize,
        free_bytes=st.f_bavail * st.f_frsize,
        read_only=bool(st.f_flag & os.ST_RDONLY),
    )


def free_bytes(path: Path | str) -> int:
    return storage_status(path).free_bytes
