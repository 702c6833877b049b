"""Faults: each ends with every record stored exactly once at the server and the outbox empty.

Real Mosquitto, real TLS, the real ingestion server. Heavy loops run reduced by default
and at full size with FIELDKIT_FULL=1 (>= 50 kills over >= 300 records).
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from sync.agent.state import load_state
from tests.helpers.agent import AgentDevice, make_device, wait_until
from tests.helpers.mqtt import PKIPaths
from tests.helpers.server import IngestServer
from tests.helpers.tcp_proxy import TcpProxy

FULL = os.environ.get("FIELDKIT_FULL") == "1"
SEED = int(os.environ.get("FIELDKIT_SEED", "20270604"))


def assert_exactly_once(dev: AgentDevice, server: IngestServer, ids: list, timeout: float = 60) -> None:
    assert wait_until(lambda: dev.unacked() == 0, timeout), f"{dev.unacked()} records still in the outbox"
    stored = server.stored_ids()
    assert stored == set(ids), (len(stored), len(ids))
    assert server.stored_count() == len(ids)  # nothing stored twice


def test_broker_restarted_mid_batch(tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths,
                                    devices: list[AgentDevice]) -> None:
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport="mqtt")
    devices.append(dev)
    ids = dev.put(300, image_bytes=3000)
    agent = dev.agent()
    assert wait_until(lambda: agent.snapshot().state.acked_total >= 20, 30)
    assert dev.unacked() > 0, "too fast: the batch finished before the restart"
    ingest_server.broker.restart()  # clean stop: mosquitto saves sessions and queued acks
    assert_exactly_once(dev, ingest_server, ids)
    ids += dev.put(20)
    ingest_server.broker.restart(crash=True)  # and a crash (SIGKILL), losing unsaved state
    assert_exactly_once(dev, ingest_server, ids)
    assert agent.snapshot().state.rejected_acks == 0


@pytest.mark.parametrize("transport", ["mqtt", "https"])
def test_server_killed_after_store_before_ack(tmp_path: Path, ingest_server_factory, pki: PKIPaths,
                                              devices: list[AgentDevice], transport: str) -> None:
    server: IngestServer = ingest_server_factory(mode="process", fault="crash-after-store")
    dev = make_device(tmp_path / "dev", server, pki.device(0), transport=transport)
    devices.append(dev)
    ids = dev.put(10)
    dev.agent()
    assert server.wait_exit(30) == 86  # committed what it had, died before acking any of it
    # One transaction: the first record alone, or (MQTT group commit) every record waiting.
    assert 1 <= server.stored_count() <= 10
    assert dev.unacked() == 10  # nothing erased without an ack
    server.fault = None
    server.start()
    assert_exactly_once(dev, server, ids)


@pytest.mark.parametrize("transport", ["mqtt", "https"])
def test_connection_cut_and_restored_repeatedly(tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths,
                                                devices: list[AgentDevice], transport: str) -> None:
    target = (ingest_server.broker.host, ingest_server.broker.port) if transport == "mqtt" else \
        ("127.0.0.1", ingest_server.https_port)
    proxy = TcpProxy(*target).start()
    try:
        url = proxy.url("mqtts" if transport == "mqtt" else "https")
        dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport=transport,
                          **{f"{transport}_url": url})
        devices.append(dev)
        rng = random.Random(SEED)
        ids = dev.put(150 if FULL else 60, image_bytes=4000)
        agent = dev.agent()
        cuts = 30 if FULL else 8
        for _ in range(cuts):
            time.sleep(rng.uniform(0.1, 0.6))
            proxy.cut()
            ids += dev.put(rng.randint(0, 5))  # the kiosk keeps saving while offline
            time.sleep(rng.uniform(0.05, 0.4))
            proxy.restore()
        assert_exactly_once(dev, ingest_server, ids)  # waits for the drain, so for a reconnect
        assert proxy.accepted >= 2  # it really reconnected through the proxy
        assert agent.snapshot().state.rejected_acks == 0
    finally:
        proxy.close()


@pytest.mark.parametrize("skew_s", [3 * 86400, -365 * 86400])
def test_server_clock_skew(tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths,
                           devices: list[AgentDevice], skew_s: int) -> None:
    """The device has no RTC: it erases on a valid ack whatever time the ack names, and
    learns the offset between its clock and the server's from the acks."""
    running = ingest_server.running
    assert running is not None
    running.ingestor.clock = lambda: time.time() + skew_s
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport="mqtt")
    devices.append(dev)
    ids = dev.put(15)
    agent = dev.agent()
    assert_exactly_once(dev, ingest_server, ids)
    assert wait_until(lambda: agent.snapshot().state.clock_source == "mqtt-ack", 10)
    offset = agent.snapshot().state.clock_offset_ms
    assert offset is not None and abs(offset - skew_s * 1000) < 5000, offset
    st = agent.snapshot().state
    assert st.last_success_server_ms is not None and st.last_success_ms is not None
    assert abs(st.last_success_server_ms - st.last_success_ms - skew_s * 1000) < 5000


def _put_in_chunks(dev: AgentDevice, n: int) -> list:
    return dev.put(n, image_bytes=2000)


@pytest.mark.slow
def test_agent_sigkilled_at_random_moments(tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths,
                                           devices: list[AgentDevice]) -> None:
    """`fieldkit-sync run` SIGKILLed again and again while records are saved and sent;
    every third run uses HTTPS (a second config file) so both transports are killed."""
    kills, total = (50, 300) if FULL else (10, 60)
    rng = random.Random(SEED)
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport="mqtt")
    devices.append(dev)
    https_cfg = dev.config_path.with_name("device-https.toml")
    https_cfg.write_text(dev.config_path.read_text().replace('transport = "mqtt"', 'transport = "https"'))
    ids = _put_in_chunks(dev, total // 3)
    per_kill = (total - len(ids)) // kills
    for k in range(kills):
        cfg = https_cfg if k % 3 == 2 else dev.config_path
        proc = dev.spawn(*(["--config", str(cfg)] if cfg != dev.config_path else []))
        ids += _put_in_chunks(dev, per_kill)
        time.sleep(rng.uniform(0.3, 1.6))  # start-up, connecting, mid-batch, idle
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    ids += _put_in_chunks(dev, total - len(ids))
    assert len(ids) == total
    assert dev.unacked() > 0 or ingest_server.stored_count() == total
    proc = dev.spawn()
    try:
        assert_exactly_once(dev, ingest_server, ids, timeout=120)
        # SIGTERM only once it runs (its handler is set): the state file names its pid.
        assert wait_until(lambda: (st := load_state(dev.settings.state_path)) is not None
                          and st.pid == proc.pid and st.connection == "online", 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, dev.log_text()[-2000:]
    assert "Traceback" not in dev.log_text(), dev.log_text()[-3000:]

