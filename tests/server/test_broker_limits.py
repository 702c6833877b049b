"""Size limits on the MQTT side: the broker refuses a packet larger than the largest legal
envelope, the ingest worker drops (and counts) what slips in between, and the device shrinks
a record rather than refuse a citizen (tests/kiosk/test_save.py).

The attacker is an enrolled device with a valid certificate; it uses MQTT 3.1.1, so no
CONNACK property tells its client library the limit and the bytes really go on the wire.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from server_stub.deploy.broker import MAX_PACKET_BYTES, render_config
from server_stub.deploy.broker_process import Broker, free_port
from sync.wire.envelope import MAX_ENVELOPE_BYTES
from tests.helpers.mqtt import (
    TIMEOUT,
    Identity,
    MqttClientFactory,
    PKIPaths,
    TestClient,
    tls_context,
    wait_until,
)
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



def test_an_oversized_status_is_dropped_before_it_is_parsed_or_stored(
        ingest_server: IngestServer, mosquitto: Broker, pki: PKIPaths) -> None:
    from server_stub.fleet import tables as fleet

    assert ingest_server.running is not None
    [worker] = ingest_server.running.workers
    assert worker.fleet is not None
    dev, _ = _raw_device(mosquitto, pki, 2)
    huge = b'{"online": true, "pad": "' + b"x" * (1024 * 1024) + b'"}'
    dev.publish(f"{ROOT}/dev-0003/status", huge, qos=1).wait_for_publish(TIMEOUT)
    assert wait_until(lambda: worker.fleet is not None and worker.fleet.oversized == 1, TIMEOUT)
    assert fleet.get_heartbeat(ingest_server.store, "dev-0003") is None
    dev.publish(f"{ROOT}/dev-0003/status", b'{"online": true, "pending": 2}', qos=1).wait_for_publish(TIMEOUT)
    assert wait_until(lambda: fleet.get_heartbeat(ingest_server.store, "dev-0003") is not None, TIMEOUT)
    dev.disconnect()
    dev.loop_stop()


def _connects(pki: PKIPaths, ident: Identity, port: int, timeout: float = 5.0) -> bool:
    """Whether `ident` gets a successful CONNACK on `port` (mutual TLS, MQTT v5)."""
    ok = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=ident.name, protocol=mqtt.MQTTv5)
    c.tls_set_context(tls_context(pki.ca_cert, ident))
    c.on_connect = lambda _c, _u, _f, rc, _p: ok.set() if not rc.is_failure else None
    try:
        c.connect("127.0.0.1", port, keepalive=30)
    except OSError:
        return False
    c.loop_start()
    try:
        return ok.wait(timeout)
    finally:
        c.disconnect()
        c.loop_stop()


def test_idle_sockets_filling_the_devices_listener_never_keep_the_server_out(
        tmp_path: Path, pki: PKIPaths) -> None:
    """max_connections caps the devices' listener; anyone who reaches it can hold its slots with
    sockets that never send CONNECT. The server's workers have a listener of their own."""
    broker = Broker.create(tmp_path / "broker", pki.broker_tls, probe_cert=(pki.server.cert, pki.server.key),
                           max_connections=3, server_port=free_port())
    broker.start()
    idle = []
    try:
        for _ in range(3 + 7):  # more than the cap: the broker drops the extra ones at once
            idle.append(socket.create_connection(("127.0.0.1", broker.port), timeout=5))
        # The broker has taken its fill of them once it turns the extra ones away.
        assert wait_until(lambda: "max_connections exceeded" in broker.log_text(), TIMEOUT)
        time.sleep(0.2)
        assert broker.config.server_port is not None
        assert not _connects(pki, pki.device(0), broker.port), "the cap did not apply"
        assert not _connects(pki, pki.server, broker.port)  # one listener for all: ingest locked out
        assert _connects(pki, pki.server, broker.config.server_port), "the workers' listener was full too"
    finally:
        for s in idle:
            s.close()
        broker.stop()
