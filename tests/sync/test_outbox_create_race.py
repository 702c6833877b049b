"""A new outbox appears whole: real SQLCipher, real processes started together.

The sync agent opens the outbox the moment its path exists, so a creator racing an opener
must never show a file without its tables; two creators racing must end with one outbox
that both use. An old-style half-made file is named as such when opened.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from queue import Queue

import pytest
import sqlcipher3
from cryptography.hazmat.primitives.asymmetric import ed25519

from sync.outbox.errors import OutboxCorruptError, OutboxStateError
from sync.outbox.keyfile import create_key_file, key_pragma
from sync.outbox.outbox import Outbox
from sync.wire.envelope import HYBRID
from sync.wire.envelope_open import ServerPrivateKey
from tests.helpers.outbox import DEVICE_ID, Keys, make_keys, tiny_record

ROUNDS = 30
PREFIX = "7KQ2"


def _round_path(base: str, i: int) -> Path:
    return Path(base) / f"r{i:02d}" / "outbox.db"


def _creator(base: str, key: bytes, barrier: Barrier, out: Queue[tuple[int, str]]) -> None:
    for i in range(ROUNDS):
        barrier.wait()
        try:
            Outbox.create(_round_path(base, i), key, DEVICE_ID, PREFIX).close()
            out.put((i, "ok"))
        except Exception as e:  # reported to the parent, which fails the test
            out.put((i, f"create: {type(e).__name__}: {e}"))


def _opener(base: str, key: bytes, barrier: Barrier, out: Queue[tuple[int, str]]) -> None:
    """Like the agent's _open_outbox: poll for the path, open it as soon as it exists."""
    for i in range(ROUNDS):
        p = _round_path(base, i)
        barrier.wait()
        deadline = time.monotonic() + 5
        while not p.exists() and time.monotonic() < deadline:
            pass
        try:
            with Outbox.open(p, key) as ob:
                seen = (ob.device_id, ob.folio_prefix, ob.counts().unacknowledged)
            out.put((i, "ok" if seen == (DEVICE_ID, PREFIX, 0) else f"open: saw {seen}"))
        except Exception as e:
            out.put((i, f"open: {type(e).__name__}: {e}"))


def _creator_putting(base: str, key: bytes, keys_hex: tuple[str, str, str], seed: int,
                     barrier: Barrier, out: Queue[tuple[int, str]]) -> None:
    """Create the outbox and save one record, as the kiosk's save does: a creator that finds the
    winner's outbox already in place (it started late) opens it; one that loses at the link
    step is handed the winner's by `Outbox.create` itself."""
    seal, sign, ack = (bytes.fromhex(h) for h in keys_hex)
    keys = Keys(DEVICE_ID, ServerPrivateKey(HYBRID, seal),
                ed25519.Ed25519PrivateKey.from_private_bytes(sign),
                ed25519.Ed25519PrivateKey.from_private_bytes(ack))
    sealer = keys.sealer()
    for i in range(ROUNDS):
        barrier.wait()
        p = _round_path(base, i)
        try:
            try:
                ob = Outbox.create(p, key, DEVICE_ID, PREFIX)
            except OutboxStateError:
                ob = Outbox.open(p, key)
            with ob:
                out.put((i, ob.put(tiny_record(seed=seed * 1000 + i), sealer).folio))
        except Exception as e:
            out.put((i, f"create: {type(e).__name__}: {e}"))


def _race(targets: list[tuple[object, ...]]) -> dict[int, list[str]]:
    """Run each (function, *args) in its own process, all meeting at a barrier per round;
    return what each round reported."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(len(targets)), ctx.Queue()
    procs = [ctx.Process(target=t[0], args=(*t[1:], barrier, out)) for t in targets]  # type: ignore[arg-type]
    for p in procs:
        p.start()
    got: dict[int, list[str]] = {}
    try:
        for _ in range(ROUNDS * len(targets)):
            i, what = out.get(timeout=60)
            got.setdefault(i, []).append(what)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    return got


def _leftovers(base: Path) -> list[str]:
    """Temporary files left behind. A -wal/-shm may stay where two processes used the outbox
    (the last to close could not checkpoint while the other still held it): SQLite's own
    files, reused at the next open, not ours."""
    return sorted(str(f.relative_to(base)) for f in base.rglob("*") if f.is_file()
                  and f.name != "outbox.db" and not f.name.endswith(("-wal", "-shm")))


def test_an_opener_racing_the_creator_never_sees_a_file_without_tables(tmp_path: Path) -> None:
    key = create_key_file(tmp_path / "outbox.key")
    base = tmp_path / "rounds"
    got = _race([(_creator, str(base), key), (_opener, str(base), key)])
    bad = {i: r for i, r in sorted(got.items()) if r != ["ok", "ok"]}
    assert not bad, bad
    assert _leftovers(base) == []  # no temporary file stayed behind
    for i in range(ROUNDS):
        p = _round_path(str(base), i)
        assert p.stat().st_mode & 0o777 == 0o600
        with Outbox.open(p, key) as ob:
            assert ob.check_integrity() == []


def test_two_creators_racing_end_with_one_outbox_both_use(tmp_path: Path) -> None:
    keys = make_keys()
    key = create_key_file(tmp_path / "outbox.key")
    base = tmp_path / "rounds"
    keys_hex = (keys.server_seal.raw.hex(), keys.device_sign.private_bytes_raw().hex(),
                keys.server_ack.private_bytes_raw().hex())
    got = _race([(_creator_putting, str(base), key, keys_hex, 1),
                 (_creator_putting, str(base), key, keys_hex, 2)])
    errors = {i: r for i, r in got.items() if any(x.startswith("create:") for x in r)}
    assert not errors, errors
    assert _leftovers(base) == []
    for i in range(ROUNDS):
        with Outbox.open(_round_path(str(base), i), key) as ob:
            # Both records are in the one outbox left: the loser wrote into the winner's.
            assert sorted(ob.folios()) == sorted(got[i]) and len(set(got[i])) == 2
            assert ob.check_integrity() == []


def _page_without_tables(p: Path, key: bytes) -> None:
    """What the old creator left when cut short, or an opener's first pragma wrote into it:
    one encrypted page, WAL mode, no table."""
    conn = sqlcipher3.connect(str(p), isolation_level=None)
    conn.execute(key_pragma(key))
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()


@pytest.mark.parametrize("kind", ["empty", "no_tables"])
def test_a_half_made_file_is_named_and_left_alone(tmp_path: Path, kind: str) -> None:
    key = create_key_file(tmp_path / "outbox.key")
    p = tmp_path / "outbox.db"
    p.touch(mode=0o600)
    if kind == "no_tables":
        _page_without_tables(p, key)
    before = p.read_bytes()
    for readonly in (False, True):
        with pytest.raises(OutboxCorruptError, match="half-made outbox with no tables"):
            Outbox.open(p, key, readonly=readonly)
    assert p.read_bytes() == before and len(before) == (0 if kind == "empty" else 4096)
    if kind == "empty":  # not even connected to: SQLite's first pragma would write a page
        assert sorted(os.listdir(tmp_path)) == ["outbox.db", "outbox.key"]
