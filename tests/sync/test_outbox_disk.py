"""Nothing readable on disk: no citizen data in any file (raw or decrypted), and after an
erase the envelope's ciphertext is in no file either, free pages and WAL frames included.

The checks decrypt every SQLCipher page themselves (tests.helpers.outbox.disk_views), so
they look at what SQLite wrote, not at the already-encrypted file; the controls at the end
show the same checks fail when secure_delete or the WAL checkpoint is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import sync.outbox.outbox
from sync.outbox.outbox import Outbox, OutboxItem
from sync.wire.envelope import parse
from tests.helpers.outbox import Keys, disk_views, find_in, make_keys, new_outbox, text_needles, tiny_record

CITIZENS = [
    {"nombre": "XOCHIQUETZAL", "apellido_paterno": "IZTACCIHUATL", "apellido_materno": "POPOCA",
     "cic": "918273645", "clave_elector": "IZPPXC91020309M777",
     "email": "xochi.iztac.77@example.org"},
    {"nombre": "CUAUHTEMOC", "apellido_paterno": "TLATELOLCO", "apellido_materno": "ZARAGOZA",
     "cic": "564738291", "clave_elector": "TLZRCU85111509H123",
     "email": "cuau.tlate@example.net"},
]


def _needles() -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for c in CITIZENS:
        for field, value in c.items():
            out[f"{field}={value}"] = text_needles(value)
    return out


def _ct_samples(item: OutboxItem, views: list[tuple[str, bytes]], n: int = 24) -> list[bytes]:
    """24-byte windows spread over the envelope's HPKE ciphertext, keeping those visible in
    the decrypted ``views`` (a window that straddles two overflow pages is not). Asserting
    that most are visible *before* the erase is what makes the later absence meaningful."""
    ct = parse(item.envelope)[0].ct
    step = max(1, (len(ct) - 24) // n)
    windows = [ct[i : i + 24] for i in range(0, len(ct) - 24, step)][:n]
    visible = [w for w in windows if find_in(views, w)]
    assert len(visible) >= 0.75 * len(windows), "decrypted views do not show the ciphertext"
    return visible


def _save(tmp_path: Path, keys: Keys) -> tuple[Outbox, bytes]:
    ob, key = new_outbox(tmp_path, keys)
    for i, c in enumerate(CITIZENS * 3):
        ob.put(tiny_record(seed=i, citizen=c, image_bytes=20_000), keys.sealer())
    return ob, key


def _assert_no_citizen_data(data_dir: Path, key: bytes) -> None:
    views = disk_views(data_dir, key)
    assert any(label.startswith("db:") for label, _ in views)
    for what, needles in _needles().items():
        for needle in needles:
            assert find_in(views, needle) == [], f"{what} found on disk"


def test_no_citizen_data_in_any_file(tmp_path: Path) -> None:
    keys = make_keys()
    ob, key = _save(tmp_path, keys)
    data = ob.path.parent
    names = {p.name for p in data.iterdir()}
    assert names <= {"outbox.db", "outbox.db-wal", "outbox.db-shm"}, names
    # Positive control: decryption works, so clear metadata (the folio) *is* visible in
    # decrypted pages, and nowhere in the raw files.
    views = disk_views(data, key)
    folio = ob.folios()[0].encode()
    hits = find_in(views, folio)
    assert hits and all(not h.startswith("raw:") for h in hits)
    _assert_no_citizen_data(data, key)  # while open: WAL not yet checkpointed
    ob.checkpoint()
    _assert_no_citizen_data(data, key)
    ob.close()
    _assert_no_citizen_data(data, key)  # after close: all in the DB file


def test_erased_ciphertext_is_in_no_file(tmp_path: Path) -> None:
    keys = make_keys()
    ob, key = _save(tmp_path, keys)
    data = ob.path.parent
    items = ob.next_batch(10)
    gone, kept = items[1], items[2]
    views = disk_views(data, key)
    # Control: before the erase the samples are visible to this check.
    gone_samples, kept_samples = _ct_samples(gone, views), _ct_samples(kept, views)
    ob.acknowledge(keys.ack_for(gone), keys.verifier())
    assert not (data / "outbox.db-wal").exists() or (data / "outbox.db-wal").stat().st_size == 0
    views = disk_views(data, key)
    for s in gone_samples:
        assert find_in(views, s) == [], "erased ciphertext still on disk"
    assert all(find_in(views, s) for s in kept_samples)  # the others are untouched
    # A batch erase leaves nothing either.
    rest = [i for i in items if i is not gone]
    samples = [s for i in rest for s in _ct_samples(i, views, 8)]
    done, refused = ob.acknowledge_many([keys.ack_for(i) for i in rest], keys.verifier())
    assert len(done) == len(rest) and not refused
    views = disk_views(data, key)
    assert not [s for s in samples if find_in(views, s)]
    ob.close()
    views = disk_views(data, key)
    assert not [s for s in samples + gone_samples if find_in(views, s)]


@pytest.mark.parametrize("weaken", ["secure_delete_off", "no_checkpoint"])
def test_the_check_fails_without_secure_delete_or_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weaken: str) -> None:
    """Controls: weaken the outbox on purpose and the erase check must catch it."""
    if weaken == "secure_delete_off":
        monkeypatch.setattr(sync.outbox.outbox, "CONNECTION_PRAGMAS", tuple(
            p.replace("secure_delete = ON", "secure_delete = OFF")
            for p in sync.outbox.outbox.CONNECTION_PRAGMAS))
    else:
        monkeypatch.setattr(Outbox, "checkpoint", lambda self: True)
    keys = make_keys()
    ob, key = _save(tmp_path, keys)
    gone = ob.next_batch(1)[0]
    samples = _ct_samples(gone, disk_views(ob.path.parent, key))
    ob.acknowledge(keys.ack_for(gone), keys.verifier())
    assert gone.folio not in ob.folios()  # the row is gone as far as SQL can tell...
    views = disk_views(ob.path.parent, key)
    leaked = [label for s in samples for label in find_in(views, s)]
    # ...but its ciphertext is still on disk: in free DB pages or in stale WAL frames.
    assert leaked
    where = {label.split(":")[0] for label in leaked}
    assert where == ({"db"} if weaken == "secure_delete_off" else {"wal"})
    assert not any(label.startswith("raw:") for label in leaked)
    ob.close()
