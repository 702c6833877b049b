"""Outbox and sealing benchmarks (figures, not tests).

    .venv/bin/python bench/bench_outbox.py [--big N] [--quick]

Prints: save latency p50/p95 (JPEG encode; serialise + seal + commit), bytes per record
and overhead ratios, puts/s, erases/s, next-batch and counts latency at 10 and at N
(default 10,000) pending, and the X25519 vs ML-KEM-768+X25519 suite cost.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync.outbox.keyfile import create_key_file
from sync.outbox.outbox import Outbox
from sync.wire.envelope import CLASSIC, HYBRID
from sync.wire.ids import uuid7
from sync.wire.record import Record, encode_record
from tests.helpers.outbox import Keys, card_record, make_keys, tiny_record


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def ms(x: float) -> str:
    return f"{x * 1000:7.2f} ms"


def jpeg_cost(n: int) -> None:
    import random

    import skimage.data

    from kiosk.testdata.cards import sample_card
    from sync.wire.imaging import encode_image, render_signature
    from sync.wire.record import ImageKind
    from tests.helpers.outbox import synthetic_signature

    front, back, truth = sample_card(7)
    x, y, w, h = truth["front"]["face_box"]
    selfie = skimage.data.astronaut()
    sig = synthetic_signature(random.Random(1))
    times = []
    for _ in range(n):
        t = time.perf_counter()
        encode_image(front, ImageKind.CARD_FRONT)
        encode_image(back, ImageKind.CARD_BACK)
        encode_image(front[y : y + h, x : x + w], ImageKind.FACE_CROP)
        encode_image(selfie, ImageKind.SELFIE)
        render_signature(sig)
        times.append(time.perf_counter() - t)
    print(f"image encoding (4 JPEG + signature PNG)  p50 {ms(pct(times, 50))}"
          f"  p95 {ms(pct(times, 95))}")


def save_latency(keys: Keys, rec: Record, tmp: Path, n: int) -> None:
    key = create_key_file(tmp / "lat.key")
    ob = Outbox.create(tmp / "lat.db", key, keys.device_id, "7KQ2")
    sealer = keys.sealer()
    t_ser, t_seal, t_put = [], [], []
    for _ in range(n):
        r = replace(rec, record_id=uuid7(), folio="7KQ2-00001-0")
        t = time.perf_counter()
        encode_record(r)
        t_ser.append(time.perf_counter() - t)
        t = time.perf_counter()
        sealer.seal(r)
        t_seal.append(time.perf_counter() - t)
        t = time.perf_counter()
        ob.put(r, sealer)  # serialise + seal + INSERT + durable COMMIT
        t_put.append(time.perf_counter() - t)
    ob.close()
    print(f"serialise (CBOR)                         p50 {ms(pct(t_ser, 50))}  p95 {ms(pct(t_ser, 95))}")
    print(f"serialise + seal                         p50 {ms(pct(t_seal, 50))}  p95 {ms(pct(t_seal, 95))}")
    print(f"save = serialise + seal + commit (put)   p50 {ms(pct(t_put, 50))}  p95 {ms(pct(t_put, 95))}")


def sizes(keys: Keys, rec: Record) -> None:
    data = encode_record(replace(rec, folio="7KQ2-00001-0"))
    env = keys.sealer().seal(replace(rec, folio="7KQ2-00001-0")).data
    img = rec.image_bytes()
    print("images: " + ", ".join(f"{i.kind.value} {len(i.data) / 1000:.1f} KB"
                                 for i in rec.images))
    print(f"record {len(data)} B, images {img} B, envelope {len(env)} B")
    from sync.wire.record import pack_stroke

    payload = img + sum(len(pack_stroke(st, True)) for st in rec.signature.strokes)
    payload += sum(len(q) for q in rec.credential.qr)
    print(f"record framing overhead (record - images - strokes - QR bytes) / images: "
          f"{(len(data) - payload) / img:.2%}  ({len(data) - payload} B)")
    print(f"record non-image bytes / images:                      {(len(data) - img) / img:.2%}")
    print(f"protocol overhead (envelope - record) / envelope:     "
          f"{(len(env) - len(data)) / len(env):.2%}  ({len(env) - len(data)} B)")
    print(f"everything but image bytes / envelope:                {(len(env) - img) / len(env):.2%}")


def scale(keys: Keys, tmp: Path, level: int, rounds: int, image_bytes: int) -> None:
    key = create_key_file(tmp / f"s{level}.key")
    ob = Outbox.create(tmp / f"s{level}.db", key, keys.device_id, "7KQ2")
    sealer, verifier = keys.sealer(), keys.verifier()
    t0 = time.perf_counter()
    for i in range(level):
        ob.put(tiny_record(seed=i, image_bytes=image_bytes), sealer)
    fill = time.perf_counter() - t0
    # Steady state around `level` pending: put `rounds`, then erase the `rounds` oldest.
    drafts = [tiny_record(seed=level + i, image_bytes=image_bytes) for i in range(rounds)]
    put_t = []
    for r in drafts:
        t = time.perf_counter()
        ob.put(r, sealer)
        put_t.append(time.perf_counter() - t)
    puts = rounds / sum(put_t)
    t_batch, t_counts = [], []
    for _ in range(50):
        t = time.perf_counter()
        ob.next_batch(20)
        t_batch.append(time.perf_counter() - t)
        t = time.perf_counter()
        ob.counts()
        ob.oldest_pending_age_s()
        t_counts.append(time.perf_counter() - t)
    items = ob.next_batch(rounds)
    acks = [keys.ack_for(it) for it in items]
    erase_t = []
    for a in acks[: rounds // 2]:
        t = time.perf_counter()
        ob.acknowledge(a, verifier)
        erase_t.append(time.perf_counter() - t)
    erases = len(erase_t) / sum(erase_t)
    t = time.perf_counter()
    for k in range(rounds // 2, rounds, 20):
        ob.acknowledge_many(acks[k : k + 20], verifier)
    erases_batch = (rounds - rounds // 2) / (time.perf_counter() - t)
    c = ob.counts()
    assert c.unacknowledged == level, c
    size = sum(p.stat().st_size for p in tmp.glob(f"s{level}.db*"))
    ob.close()
    print(f"{level:>6} pending ({size / 1e6:7.1f} MB, filled in {fill:5.1f} s): "
          f"put {puts:4.0f}/s (p50 {statistics.median(put_t) * 1e3:.2f} ms)  "
          f"erase {erases:4.0f}/s (p50 {statistics.median(erase_t) * 1e3:.2f} ms)  "
          f"erase in batches of 20 {erases_batch:4.0f}/s  "
          f"next_batch(20) {statistics.median(t_batch) * 1e3:.2f} ms  "
          f"counts+oldest {statistics.median(t_counts) * 1e6:.0f} us")


def suites(n: int) -> None:
    rec = replace(tiny_record(seed=1, image_bytes=30_000), folio="7KQ2-00001-0")
    plain = len(encode_record(rec))
    for suite in (CLASSIC, HYBRID):
        keys = make_keys(suite)
        sealer = keys.sealer()
        seal_t, open_t = [], []
        for _ in range(n):
            t = time.perf_counter()
            env = sealer.seal(rec).data
            seal_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            keys.open(env)
            open_t.append(time.perf_counter() - t)
        # Pure HPKE cost: same plaintext, no CBOR, no signature.
        from sync.wire.sealing import hpke_suite

        hs, pk = hpke_suite(suite), keys.server_seal.public_key().hpke_key()
        t = time.perf_counter()
        for _ in range(n):
            hs.encrypt(b"x" * 32, pk, b"info")
        hpke_only = (time.perf_counter() - t) / n
        print(f"{suite.name:16} seal p50 {ms(pct(seal_t, 50))}  server open p50 "
              f"{ms(pct(open_t, 50))}  HPKE encrypt (32 B) {hpke_only * 1e3:.3f} ms  "
              f"envelope - record = {len(env) - plain} B")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", type=int, default=10_000)
    ap.add_argument("--image-bytes", type=int, default=30_000,
                    help="bytes per image (3 images) in the scale test; default ~ a typical record")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    n = 20 if a.quick else 100
    keys = make_keys()
    rec, _ = card_record(7)
    with tempfile.TemporaryDirectory(dir=Path.home()) as d:
        tmp = Path(d)
        print("== save latency (typical record: card front/back, face, selfie, signature)")
        jpeg_cost(n // 2)
        save_latency(keys, rec, tmp, n)
        print("== bytes")
        sizes(keys, rec)
        print("== suites (record of ~90 KB)")
        suites(n)
        print("== scale")
        scale(keys, tmp, 10, 200, a.image_bytes)
        scale(keys, tmp, a.big, 200, a.image_bytes)


if __name__ == "__main__":
    main()
