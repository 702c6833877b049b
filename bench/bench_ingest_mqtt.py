"""Server-side MQTT ingest (figures, not tests): how many records/s one `fieldkit-server serve`
process stores and acks when the publishers cost almost nothing.

Light publishers (one paho client per device, pre-sealed ~90 KB envelopes, no outbox, no
agent) publish everything at once through the real Mosquitto with TLS; the clock stops
when every signed ack has come back. Rounds alternate the server's `[mqtt] max_batch = 1`
(one commit per record, the baseline) and the default group commit, in this process,
so the ratio is measured against a baseline that ran on the same machine at the same time.
bench/bench_sync.py measures the whole path with real agents.

    .venv/bin/python bench/bench_ingest_mqtt.py [--devices 10] [--per-device 60] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_sync import set_max_batch
from fleet_sim import TYPICAL_IMAGE_BYTES, Testbed, testbed

from tests.helpers.mqtt import TestClient, make_client
from tests.helpers.outbox import tiny_record
from tests.helpers.server import TestDevice

ROOT = "fieldkit/v1/devices"


def one_round(bed: Testbed, first_identity: int, devices: int, per_device: int) -> float:
    """Records/s from the first publish to the last ack, for fresh registered devices."""
    idents = list(bed.pki.devices.values())[first_identity:first_identity + devices]
    devs = [TestDevice.create(i, bed.server) for i in idents]
    envs = [[d.sealer.seal(replace(tiny_record(d.id, seed=k, image_bytes=TYPICAL_IMAGE_BYTES),
                                   folio=f"B-{k:05d}")).data for k in range(per_device)] for d in devs]
    clients = []
    for d in devs:
        c = TestClient(make_client(bed.pki.ca_cert, d.identity), bed.broker)
        if not c.connect() or c.subscribe(f"{ROOT}/{d.id}/acks")[0].is_failure:
            raise RuntimeError(f"{d.id}: cannot connect or subscribe")
        clients.append(c)
    before = bed.server.stored_count()
    t = time.perf_counter()
    for k in range(per_device):
        for c, d, e in zip(clients, devs, envs, strict=True):
            c.publish(f"{ROOT}/{d.id}/records", e[k])
    for c in clients:
        if len(c.wait_messages(per_device, timeout=600)) < per_device:
            raise RuntimeError("acks missing")
    dt = time.perf_counter() - t
    for c in clients:
        c.close()
    if bed.server.stored_count() - before != devices * per_device:
        raise RuntimeError("the server did not store every record once")
    return devices * per_device / dt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=10)
    p.add_argument("--per-device", type=int, default=60)
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args(argv)
    rates: dict[str, list[float]] = {"baseline": [], "batched": []}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        bed = testbed(Path(tmp), 2 * a.rounds * a.devices)
        try:
            used = 0
            for r in range(a.rounds):
                for name, max_batch in (("baseline", 1), ("batched", None)):
                    set_max_batch(bed, max_batch)
                    rate = one_round(bed, used, a.devices, a.per_device)
                    used += a.devices
                    rates[name].append(rate)
                    print(f"round {r + 1} {name:8s} (max_batch={max_batch or 'default'}): "
                          f"{a.devices} devices x {a.per_device} records: {rate:6.1f} records/s", flush=True)
        finally:
            bed.close()
    base, batched = statistics.median(rates["baseline"]), statistics.median(rates["batched"])
    print(f"median: baseline {base:.1f} records/s, group commit {batched:.1f} records/s, "
          f"x{batched / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
