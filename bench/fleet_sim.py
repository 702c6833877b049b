"""Fleet simulator: many devices (real sync agents, each with its own certificate, keys and
SQLCipher outbox) against one ingestion server (a `fieldkit-server serve` process) through
a real Mosquitto on loopback. Prints records/s and ack latency; not a test.

    .venv/bin/python bench/fleet_sim.py --devices 50 --records 20 --transport mqtt

The agents run as threads of this one process, so at large fleets the simulator's own
CPU (TLS, SQLCipher, paho, the GIL) is part of what limits the figure; the server's
capacity is at least what is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from server_stub.deploy.broker_process import Broker
from sync.agent.agent import SyncAgent
from sync.agent.settings import AgentOptions
from sync.wire.ack import Ack
from tests.helpers.agent import AgentDevice, make_device
from tests.helpers.mqtt import PKIPaths, build_pki
from tests.helpers.server import IngestServer

TYPICAL_IMAGE_BYTES = 30_000  # 3 images: an envelope of ~90 KB, like a real record
BENCH_OPTIONS = AgentOptions(poll_s=0.2, backoff_initial_s=0.2, backoff_cap_s=2.0)


@dataclass
class Testbed:
    root: Path
    pki: PKIPaths
    broker: Broker
    server: IngestServer

    def close(self) -> None:
        self.server.close()
        self.broker.stop()


def testbed(root: Path, n_devices: int, mode: str = "process") -> Testbed:
    ids = [f"sim-{i:04d}" for i in range(n_devices)]
    pki = build_pki(root / "pki", ids)
    broker = Broker.create(root / "broker", pki.broker_tls, probe_cert=(pki.server.cert, pki.server.key))
    broker.start()
    server = IngestServer(root / "server", pki, broker, mode=mode)
    server.start()
    return Testbed(root, pki, broker, server)


@dataclass
class Tally:
    expected: int
    acked: int = 0
    latencies: list[float] = field(default_factory=list)
    first_ack: float | None = None
    last_ack: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_acked(self, _ack: Ack, latency: float | None) -> None:
        now = time.monotonic()
        with self.lock:
            self.acked += 1
            if latency is not None:
                self.latencies.append(latency)
            self.first_ack = self.first_ack or now
            self.last_ack = now
            if self.acked >= self.expected:
                self.done.set()


@dataclass
class FleetResult:
    transport: str
    devices: int
    records: int
    seconds: float          # agents started -> last verified erase
    steady_seconds: float   # first -> last verified erase
    latencies: list[float]
    stored: int

    def line(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000 if lat else float("nan")
        p95 = lat[int(0.95 * (len(lat) - 1))] * 1000 if lat else float("nan")
        steady = (self.records - 1) / self.steady_seconds if self.steady_seconds > 0 else float("nan")
        return (f"{self.transport:5s} {self.devices:4d} devices {self.records:5d} records: "
                f"{self.records / self.seconds:7.1f} rec/s overall, {steady:7.1f} rec/s steady, "
                f"send->erase p50 {p50:6.1f} ms p95 {p95:7.1f} ms, stored {self.stored}")


def run_fleet(bed: Testbed, n_devices: int, per_device: int, transport: str,
              image_bytes: int = TYPICAL_IMAGE_BYTES, options: AgentOptions = BENCH_OPTIONS,
              tag: str = "", offset: int = 0) -> FleetResult:
    """Provision ``n_devices`` fresh devices, save ``per_device`` records on each (untimed),
    then start every agent at once and time until every record is verified and erased."""
    before = bed.server.stored_count()
    devs: list[AgentDevice] = []
    for i in range(n_devices):
        ident = list(bed.pki.devices.values())[offset + i]  # each run its own identities
        d = make_device(bed.root / f"dev-{transport}{tag}-{i}", bed.server, ident, transport=transport)
        d.put(per_device, image_bytes=image_bytes)
        devs.append(d)
    tally = Tally(n_devices * per_device)
    agents = [SyncAgent(d.settings, options, on_acked=tally.on_acked) for d in devs]
    t0 = time.monotonic()
    for a in agents:
        a.start()
    ok = tally.done.wait(600)
    t1 = time.monotonic()
    for a in agents:
        a.stop()
    if not ok:
        raise RuntimeError(f"only {tally.acked} of {tally.expected} acked")
    stored = bed.server.stored_count() - before
    return FleetResult(transport, n_devices, tally.expected, t1 - t0,
                       (tally.last_ack or t1) - (tally.first_ack or t0), tally.latencies, stored)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=20)
    p.add_argument("--records", type=int, default=20, help="records per device")
    p.add_argument("--transport", choices=["mqtt", "https"], default="mqtt")
    p.add_argument("--image-bytes", type=int, default=TYPICAL_IMAGE_BYTES)
    ns = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fleet-") as tmp:
        bed = testbed(Path(tmp), ns.devices)
        try:
            r = run_fleet(bed, ns.devices, ns.records, ns.transport, ns.image_bytes)
            print(r.line())
            if r.stored != r.records:
                print(f"MISMATCH: server stored {r.stored}, expected {r.records}")
                return 1
        finally:
            bed.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
