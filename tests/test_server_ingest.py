"""Server-level ingestion over real HTTPS (mutual TLS) and a real Mosquitto: a test
device seals with sync's code; acks are checked with sync's AckVerifier."""

from __future__ import annotations

import email.utils
import time

from mqtt_helpers import MqttClientFactory, PKIPaths, TestClient
from server_helpers import IngestServer, TestDevice, check_ack

ROOT = "fieldkit/v1/devices"


def device_client(mqtt_client: MqttClientFactory, server: IngestServer, dev: TestDevice) -> TestClient:
    c = mqtt_client(server.broker, dev.identity)
    assert c.connect()
    assert not c.subscribe(f"{ROOT}/{dev.id}/acks")[0].is_failure
    return c


def test_https_happy_path_acks_stores_once_and_returns_server_time(
        ingest_server: IngestServer, pki: PKIPaths) -> None:
    dev = TestDevice.create(pki.device(0), ingest_server)
    sealed = [dev.seal(i) for i in range(3)]
    before = time.time()
    for s in sealed:
        r = dev.post(ingest_server, s.data)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/cbor"
        ack = check_ack(ingest_server, dev.id, r.content, s)
        assert ack.verdict == "recibido" and ack.receipt_id.startswith("AC-")
        # Devices have no RTC: the server's time rides on every answer.
        date = email.utils.parsedate_to_datetime(r.headers["date"]).timestamp()
        assert before - 2 <= date <= time.time() + 1
        assert abs(int(r.headers["x-fieldkit-server-time-ms"]) / 1000 - time.time()) < 5
    assert ingest_server.stored_ids() == {s.header.record_id for s in sealed}
    row = ingest_server.store.get_record(sealed[0].header.record_id)
    assert row is not None and row.envelope == sealed[0].data and row.transport == "https"


def test_mqtt_happy_path_ack_on_the_devices_ack_topic(
        ingest_server: IngestServer, pki: PKIPaths, mqtt_client: MqttClientFactory) -> None:
    dev = TestDevice.create(pki.device(0), ingest_server)
    c = device_client(mqtt_client, ingest_server, dev)
    sealed = [dev.seal(i) for i in range(5)]
    for s in sealed:
        assert not c.wait_puback(c.publish(f"{ROOT}/{dev.id}/records", s.data)).is_failure
    msgs = c.wait_messages(5)
    assert len(msgs) == 5
    acks = {ingest_server.verifier(dev.id).verify(m.payload).record_id: m.payload for m in msgs}
    for s in sealed:
        assert check_ack(ingest_server, dev.id, acks[s.header.record_id], s).verdict == "recibido"
    assert all(m.topic == f"{ROOT}/{dev.id}/acks" and m.qos == 1 for m in msgs)
    assert ingest_server.stored_ids() == {s.header.record_id for s in sealed}
