"""Size limits on the MQTT side: the broker refuses a packet larger than the largest legal
envelope, the ingest worker drops (and counts) what slips in between, and the device shrinks
a record rather than refuse a citizen (tests/kiosk/test_save.py).

The attacker is an enrolled device with a valid certificate; it uses MQTT 3.1.1, so no
CONNACK property tells its client library the limit and the bytes really go on the wire.
"""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt
import pytest

from server_stub.deploy.broker import MAX_PACKET_BYTES, Broker, render_config
from sync.wire.envelope import MAX_ENVELOPE_BYTES
from tests.helpers.mqtt import TIMEOUT, MqttClientFactory, PKIPaths, TestClient, tls_context, wait_until
from tests.helpers.server import IngestServer

ROOT = "fieldkit/v1/devices"


def _raw_device(broker: Broker, pki: PKIPaths, index: int) -> tuple[mqtt.Client, list[object]]:
    """A device's paho client on MQTT 3.1.1 that records its disconnects."""
    ident = pki.device(index)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=ident.name, protocol=mqtt.MQTTv311)
    c.tls_set_context(tls_context(pki.ca_cert, ident))
    gone: list[object] = []
    c.on_disconnect = lambda *a: gone.append(a[3])
    c.connect("127.0.0.1", broker.port, keepalive=30)
    c.loop_start()
    assert wait_until(c.is_connected, TIMEOUT)
    return c, gone


def _server(mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory) -> TestClient:
    s = mqtt_client(mosquitto, pki.server)
    assert s.connect()
    assert not s.subscribe(f"{ROOT}/+/records")[0].is_failure
    return s


def test_the_generated_config_caps_packets_queues_and_connections(mosquitto: Broker) -> None:
    text = render_config(mosquitto.config)
    assert f"max_packet_size {MAX_PACKET_BYTES}" in text
    assert MAX_ENVELOPE_BYTES < MAX_PACKET_BYTES <= MAX_ENVELOPE_BYTES + 64 * 1024
    assert "max_queued_bytes 268435456" in text and "max_connections 5000" in text


@pytest.mark.parametrize("size_mb", [64, 9])
def test_a_packet_past_the_largest_envelope_never_reaches_the_server(
        mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory, size_mb: int) -> None:
    server = _server(mosquitto, pki, mqtt_client)
    attacker, gone = _raw_device(mosquitto, pki, 0)
    t0 = time.monotonic()
    attacker.publish(f"{ROOT}/dev-0001/records", b"\x00" * (size_mb * 1024 * 1024), qos=1)
    assert wait_until(lambda: bool(gone), 30), "the broker kept a connection that sent an oversized packet"
    refused_s = time.monotonic() - t0
    attacker.loop_stop()
    # Marker: a legal record from another device arrives; QoS 1 order on one broker says the
    # big one, sent before, is not coming.
    honest, _ = _raw_device(mosquitto, pki, 1)
    legal = b"\x01" * (1024 * 1024)
    honest.publish(f"{ROOT}/dev-0002/records", legal, qos=1).wait_for_publish(TIMEOUT)
    msgs = server.wait_messages(1)
    assert [(m.topic, len(m.payload)) for m in msgs] == [(f"{ROOT}/dev-0002/records", len(legal))]
    honest.disconnect()
    honest.loop_stop()
    print(f"{size_mb} MiB refused, connection closed after {refused_s:.2f} s")


def test_the_worker_drops_and_counts_what_slips_under_the_packet_limit(
        ingest_server: IngestServer, mosquitto: Broker, pki: PKIPaths) -> None:
    assert ingest_server.running is not None
    [worker] = ingest_server.running.workers
    dev, gone = _raw_device(mosquitto, pki, 2)
    just_over = b"\x02" * (MAX_ENVELOPE_BYTES + 1)  # under the broker's packet limit
    dev.publish(f"{ROOT}/dev-0003/records", just_over, qos=1).wait_for_publish(TIMEOUT)
    assert wait_until(lambda: worker.oversized == 1, TIMEOUT)
    assert not gone and ingest_server.stored_count() == 0
    dev.disconnect()
    dev.loop_stop()

