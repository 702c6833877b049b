"""Free storage via os.statvfs, on the real file system."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hardware.storage import free_bytes, storage_status


def test_matches_statvfs_and_disk_usage(tmp_path: Path) -> None:
    st = storage_status(tmp_path)
    vfs = os.statvfs(tmp_path)
    assert st.total_bytes == vfs.f_blocks * vfs.f_frsize
    usage = shutil.disk_usage(tmp_path)
    assert abs(st.free_bytes - usage.free) < 64 * 1024 * 1024  # both read the same counters
    assert 0.0 <= st.used_fraction <= 1.0
    assert st.read_only is False


def test_a_path_that_does_not_exist_yet_measures_its_parent(tmp_path: Path) -> None:
    st = storage_status(tmp_path / "outbox" / "not" / "yet")
    assert st.path == str(tmp_path)
    assert storage_status(tmp_path / "outbox").path == str(tmp_path)
    assert free_bytes(tmp_path / "outbox") > 0
