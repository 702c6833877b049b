"""Verification and ingest throughput. Standalone: makes its own roll, keys and stores.

    .venv/bin/python bench/bench_verify.py [--rows 1000000] [--records 4000] [--no-pg]
        [--roll-cache /tmp/roll-200k.csv]  (generate the roll once, reuse it on later runs)

1. A synthetic roll of --rows citizens (fieldkit-testdata's generator) as CSV; `roll import`
   time on SQLite and PostgreSQL.
2. Ingest: --records sealed envelopes (sync's Sealer, tiny images) through `Ingestor.ingest`
   (open, verify signature, store with the signed ack) by 1 and 2 concurrent workers
   (threads, each with its own connection), on SQLite and PostgreSQL. In-process: no TLS,
   no broker; the network path is measured by bench/bench_sync.py.
3. Verification: `Verifier.run_until_idle` over those records against the roll (records/s),
   with citizens drawn from the roll (valid, duplicates, out of scope, bajas...).
PostgreSQL: $FIELDKIT_PG, else a temporary cluster from Debian's package.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric import ed25519

from kiosk.testdata.roll import generate_roll, read_roll, write_roll
from server_stub.core.store import DeviceEntry, open_store
from server_stub.ingest.ingest import Ingestor
from server_stub.verify import processes, roll, verify
from sync.wire.envelope import CLASSIC
from sync.wire.envelope_open import ServerPrivateKey
from sync.wire.sealing import Sealer
from tests.helpers.outbox import tiny_record
from tests.helpers.pg import PG_ENV, PgCluster, create_database

T0 = 1_790_000_000_000


def make_envelopes(rows: list, n: int, seal_key: ServerPrivateKey,
                   dev_key: ed25519.Ed25519PrivateKey) -> list[bytes]:
    rng = random.Random(5)
    sealer = Sealer("dev-bench", dev_key, seal_key.public_key())
    out = []
    for i in range(n):
        c = rows[rng.randrange(len(rows))] if rng.random() < 0.95 else None
        base = tiny_record("dev-bench", seed=i, image_bytes=2000)
        cred = replace(base.credential, cic=c.cic if c else "111111111",
                       id_ciudadano=c.identificador if c else "222222222")
        rec = replace(base, credential=cred, process_id="pres", aspirant_id=f"asp-{i % 3}", folio=f"B-{i}")
        out.append(sealer.seal(rec).data)
    return out


def run_ingest(url: str, envs: list[bytes], workers: int, seal_key, sign_key, dev_pub: bytes) -> float:
    store = open_store(url)
    store.put_device(DeviceEntry("dev-bench", dev_pub, None, "active", 0, 0), replace=True)
    ing = Ingestor(store, [seal_key], sign_key)
    chunks = [envs[i::workers] for i in range(workers)]

    def work(chunk: list[bytes]) -> None:
        for e in chunk:
            r = ing.ingest(e, transport="bench", peer_device_id="dev-bench")
            assert r.ack is not None

    threads = [threading.Thread(target=work, args=(c,)) for c in chunks]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    dt = time.perf_counter() - t
    assert store.count_records() == len(envs)
    store.close()
    return len(envs) / dt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=4000)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--roll-cache", type=Path, help="roll CSV: read it if it exists, else generate it there")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    roll_csv = a.roll_cache or tmp / "roll.csv"
    t = time.perf_counter()
    if a.roll_cache and a.roll_cache.exists():
        rows = read_roll(roll_csv)
        print(f"roll: {len(rows)} rows read from {roll_csv} in {time.perf_counter() - t:.1f} s")
    else:
        rows = list(generate_roll(a.rows, seed=3))
        write_roll(roll_csv, rows)
        print(f"roll: {a.rows} rows generated and written in {time.perf_counter() - t:.1f} s")
    seal_key = ServerPrivateKey.generate(CLASSIC)
    sign_key = ed25519.Ed25519PrivateKey.generate()
    dev_key = ed25519.Ed25519PrivateKey.generate()
    envs = make_envelopes(rows, a.records, seal_key, dev_key)
    dev_pub = dev_key.public_key().public_bytes_raw()
    cluster = None
    backends: list[tuple[str, object]] = [("sqlite", lambda tag: f"sqlite:{tmp}/{tag}.db")]
    if not a.no_pg:
        server_url = os.environ.get(PG_ENV)
        if not server_url:
            cluster = PgCluster()
            cluster.start()
            server_url = cluster.url
        backends.append(("postgresql", lambda tag: create_database(server_url)))
    try:
        for name, mk in backends:
            for workers in (1, 2):
                rate = run_ingest(mk(f"ingest{workers}"), envs, workers, seal_key, sign_key, dev_pub)
                print(f"{name}: ingest {workers} worker(s): {rate:.0f} records/s ({a.records} records)")
            url = mk("verify")
            store = open_store(url)
            t = time.perf_counter()
            res = roll.import_roll(store, roll_csv)
            print(f"{name}: roll import {res.rows} rows, {res.secciones} secciones in "
                  f"{time.perf_counter() - t:.1f} s ({res.rows / (time.perf_counter() - t):.0f} rows/s)")
            processes.define_process(store, "pres", "presidencia", "Presidencia", 0, 2**42)
            for i in range(3):
                processes.add_aspirant(store, "pres", f"asp-{i}", f"Aspirante {i}")
            store.close()
            run_ingest(url, envs, 2, seal_key, sign_key, dev_pub)
            store = open_store(url)
            v = verify.Verifier(store, batch=500)
            t = time.perf_counter()
            n = v.run_until_idle()
            dt = time.perf_counter() - t
            print(f"{name}: verification {n} records in {dt:.2f} s = {n / dt:.0f} records/s "
                  f"against {res.rows} rows; verdicts {verify.counts(store)}")
            store.close()
    finally:
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
