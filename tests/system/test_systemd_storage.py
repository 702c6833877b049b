"""Power loss: systemd/check-storage.sh on real loop-mounted file systems (good and bad
mount options), and a power cut simulated on ext4 data=ordered: the block device's image is
copied at an arbitrary moment while mounted (what the card holds when the power goes),
then mounted again (journal replay). Every record whose Outbox.put() returned is there and
the outbox opens clean; a file written without fsync just before the cut is not."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.outbox.keyfile import create_key_file
from sync.outbox.outbox import Outbox
from tests.helpers.outbox import make_keys, tiny_record
from tests.helpers.systemd import CHECK_STORAGE


@contextlib.contextmanager
def loop_fs(tmp: Path, name: str, mkfs: list[str], options: str, size_mb: int = 64) -> Iterator[Path]:
    img = tmp / f"{name}.img"
    with img.open("wb") as f:
        f.truncate(size_mb << 20)
    subprocess.run([*mkfs, str(img)], check=True, capture_output=True, timeout=60)
    mnt = tmp / name
    mnt.mkdir()
    subprocess.run(["mount", "-o", f"loop,{options}", str(img), str(mnt)], check=True, timeout=60)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False, timeout=60)


def check(path: Path) -> tuple[int, str]:
    p = subprocess.run(["bash", str(CHECK_STORAGE), str(path)], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


EXT4 = ["mkfs.ext4", "-q", "-F"]


@pytest.mark.parametrize("mkfs,options,verdict,needle", [
    (EXT4, "data=ordered,noatime", 0, "ok: ext4 data=ordered"),
    (EXT4, "data=journal,commit=5", 0, "ok: ext4 data=journal"),
    (EXT4, "data=writeback", 1, "FAIL: ext4 data=writeback"),
    (EXT4, "data=ordered,barrier=0", 1, "FAIL: write barriers off"),
    (EXT4, "data=ordered,commit=120", 0, "warning: commit=120"),
    ([*EXT4, "-O", "^has_journal"], "defaults", 1, "FAIL: ext4 without a journal"),
], ids=["ordered", "journal", "writeback", "nobarrier", "long-commit", "no-journal"])
def test_check_storage_on_ext4(tmp_path: Path, mkfs: list[str], options: str, verdict: int,
                               needle: str) -> None:
    with loop_fs(tmp_path, "fs", mkfs, options) as mnt:
        data = mnt / "var/lib/fieldkit"
        data.mkdir(parents=True)
        rc, out = check(data)
    assert needle in out, out
    assert ("FAIL" in out) == (verdict == 1), out
    if "swap on /dev/" not in out:  # this machine's own swap may fail the run; not the fs's doing
        assert rc == verdict, out
    if "has_journal" not in " ".join(mkfs) and "without" not in needle:
        assert "ok: ext4 has a journal" in out, out


def test_check_storage_refuses_tmpfs(tmp_path: Path) -> None:
    mnt = tmp_path / "ram"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], check=True)
    try:
        rc, out = check(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
    assert rc == 1 and "FAIL: tmpfs: the outbox would not survive a reboot" in out, out


def test_power_cut_keeps_every_committed_record(tmp_path: Path) -> None:
    keys = make_keys()
    img = tmp_path / "card.img"
    with loop_fs(tmp_path, "card", EXT4, "data=ordered,noatime") as mnt:
        data = mnt / "fieldkit"
        data.mkdir()
        key = create_key_file(mnt / "outbox.key")
        committed = []
        with Outbox.create(data / "outbox.db", key, keys.device_id, "7KQ2") as ob:
            sealer = keys.sealer()
            for i in range(20):
                committed.append(ob.put(tiny_record(keys.device_id, seed=i), sealer).record_id)
            # The power goes now: the kiosk still has the outbox open, nothing was unmounted,
            # and a file was written a moment ago without fsync.
            (data / "sync-state.json.tmp").write_bytes(b"x" * 8192)
            cut = tmp_path / "after-cut.img"
            subprocess.run(["cp", "--sparse=always", str(img), str(cut)], check=True, timeout=60)
    # Power back: the kernel replays the ext4 journal at mount.
    fsck = subprocess.run(["e2fsck", "-fy", str(cut)], capture_output=True, text=True, timeout=120)
    assert fsck.returncode in (0, 1), fsck.stdout + fsck.stderr  # 1 = journal replayed / fixed
    mnt2 = tmp_path / "back"
    mnt2.mkdir()
    subprocess.run(["mount", "-o", "loop", str(cut), str(mnt2)], check=True, timeout=60)
    try:
        with Outbox.open(mnt2 / "fieldkit/outbox.db", key) as ob:
            assert ob.counts().unacknowledged == len(committed)
            assert {i.record_id for i in ob.next_batch(100, retry_after_s=None)} == set(committed)
            assert ob.check_integrity() == []
        # Control: what was not fsynced did not survive, so the image really is a cut.
        tmp_file = mnt2 / "fieldkit/sync-state.json.tmp"
        assert not tmp_file.exists() or tmp_file.stat().st_size < 8192
    finally:
        subprocess.run(["umount", str(mnt2)], check=False, timeout=60)
