"""Field-link benchmark: one device drains its outbox through a simulated weak uplink.

Real sync agent (a thread here), real Mosquitto, `fieldkit-server serve` as a process, and
bench/link_sim.py between the device and the broker (MQTT) or the server (HTTPS). For each
variant, link profile and transport: a fresh device with N realistic records (synthetic
cards, ~90 KB sealed) in its outbox, then the agent is started and timed to the last
verified erase. Figures (none is a test):

    rec/min     records verified and erased per minute, agent start -> last erase
    drain s     that time
    wire/rec    bytes through the link both ways (TCP payload: TLS, MQTT/HTTP, acks,
                heartbeats, reconnections, resends), per record delivered, counted until the
                link goes quiet after the last erase
    ratio       wire bytes / sealed envelope bytes delivered (1.0 would be the bodies alone)
    twice       records whose body reached the server more than once, (extra copies): the
                server answers a resend silently, so the bench serves it with its ingest
                wrapped to log each body it already held (`_serve` below)

Variants run in one process so "before" and "after" meet the same link: `before` switches
the newer agent options off (`resend_query = False`, the in-flight byte window unbounded)
and uses the old image profiles (bench/baselines/imaging_v1.py `PROFILES_V1`); `after` is
the defaults. Options, or the baseline module, that this tree does not have are left out
and the variants that would differ only by them are not run twice; the header says which.

    .venv/bin/python bench/bench_field_link.py [--quick] [--profiles 1M+rtt300+cuts,...]
        [--transports mqtt,https] [--records 100] [--variants before,after] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from field_link_setup import Records, Variant, fill_outbox, variants
from link_sim import LinkProfile, LinkSim, parse_profile

from server_stub.deploy.broker_process import Broker
from sync.agent.agent import SyncAgent
from sync.wire.ack import Ack
from sync.wire.record import Record
from tests.helpers.agent import make_device, wait_until
from tests.helpers.mqtt import Identity, build_pki
from tests.helpers.server import READY_LINE, IngestServer

PROFILES = ("clean", "256k+rtt300", "1M+rtt300", "5M+rtt300", "1M+rtt300+loss2", "1M+rtt300+cuts")
QUICK_PROFILE = "1M+rtt300+cuts"
SERVE = "_serve"          # argv[1] that makes this script the counting server
DUP_MARK = "bench-duplicado"
QUIET_S = 2.0             # after the last erase, the link is quiet this long: stop counting

# --- the server, counting bodies it already held ----------------------------------------------


def _serve(argv: list[str]) -> int:
    """`fieldkit-server` with Ingestor.ingest_many wrapped: one log line per body received
    for a record already stored (the server answers those with the stored ack, silently)."""
    from server_stub.cli.main import main as server_main
    from server_stub.ingest import ingest
    from sync.wire.envelope import parse

    log = logging.getLogger("fieldkit.bench")
    original = ingest.Ingestor.ingest_many

    def ingest_many(self: ingest.Ingestor, items: Sequence[tuple[bytes, str]], *,
                    transport: str) -> list[ingest.IngestResult]:
        results = original(self, items, transport=transport)
        for (data, _peer), r in zip(items, results, strict=True):
            if r.outcome is ingest.Outcome.ACK and r.verdict == ingest.VERDICT_RECEIVED and not r.stored_new:
                h = parse(data)[0]
                log.warning("%s %s %s", DUP_MARK, h.device_id, h.record_id)
        return results

    setattr(ingest.Ingestor, "ingest_many", ingest_many)  # noqa: B010 (a method, replaced)
    return server_main(argv)


class CountingServer(IngestServer):
    """The test server helper, started as `_serve` (a process) instead of `fieldkit-server`."""

    def start(self, timeout: float = 20.0) -> None:
        args = [sys.executable, str(Path(__file__).resolve()), SERVE, "serve", "--config",
                str(self.config_path)]
        env = {k: v for k, v in os.environ.items() if k != "FIELDKIT_SERVER_FAULT"}
        with self.log_path.open("ab") as log:
            self.proc = p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        if not wait_until(lambda: READY_LINE in self.log_text() or p.poll() is not None, timeout):
            raise RuntimeError(f"server not ready:\n{self.log_text()[-3000:]}")
        if p.poll() is not None:
            raise RuntimeError(f"server exited:\n{self.log_text()[-3000:]}")

    def copies(self, device_id: str) -> Counter[str]:
        """Extra bodies received, by record id, for one device."""
        pat = re.compile(rf"{DUP_MARK} {re.escape(device_id)} (\S+)")
        return Counter(pat.findall(self.log_text()))


@dataclasses.dataclass
class Bed:
    root: Path
    broker: Broker
    server: CountingServer
    idents: list[Identity]

    def close(self) -> None:
        self.server.close()
        self.broker.stop()


def testbed(root: Path, n_devices: int) -> Bed:
    pki = build_pki(root / "pki", [f"campo-{i:03d}" for i in range(n_devices)])
    broker = Broker.create(root / "broker", pki.broker_tls, probe_cert=(pki.server.cert, pki.server.key))
    broker.start()
    server = CountingServer(root / "server", pki, broker, mode="process")
    server.start()
    return Bed(root, broker, server, list(pki.devices.values()))


# --- one run ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    variant: str
    profile: str
    transport: str
    records: int
    delivered: int
    seconds: float
    drained: bool
    envelope_bytes: int     # sealed envelopes delivered
    up_bytes: int
    down_bytes: int
    retx_bytes: int         # modelled retransmissions (loss), not in up/down
    twice: int              # records whose body reached the server more than once
    extra_copies: int
    cuts: int
    connections: int
    stored: int             # of this run's records, at the server

    @property
    def per_min(self) -> float:
        return self.delivered / self.seconds * 60 if self.seconds else 0.0

    @property
    def wire_per_record(self) -> float:
        return (self.up_bytes + self.down_bytes) / max(self.delivered, 1)

    @property
    def ratio(self) -> float:
        return (self.up_bytes + self.down_bytes) / max(self.envelope_bytes, 1)

    def row(self) -> str:
        flag = "" if self.drained else f"  NO VACIÓ ({self.delivered}/{self.records})"
        return (f"{self.variant:8s} {self.profile:18s} {self.transport:5s} {self.per_min:7.1f} "
                f"{self.seconds:8.1f} {self.wire_per_record / 1000:9.1f} {self.ratio:6.3f} "
                f"{self.twice:4d} ({self.extra_copies:3d}) {self.cuts:4d} {self.connections:5d}{flag}")


HEADER = (f"{'variant':8s} {'profile':18s} {'trans':5s} {'rec/min':>7s} {'drain s':>8s} "
          f"{'wire KB/r':>9s} {'ratio':>6s} {'twice (+)':>10s} {'cuts':>4s} {'conns':>5s}")


def run_one(bed: Bed, ident: Identity, variant: Variant, profile: LinkProfile, transport: str,
            records: list[Record]) -> Result:
    mqtt = transport == "mqtt"
    target = (bed.broker.host, bed.broker.port) if mqtt else ("127.0.0.1", bed.server.https_port)
    sim = LinkSim(*target, profile)
    tag = f"{variant.name}-{profile.name}-{transport}".replace("+", "_").replace("/", "_")
    url = sim.url("mqtts" if mqtt else "https")
    dev = make_device(bed.root / tag, bed.server, ident, transport=transport,
                      mqtt_url=url if mqtt else None, https_url=None if mqtt else url)
    sizes = fill_outbox(dev, records)
    acked: set[uuid.UUID] = set()
    done = threading.Event()

    def on_acked(ack: Ack, _latency: float | None) -> None:
        acked.add(ack.record_id)
        if acked >= sizes.keys():
            done.set()

    bits = sum(sizes.values()) * 8
    budget = max(180.0, 6 * bits / (profile.up_bps or 1e12) + 60)
    agent = SyncAgent(dev.settings, variant.agent_options(), on_acked=on_acked)
    sim.start()
    t0 = time.monotonic()
    agent.start()
    drained = done.wait(budget)
    seconds = time.monotonic() - t0
    # Copies still on their way are part of the cost: count until the link goes quiet.
    wait_until(lambda: sim.idle_s() >= QUIET_S, 60, 0.2)
    st = sim.stats()
    agent.stop()
    sim.close()
    ours = {str(r) for r in sizes}
    copies = {k: n for k, n in bed.server.copies(dev.id).items() if k in ours}
    delivered = acked & sizes.keys()
    return Result(variant.name, profile.name, transport, len(sizes), len(delivered), seconds, drained,
                  sum(sizes[r] for r in delivered), st.up_bytes, st.down_bytes,
                  st.up_retx_bytes + st.down_retx_bytes, len(copies), sum(copies.values()), st.cuts,
                  st.connections, len(bed.server.stored_ids() & sizes.keys()))


# --- the command ----------------------------------------------------------------------------


def _ratios(results: list[Result]) -> list[str]:
    """after / before, where both ran on the same profile and transport."""
    by = {(r.variant, r.profile, r.transport): r for r in results}
    lines = []
    for (v, p, t), a in by.items():
        b = by.get(("before", p, t))
        if v == "before" or b is None:
            continue
        lines.append(f"{v:8s} {p:18s} {t:5s} rec/min x{a.per_min / max(b.per_min, 1e-9):.2f}, "
                     f"wire/rec x{a.wire_per_record / max(b.wire_per_record, 1e-9):.2f}, "
                     f"drain x{a.seconds / max(b.seconds, 1e-9):.2f} vs before")
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_PROFILE} only, 20 records")
    ap.add_argument("--profiles", help=f"comma-separated (default {','.join(PROFILES)})")
    ap.add_argument("--transports", default="mqtt,https")
    ap.add_argument("--records", type=int, help="records per run (default 100, --quick 20)")
    ap.add_argument("--variants", default="before,after", help="before, after, resend, window, codec")
    ap.add_argument("--window-bytes", type=int, help="the byte window of the non-`before` variants")
    ap.add_argument("--seed", type=int, default=1, help="loss and cut schedule")
    ap.add_argument("--json", type=Path, help="write every result here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs) and say where")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == [SERVE]:
        return _serve(args[1:])
    signal.signal(signal.SIGTERM, _stop_on_term)  # a killed run still prints what it has
    ns = parse_args(args)
    try:
        specs = (ns.profiles.split(",") if ns.profiles else [QUICK_PROFILE] if ns.quick else list(PROFILES))
        profiles = [parse_profile(s, ns.seed) for s in specs]
        transports = ns.transports.split(",")
        if not set(transports) <= {"mqtt", "https"}:
            raise ValueError(f"transporte desconocido en {ns.transports!r}")
        chosen, notes = variants(ns.variants.split(","), ns.window_bytes)
    except ValueError as e:
        print(f"bench_field_link: {e}", file=sys.stderr)
        return 2
    n = ns.records or (20 if ns.quick else 100)
    print("variants run:\n  " + "\n  ".join(v.describe() for v in chosen))
    print("found: " + "; ".join(notes))
    t = time.monotonic()
    recs = Records(n)
    for img in sorted({v.imaging for v in chosen}):
        made = recs.get(img)
        mean = sum(len(i.data) for r in made for i in r.images) / len(made)
        print(f"{n} records, images {img}: {mean / 1000:.1f} KB of images each on average")
    print(f"records made in {time.monotonic() - t:.1f} s (once; each run re-seals them)")
    work = Path(tempfile.mkdtemp(prefix="bench-field-link-"))
    logging.basicConfig(filename=work / "agents.log", level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    results: list[Result] = []
    bed = testbed(work, len(chosen) * len(profiles) * len(transports))
    try:
        print(HEADER, flush=True)
        idents = iter(bed.idents)
        for prof in profiles:
            for tr in transports:
                for v in chosen:
                    r = run_one(bed, next(idents), v, prof, tr, recs.get(v.imaging))
                    results.append(r)
                    print(r.row(), flush=True)
    except KeyboardInterrupt:
        print("interrumpido: resultados parciales", file=sys.stderr)
    finally:
        bed.close()
        if ns.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for line in _ratios(results):
        print(line)
    if ns.json:
        ns.json.write_text(json.dumps({"variants": [dataclasses.asdict(v) for v in chosen], "found": notes,
                                       "records": n, "results": [dataclasses.asdict(r) | {
                                           "per_min": r.per_min, "wire_per_record": r.wire_per_record,
                                           "ratio": r.ratio} for r in results]}, indent=1, default=str))
    return 0 if all(r.drained for r in results) else 1


def _stop_on_term(_sig: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
