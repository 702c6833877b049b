"""The SQLCipher outbox: operations, key handling and failure handling (real SQLCipher)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sync.outbox.errors import (
    KeyFileError,
    OutboxCorruptError,
    OutboxDiskFullError,
    OutboxError,
    OutboxReadOnlyError,
    OutboxStateError,
    OutboxWrongKeyError,
)
from sync.outbox.keyfile import create_key_file, key_pragma, load_key
from sync.outbox.outbox import IN_FLIGHT, PENDING, Outbox
from sync.wire.folio import parse_folio
from tests.helpers.outbox import can_mount, make_keys, new_outbox, remount, tiny_record, tmpfs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "outbox.md"


def test_put_batch_in_flight_and_counts(tmp_path: Path) -> None:
    keys = make_keys()
    ob, _ = new_outbox(tmp_path, keys)
    recs = [tiny_record(seed=i) for i in range(5)]
    results = [ob.put(r, keys.sealer()) for r in recs]
    assert [parse_folio(r.folio).seq for r in results] == [1, 2, 3, 4, 5]
    batch = ob.next_batch(3)
    assert [b.record_id for b in batch] == [r.record_id for r in recs[:3]]
    for item, rec, res in zip(batch, recs, results, strict=False):
        opened = keys.open(item.envelope)
        assert opened.record.folio == res.folio == item.folio
        assert opened.sha256 == item.envelope_sha256 and opened.record.credential == rec.credential
    ob.mark_in_flight([b.record_id for b in batch])
    c = ob.counts()
    assert (c.pending, c.in_flight, c.unacknowledged, c.put_total) == (2, 3, 5, 5)
    assert [b.record_id for b in ob.next_batch(10, retry_after_s=60)] == \
        [r.record_id for r in recs[3:]]
    again = ob.next_batch(10, retry_after_s=0)
    assert len(again) == 5 and {b.state for b in again} == {PENDING, IN_FLIGHT}
    assert {b.attempts for b in again if b.state == IN_FLIGHT} == {1}
    assert ob.requeue_in_flight() == 3
    assert ob.counts().in_flight == 0 and ob.counts().pending == 5
    ob.close()


def test_oldest_pending_age(tmp_path: Path) -> None:
    keys = make_keys()
    ob, _ = new_outbox(tmp_path, keys)
    assert ob.oldest_pending_age_s() is None
    ob.put(tiny_record(seed=1), keys.sealer())
    ob.put(tiny_record(seed=2), keys.sealer())
    first = ob.next_batch(1)[0]
    assert ob.oldest_pending_age_s(now_ms=first.created_ms + 90_000) == pytest.approx(90.0)
    ob.mark_in_flight([first.record_id])  # still unacknowledged, still counts
    assert ob.oldest_pending_age_s(now_ms=first.created_ms + 90_000) == pytest.approx(90.0)
    ob.acknowledge(keys.ack_for(first), keys.verifier())
    second = ob.next_batch(1)[0]
    assert ob.oldest_pending_age_s(now_ms=second.created_ms + 5_000) == pytest.approx(5.0)
    ob.close()


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    keys = make_keys()
    ob, key = new_outbox(tmp_path, keys)
    folios = [ob.put(tiny_record(seed=i), keys.sealer()).folio for i in range(4)]
    path = ob.path
    ob.close()
    with Outbox.open_with_key_file(path, tmp_path / "outbox.key") as ob2:
        assert ob2.folios() == folios and ob2.device_id == keys.device_id
        assert ob2.check_integrity() == []
    with pytest.raises(OutboxStateError):
        Outbox.create(path, key, keys.device_id, "7KQ2")
    with pytest.raises(OutboxError, match="no outbox"):
        Outbox.open(tmp_path / "missing.db", key)


def test_key_file_rules(tmp_path: Path) -> None:
    kf = tmp_path / "k"
    key = create_key_file(kf)
    assert (kf.stat().st_mode & 0o777) == 0o600 and load_key(kf) == key
    with pytest.raises(KeyFileError, match="already exists"):
        create_key_file(kf)
    os.chmod(kf, 0o644)
    with pytest.raises(KeyFileError, match="0644"):
        load_key(kf)
    os.chmod(kf, 0o600)
    for bad in (b"", b"zz" * 32, key.hex().encode()[:-2], key.hex().encode() + b"00",
                b"x'" + key.hex().encode() + b"'"):
        kf.write_bytes(bad)
        with pytest.raises(KeyFileError, match="64 hex"):
            load_key(kf)
    with pytest.raises(KeyFileError, match="does not exist"):
        load_key(tmp_path / "nope")
    with pytest.raises(KeyFileError):
        key_pragma(b"short")
    assert key_pragma(bytes(range(32))) == f"PRAGMA key = \"x'{bytes(range(32)).hex()}'\""


def _files(dirpath: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(dirpath.iterdir())
            if p.is_file() and not p.name.endswith("-shm")}


def test_wrong_key_is_named_and_alters_nothing(tmp_path: Path) -> None:
    keys = make_keys()
    ob, key = new_outbox(tmp_path, keys)
    for i in range(3):
        ob.put(tiny_record(seed=i), keys.sealer())
    path = ob.path
    ob.close()
    before = _files(path.parent)
    with pytest.raises(OutboxWrongKeyError, match="key does not open"):
        Outbox.open(path, os.urandom(32))
    assert _files(path.parent) == before
    with Outbox.open(path, key) as ob2:
        assert len(ob2.folios()) == 3


def test_corrupted_file_is_named_and_alters_nothing(tmp_path: Path) -> None:
    keys = make_keys()
    ob, key = new_outbox(tmp_path, keys)
    for i in range(6):
        ob.put(tiny_record(seed=i, image_bytes=3000), keys.sealer())
    path = ob.path
    ob.close()
    good = path.read_bytes()
    # Damage inside page 1's encrypted area: the key is right, the header is not.
    bad = bytearray(good)
    bad[200] ^= 0xFF
    path.write_bytes(bytes(bad))
    with pytest.raises(OutboxCorruptError, match="corrupted"):
        Outbox.open(path, key)
    assert path.read_bytes() == bytes(bad)
    # Damage a data page in the middle: opening works, reading it names the corruption.
    bad = bytearray(good)
    bad[len(good) // 2 + 100] ^= 0xFF
    path.write_bytes(bytes(bad))
    with Outbox.open(path, key) as ob2:
        assert ob2.check_integrity() != []
        with pytest.raises(OutboxCorruptError):
            ob2.next_batch(100)
    # Not a database at all.
    path.write_bytes(os.urandom(len(good)))
    with pytest.raises(OutboxWrongKeyError):
        Outbox.open(path, key)
    path.write_bytes(good)
    with Outbox.open(path, key) as ob3:
        assert len(ob3.next_batch(100)) == 6


def test_failed_put_leaves_no_partial_row_and_keeps_the_sequence(tmp_path: Path) -> None:
    keys = make_keys()
    ob, _ = new_outbox(tmp_path, keys)
    rec = tiny_record(seed=1)
    ob.put(rec, keys.sealer())
    before = (ob.folios(), ob.counts())
    with pytest.raises(OutboxError, match="UNIQUE"):
        ob.put(rec, keys.sealer())  # same record id twice
    with pytest.raises(ValueError):
        ob.put(tiny_record(seed=2, device_id="dev-0002"), keys.sealer())  # seal fails mid-put
    assert (ob.folios(), ob.counts()) == before
    assert parse_folio(ob.put(tiny_record(seed=3), keys.sealer()).folio).seq == 2
    ob.close()


def _fill_until_full(ob: Outbox, keys, start: int) -> tuple[int, OutboxDiskFullError]:  # type: ignore[no-untyped-def]
    for i in range(start, start + 10_000):
        try:
            ob.put(tiny_record(seed=i, image_bytes=30_000), keys.sealer())
        except OutboxDiskFullError as e:
            return i, e
    raise AssertionError("never ran out of space")


def test_disk_full(tmp_path: Path) -> None:
    keys = make_keys()
    mnt = tmp_path / "small"
    if can_mount():
        ctx = tmpfs(mnt, "3m")
    else:  # without root: SQLite's own page limit gives the same SQLITE_FULL path
        mnt.mkdir()
        ctx = open(os.devnull)  # noqa: SIM115
    with ctx:
        key = create_key_file(tmp_path / "k")
        ob = Outbox.create(mnt / "outbox.db", key, keys.device_id, "7KQ2")
        ballast = mnt / "ballast"
        if can_mount():
            ballast.write_bytes(b"\0" * 400_000)
        else:
            ob._conn.execute("PRAGMA max_page_count = 700")
        n, err = _fill_until_full(ob, keys, 0)
        assert n > 5 and "no space left" in str(err)
        stored = ob.folios()
        counts = ob.counts()
        # A second failed put changes nothing either.
        with pytest.raises(OutboxDiskFullError):
            ob.put(tiny_record(seed=999_999, image_bytes=30_000), keys.sealer())
        assert ob.folios() == stored and ob.counts() == counts and len(stored) == n
        # Everything stored before the failure is intact (another connection, server open).
        with Outbox.open(mnt / "outbox.db", key) as other:
            items = other.next_batch(10_000)
            assert [i.folio for i in items] == stored
            for it in items:
                assert keys.open(it.envelope).record.folio == it.folio
        # Space comes back: saving works again, the folio sequence continues without a gap.
        if can_mount():
            ballast.unlink()
        else:
            ob._conn.execute("PRAGMA max_page_count = 100000")
        res = ob.put(tiny_record(seed=10**6), keys.sealer())
        assert parse_folio(res.folio).seq == n + 1
        ob.close()


def test_read_only_file_system(tmp_path: Path) -> None:
    keys = make_keys()
    mnt = tmp_path / "ro"
    key = create_key_file(tmp_path / "k")
    if not can_mount():  # without root: a read-only open of the same file
        mnt.mkdir()
        ob = Outbox.create(mnt / "outbox.db", key, keys.device_id, "7KQ2")
        ob.put(tiny_record(seed=1), keys.sealer())
        ob.close()
        with Outbox.open(mnt / "outbox.db", key, readonly=True) as ro, \
                pytest.raises(OutboxReadOnlyError):
            ro.put(tiny_record(seed=2), keys.sealer())
        return
    with tmpfs(mnt, "4m"):
        ob = Outbox.create(mnt / "outbox.db", key, keys.device_id, "7KQ2")
        folios = [ob.put(tiny_record(seed=i), keys.sealer()).folio for i in range(3)]
        ob.close()
        before = _files(mnt)
        remount(mnt, "ro")
        with pytest.raises(OutboxReadOnlyError, match="read-only"):
            Outbox.open(mnt / "outbox.db", key)
        with Outbox.open(mnt / "outbox.db", key, readonly=True) as ro:
            assert ro.folios() == folios  # the agent can still read and send
            with pytest.raises(OutboxReadOnlyError):
                ro.put(tiny_record(seed=9), keys.sealer())
            with pytest.raises(OutboxReadOnlyError):
                ro.acknowledge(keys.ack_for(ro.next_batch(1)[0]), keys.verifier())
        remount(mnt, "rw")
        assert _files(mnt) == before
        with Outbox.open(mnt / "outbox.db", key) as ob2:
            assert ob2.folios() == folios


def test_concurrent_puts_from_threads(tmp_path: Path) -> None:
    keys = make_keys()
    ob, _ = new_outbox(tmp_path, keys)
    sealer = keys.sealer()
    out: list[str] = []

    def worker(base: int) -> None:
        for i in range(15):
            out.append(ob.put(tiny_record(seed=base + i), sealer).folio)

    threads = [threading.Thread(target=worker, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 60 and sorted(out) == ob.folios()
    ob.close()


def test_plain_sqlite_cannot_read_it(tmp_path: Path) -> None:
    keys = make_keys()
    ob, _ = new_outbox(tmp_path, keys)
    ob.put(tiny_record(seed=1), keys.sealer())
    ob.close()
    conn = sqlite3.connect(ob.path)
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        conn.execute("SELECT * FROM sqlite_master").fetchall()
    conn.close()
    assert not ob.path.read_bytes().startswith(b"SQLite format 3")


def _documented_session() -> list[str]:
    """The CLI session in docs/outbox.md (the block after the 'cli-session' marker)."""
    text = DOCS.read_text()
    m = re.search(r"<!-- cli-session -->\s*```sql\n(.*?)```", text, re.S)
    assert m, "docs/outbox.md lacks the cli-session block"
    return [s.strip() for s in m.group(1).split(";\n") if s.strip() and
            not s.strip().startswith("--")]


CHILD = r"""
import sys, sqlcipher3
conn = sqlcipher3.connect(sys.argv[1])
for stmt in sys.stdin.read().split("\x1e"):
    for row in conn.execute(stmt).fetchall():
        print("|".join(str(v) for v in row))
"""


def test_separate_process_opens_it_with_only_the_documented_pragmas(tmp_path: Path) -> None:
    keys = make_keys()
    ob, key = new_outbox(tmp_path, keys)
    folios = [ob.put(tiny_record(seed=i), keys.sealer()).folio for i in range(3)]
    stmts = _documented_session()
    pragmas = [s for s in stmts if s.upper().startswith("PRAGMA")]
    assert pragmas == ['PRAGMA key = "x\'<64 hex digits from the key file>\'"'], pragmas
    script = "\x1e".join(s.replace("<64 hex digits from the key file>", key.hex())
                         for s in stmts)
    # The device's own connection is still open (WAL): a reader must see committed rows.
    out = subprocess.run([sys.executable, "-c", CHILD, str(ob.path)], input=script,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    for f in folios:
        assert f in out
    ob.close()
    out = subprocess.run([sys.executable, "-c", CHILD, str(ob.path)], input=script,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert all(f in out for f in folios)
    wrong = script.replace(key.hex(), os.urandom(32).hex())
    res = subprocess.run([sys.executable, "-c", CHILD, str(ob.path)], input=wrong,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "file is not a database" in res.stderr
