"""Verification reads the look-up keys stored at ingest (never the whole record, images
included) and looks the roll up once per batch; rows stored before those columns existed are
migrated (additive), decoded once, backfilled, and get the same verdicts. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from kiosk.testdata.roll import Citizen
from server_stub.core.store import DeviceEntry, Store, open_store
from server_stub.core.store_schema import KEY_COLUMNS
from server_stub.ingest.ingest import Ingestor
from server_stub.verify import processes, roll, verify
from sync.wire.envelope import CLASSIC
from sync.wire.envelope_open import ServerPrivateKey
from sync.wire.record import Check, ImageKind, Signature
from sync.wire.sealing import Sealer

T0 = 1_790_000_000_000
PROC = "df-2027"
OLD_RECORDS = """CREATE TABLE records (
    record_id {blob} PRIMARY KEY, device_id TEXT NOT NULL, folio TEXT NOT NULL, created_ms {int} NOT NULL,
    received_ms {int} NOT NULL, transport TEXT NOT NULL, process_id TEXT NOT NULL, aspirant_id TEXT NOT NULL,
    auxiliary_id TEXT NOT NULL, captured_ms {int} NOT NULL, envelope_sha256 {blob} NOT NULL,
    envelope {blob} NOT NULL, record {blob} NOT NULL, ack {blob} NOT NULL)"""


def _url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("pg_database") if backend == "postgresql" else f"sqlite:{tmp_path}/s.db"


def _fill(store: Store, synthetic_roll: tuple[Path, list[Citizen]], support_record, n: int = 40) -> None:
    path, rows = synthetic_roll
    roll.import_roll(store, path)
    here = [c for c in rows if c.estatus == "vigente"]
    ent, df = here[0].entidad, here[0].distrito_federal
    processes.define_process(store, PROC, "diputacion_federal", "D", T0 - 86_400_000, T0 + 30 * 86_400_000)
    processes.add_aspirant(store, PROC, "asp-1", "Uno", entidad=ent, distrito_federal=df)
    processes.add_aspirant(store, PROC, "asp-2", "Dos", entidad=ent, distrito_federal=df)
    seal, dev_key = ServerPrivateKey.generate(CLASSIC), ed25519.Ed25519PrivateKey.generate()
    store.put_device(DeviceEntry("dev-1", dev_key.public_key().public_bytes_raw(), None, "active", 0, 0))
    ing = Ingestor(store, [seal], ed25519.Ed25519PrivateKey.generate())
    sealer = Sealer("dev-1", dev_key, seal.public_key())
    odd = [{"signature": Signature(600, 200, ())}, {"checks": (Check("liveness", False, 0.2, "x"),)},
           {"checks": ()},
           {"checks": (Check("liveness", True, 0.9, ""), Check("integrity", False, 0.8, "screen: x"))},
           {"drop_selfie": True}, {"cic": "12"}]
    for i in range(n):
        citizen = rows[(i * 7) % len(rows)] if i % 9 else None
        ch = dict(odd[(i // 4) % len(odd)]) if i % 4 == 0 else {}
        drop = ch.pop("drop_selfie", False)
        rec = support_record("dev-1", citizen, process_id=PROC, aspirant_id=f"asp-{1 + i % 2}", seed=i,
                             **({"cic": ch.pop("cic")} if "cic" in ch else {}))
        if drop:
            ch["images"] = tuple(im for im in rec.images if im.kind != ImageKind.SELFIE)
        rec = replace(rec, **ch)
        assert ing.ingest(sealer.seal(rec).data, transport="test", peer_device_id="dev-1").ack is not None
    for i in range(0, n, 5):  # a citizen supported twice: duplicates and otro_aspirante
        rec = support_record("dev-1", rows[0], process_id=PROC, aspirant_id=f"asp-{1 + i % 2}", seed=1000 + i)
        ing.ingest(sealer.seal(rec).data, transport="test", peer_device_id="dev-1")


def _verdicts(store: Store) -> dict[str, tuple[str, str]]:
    return {v.folio: (v.verdict, v.reason) for v in verify.verdicts(store)}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_keys_at_ingest_batch_roll_query_and_legacy_rows(backend: str, tmp_path: Path, synthetic_roll,
                                                         support_record,
                                                         request: pytest.FixtureRequest) -> None:
    store = open_store(_url(backend, tmp_path, request))
    try:
        _fill(store, synthetic_roll, support_record)
        keys = store.query(f"SELECT folio, {', '.join(KEY_COLUMNS)} FROM records ORDER BY folio")
        assert all(r[5] is not None for r in keys)
        facts = json.loads(keys[0][5])
        assert set(facts) >= {"signed", "images", "liveness"}
        statements: list[str] = []
        if backend == "sqlite":
            store.raw_connection().set_trace_callback(statements.append)
        v = verify.Verifier(store, batch=16)
        n = v.run_until_idle()
        assert n == store.count_records() == 48
        fresh = _verdicts(store)
        assert {x[0] for x in fresh.values()} >= {verify.VALIDO, verify.DUPLICADO, verify.OTRO_ASPIRANTE,
                                                  verify.NO_ENCONTRADO, verify.INCONSISTENCIA,
                                                  verify.SIMULACION}
        if backend == "sqlite":
            store.raw_connection().set_trace_callback(None)
            roll_q = [s for s in statements if "FROM roll " in s]
            assert len(roll_q) == 3, len(roll_q)  # one per batch of 16, not one per record
            assert not [s for s in statements if "record FROM records" in s]  # nothing decoded

        # Rows from before the key columns: same verdicts, and their keys are backfilled.
        with store.tx() as conn:
            conn.execute(f"UPDATE records SET {', '.join(c + ' = NULL' for c in KEY_COLUMNS)}")
        verify.invalidate(store)
        assert verify.Verifier(store, batch=16).run_until_idle() == 48
        assert _verdicts(store) == fresh
        assert store.query(f"SELECT folio, {', '.join(KEY_COLUMNS)} FROM records ORDER BY folio") == keys
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_older_records_table_is_migrated_in_place(backend: str, tmp_path: Path,
                                                  request: pytest.FixtureRequest) -> None:
    url = _url(backend, tmp_path, request)
    if backend == "sqlite":
        import sqlite3

        con = sqlite3.connect(url.removeprefix("sqlite:"))
        con.execute(OLD_RECORDS.format(blob="BLOB", int="INTEGER"))
        con.execute("INSERT INTO records VALUES (x'01', 'd', 'F', 1, 2, 't', 'p', 'a', 'x', 3, x'02', x'03', "
                    "x'04', x'05')")
        con.commit()
        con.close()
    else:
        import psycopg

        with psycopg.connect(url) as con:
            con.execute(OLD_RECORDS.format(blob="BYTEA", int="BIGINT"))
            con.execute("INSERT INTO records VALUES ('\\x01', 'd', 'F', 1, 2, 't', 'p', 'a', 'x', 3, "
                        "'\\x02', '\\x03', '\\x04', '\\x05')")
    for _ in range(2):  # idempotent
        store = open_store(url)
        try:
            got = store.query(f"SELECT folio, {', '.join(KEY_COLUMNS)} FROM records")
            assert got == [("F",) + (None,) * 5]
        finally:
            store.close()
