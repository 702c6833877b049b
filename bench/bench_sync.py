"""Sync benchmarks (figures, not tests): end-to-end records/s (publish, server store,
signed ack, verified erase) by MQTT and HTTPS at 1, 10 and 100 simulated devices with a
typical ~90 KB record; MQTT first with the server committing every record on its own
(`[mqtt] max_batch = 1`, the baseline) then with group commit (the default), as a ratio;
send->erase latency p50/p95 under load and one at a time; time
from connection restored to first ack. Real Mosquitto, real TLS, `fieldkit-server serve`.

    .venv/bin/python bench/bench_sync.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fleet_sim import BENCH_OPTIONS, Testbed, run_fleet, testbed

from sync.agent.agent import SyncAgent
from sync.agent.settings import AgentOptions
from sync.wire.ack import Ack
from tests.helpers.agent import make_device
from tests.helpers.tcp_proxy import TcpProxy

FLEETS = ((1, 200), (10, 30), (100, 5))  # (devices, records per device)


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[int(q * (len(s) - 1))] * 1000


def set_max_batch(bed: Testbed, n: int | None) -> None:
    """Restart the server with `[mqtt] max_batch = n` (None = the default)."""
    path = bed.server.config_path
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("max_batch")]
    if n is not None:
        lines.insert(lines.index("[mqtt]") + 1, f"max_batch = {n}")
    path.write_text("\n".join(lines) + "\n")
    bed.server.stop()
    bed.server.start()


def one_at_a_time(bed: Testbed, ident_index: int, transport: str, n: int = 30) -> list[float]:
    """Latency with no queue: save one record, send now, wait for its verified erase."""
    ident = list(bed.pki.devices.values())[ident_index]
    dev = make_device(bed.root / f"lat-{transport}", bed.server, ident, transport=transport)
    got = threading.Event()
    lat: list[float] = []

    def on_acked(_a: Ack, latency: float | None) -> None:
        if latency is not None:
            lat.append(latency)
        got.set()

    agent = SyncAgent(dev.settings, BENCH_OPTIONS, on_acked=on_acked)
    agent.start()
    try:
        dev.put(1)
        agent.send_now()
        got.wait(30)  # warm-up: connection made
        lat.clear()
        for _ in range(n):
            got.clear()
            dev.put(1)
            agent.send_now()
            if not got.wait(30):
                raise RuntimeError("no ack")
    finally:
        agent.stop()
    return lat


def reconnect_to_first_ack(bed: Testbed, ident_index: int, transport: str, offline_s: float,
                           kick: bool) -> float:
    """Seconds from the link coming back to the first verified erase. Default agent timings
    (backoff 1 s doubling to a 30 s cap); ``kick`` = what a network change or a save does."""
    target = ((bed.broker.host, bed.broker.port) if transport == "mqtt"
              else ("127.0.0.1", bed.server.https_port))
    proxy = TcpProxy(*target).start()
    proxy.cut()
    ident = list(bed.pki.devices.values())[ident_index]
    dev = make_device(bed.root / f"rc-{transport}-{ident_index}", bed.server, ident, transport=transport,
                      **{f"{transport}_url": proxy.url("mqtts" if transport == "mqtt" else "https")})
    dev.put(10, image_bytes=30_000)
    first = threading.Event()
    agent = SyncAgent(dev.settings, AgentOptions(), on_acked=lambda _a, _l: first.set())
    agent.start()
    try:
        time.sleep(offline_s)  # the offline period itself is the scenario
        t0 = time.monotonic()
        proxy.restore()
        if kick:
            agent.send_now()
        if not first.wait(120):
            raise RuntimeError("no ack after reconnect")
        return time.monotonic() - t0
    finally:
        agent.stop()
        proxy.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="sync benchmarks")
    p.add_argument("--quick", action="store_true", help="1 and 10 devices only, fewer trials")
    ns = p.parse_args(argv)
    fleets = FLEETS[:2] if ns.quick else FLEETS
    need = 3 * sum(n for n, _ in fleets) + 2 + 2 * 3 * 3  # fleets, latency, reconnect trials
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        bed = testbed(Path(tmp), need)
        try:
            print("== end to end (typical record ~90 KB; agents as threads of this process;"
                  " server = fieldkit-server serve process)")
            used = 0
            base: dict[int, float] = {}
            set_max_batch(bed, 1)
            for n, per in fleets:
                r = run_fleet(bed, n, per, "mqtt", tag=f"-base{n}", offset=used)
                used += n
                base[n] = r.records / r.seconds
                print(r.line() + "  [baseline: one commit per record]")
            set_max_batch(bed, None)
            for transport in ("mqtt", "https"):
                for n, per in fleets:
                    r = run_fleet(bed, n, per, transport, tag=f"-{n}", offset=used)
                    used += n
                    rate = r.records / r.seconds
                    print(r.line() + (f"  x{rate / base[n]:.2f} vs baseline" if transport == "mqtt" else ""))
            print("== send -> verified erase, one record at a time (no queue)")
            for i, transport in enumerate(("mqtt", "https")):
                lat = one_at_a_time(bed, used + i, transport)
                print(f"{transport:5s} p50 {statistics.median(lat) * 1000:6.1f} ms"
                      f"  p95 {pct(lat, 0.95):6.1f} ms  (n={len(lat)})")
            used += 2
            print("== connection restored -> first verified erase (default agent timings)")
            trials = 2 if ns.quick else 3
            for transport in ("mqtt", "https"):
                for offline_s, kick in ((5.0, False), (5.0, True), (20.0, False)):
                    if ns.quick and offline_s > 10:
                        continue
                    xs = []
                    for _ in range(trials):
                        xs.append(reconnect_to_first_ack(bed, used, transport, offline_s, kick))
                        used += 1
                    how = "send_now/network change" if kick else "backoff only"
                    print(f"{transport:5s} offline {offline_s:4.0f} s, {how:23s}: "
                          + ", ".join(f"{x:.2f} s" for x in xs))
        finally:
            bed.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
