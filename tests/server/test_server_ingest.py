"""Server-level ingestion over real HTTPS (mutual TLS) and a real Mosquitto: a test
device seals with sync's code; acks are checked with sync's AckVerifier."""

from __future__ import annotations

import email.utils
import time

import requests

from sync.wire import envelope as env
from sync.wire.envelope_open import ServerPrivateKey
from sync.wire.sealing import Sealer
from tests.helpers.mqtt import MqttClientFactory, PKIPaths, TestClient
from tests.helpers.outbox import tiny_record
from tests.helpers.server import IngestServer, TestDevice, check_ack

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


def test_resend_by_either_transport_gets_the_same_ack_and_stores_nothing_new(
        ingest_server: IngestServer, pki: PKIPaths, mqtt_client: MqttClientFactory) -> None:
    dev = TestDevice.create(pki.device(0), ingest_server)
    c = device_client(mqtt_client, ingest_server, dev)
    s = dev.seal(7)
    first = dev.post(ingest_server, s.data).content
    assert not c.wait_puback(c.publish(f"{ROOT}/{dev.id}/records", s.data)).is_failure
    assert not c.wait_puback(c.publish(f"{ROOT}/{dev.id}/records", s.data)).is_failure
    via_mqtt = [m.payload for m in c.wait_messages(2)]
    again = dev.post(ingest_server, s.data).content
    assert via_mqtt == [first, first] and again == first
    check_ack(ingest_server, dev.id, first, s)
    assert ingest_server.stored_count() == 1 and ingest_server.refusal_count() == 0


def test_https_client_certificate_of_another_device_is_refused(
        ingest_server: IngestServer, pki: PKIPaths) -> None:
    dev = TestDevice.create(pki.device(0), ingest_server)
    TestDevice.create(pki.device(1), ingest_server)
    r = dev.post(ingest_server, dev.seal(1).data, identity=pki.device(1))
    assert r.status_code == 403 and r.json()["error"] == "device_mismatch"
    assert ingest_server.stored_count() == 0 and ingest_server.refusal_count() == 0


def test_https_without_client_certificate_or_from_a_foreign_ca_fails_the_handshake(
        ingest_server: IngestServer, pki: PKIPaths) -> None:
    url = f"{ingest_server.https_url}/v1/health"
    for cert in (None, (str(pki.foreign_device.cert), str(pki.foreign_device.key))):
        try:
            requests.get(url, cert=cert, verify=str(pki.ca_cert), timeout=10)
        except requests.exceptions.RequestException:
            continue  # TLS alert or reset: refused before HTTP
        raise AssertionError(f"request with {cert} was answered")
    ok = requests.get(url, cert=(str(pki.device(0).cert), str(pki.device(0).key)),
                      verify=str(pki.ca_cert), timeout=10)
    assert ok.status_code == 200 and ok.json()["client"] == "dev-0001"


def test_record_signed_by_an_unknown_device_is_refused_for_good_and_not_stored(
        ingest_server: IngestServer, pki: PKIPaths, mqtt_client: MqttClientFactory) -> None:
    dev = TestDevice.create(pki.device(0), ingest_server, register=False)  # cert, but not registered
    s = dev.seal(3)
    r = dev.post(ingest_server, s.data)
    assert r.status_code == 200
    ack = check_ack(ingest_server, dev.id, r.content, s)
    assert ack.verdict == "rechazado:dispositivo_desconocido"
    assert dev.post(ingest_server, s.data).content == r.content  # stable refusal
    c = device_client(mqtt_client, ingest_server, dev)
    assert not c.wait_puback(c.publish(f"{ROOT}/{dev.id}/records", s.data)).is_failure
    assert c.wait_messages(1)[0].payload == r.content
    assert ingest_server.stored_count() == 0 and ingest_server.refusal_count() == 1


def test_forged_signature_and_revoked_device_are_refused(ingest_server: IngestServer, pki: PKIPaths) -> None:
    dev = TestDevice.create(pki.device(0), ingest_server)
    # An impostor's key signing in dev-0001's name (sent over dev-0001's own TLS identity).
    impostor = TestDevice.create(pki.device(0), ingest_server, register=False)
    r = dev.post(ingest_server, impostor.seal(1).data)
    assert ingest_server.verifier(dev.id).verify(r.content).verdict == "rechazado:firma_invalida"
    ingest_server.revoke(dev.id)
    r = dev.post(ingest_server, dev.seal(2).data)
    assert ingest_server.verifier(dev.id).verify(r.content).verdict == "rechazado:dispositivo_revocado"
    assert ingest_server.stored_count() == 0 and ingest_server.refusal_count() == 2


def test_device_publishing_into_another_devices_topic_is_refused_by_the_broker(
        ingest_server: IngestServer, pki: PKIPaths, mqtt_client: MqttClientFactory) -> None:
    victim = TestDevice.create(pki.device(0), ingest_server)
    attacker = TestDevice.create(pki.device(1), ingest_server)
    c = device_client(mqtt_client, ingest_server, attacker)
    rc = c.wait_puback(c.publish(f"{ROOT}/{victim.id}/records", attacker.seal(1).data))
    assert rc.is_failure and rc.value == 135
    # Its own envelope in its own topic still goes through: the server saw nothing else.
    s = attacker.seal(2)
    assert not c.wait_puback(c.publish(f"{ROOT}/{attacker.id}/records", s.data)).is_failure
    check_ack(ingest_server, attacker.id, c.wait_messages(1)[0].payload, s)
    assert ingest_server.stored_ids() == {s.header.record_id}


def test_envelope_naming_another_device_in_own_topic_gets_no_ack(
        ingest_server: IngestServer, pki: PKIPaths, mqtt_client: MqttClientFactory) -> None:
    victim = TestDevice.create(pki.device(0), ingest_server)
    attacker = TestDevice.create(pki.device(1), ingest_server)
    c = device_client(mqtt_client, ingest_server, attacker)
    c.publish(f"{ROOT}/{attacker.id}/records", victim.seal(1).data)  # a captured envelope
    s = attacker.seal(2)
    c.publish(f"{ROOT}/{attacker.id}/records", s.data)  # marker: QoS 1 order on one worker
    msgs = c.wait_messages(1)
    assert [ingest_server.verifier(attacker.id).verify(m.payload).record_id for m in msgs] == [
        s.header.record_id]
    assert ingest_server.stored_ids() == {s.header.record_id}


def test_garbage_and_truncated_envelopes_get_clear_errors_and_the_server_keeps_running(
        ingest_server: IngestServer, pki: PKIPaths, mqtt_client: MqttClientFactory) -> None:
    dev = TestDevice.create(pki.device(0), ingest_server)
    good = dev.seal(1)
    for bad in (b"", b"\x00garbage\xff", good.data[:-1], good.data[: len(good.data) // 2],
                good.data + b"\x00", b"\x82\x40\x40"):
        r = dev.post(ingest_server, bad)
        assert r.status_code == 400, (bad[:10], r.status_code)
        assert r.json()["error"] == "malformed_envelope" and r.json()["detail"]
    assert dev.post(ingest_server, b"x", content_type="text/plain").status_code == 415
    assert dev.post(ingest_server, b"\x00" * (env.MAX_ENVELOPE_BYTES + 1)).status_code == 413
    c = device_client(mqtt_client, ingest_server, dev)
    for bad in (b"\x00garbage", good.data[:100]):
        assert not c.wait_puback(c.publish(f"{ROOT}/{dev.id}/records", bad)).is_failure
    assert not c.wait_puback(c.publish(f"{ROOT}/{dev.id}/records", good.data)).is_failure
    [m] = c.wait_messages(1)
    check_ack(ingest_server, dev.id, m.payload, good)
    assert dev.post(ingest_server, good.data).content == m.payload
    assert ingest_server.stored_count() == 1 and ingest_server.refusal_count() == 0


def test_envelope_the_server_cannot_open_is_retryable_never_refused(
        ingest_server: IngestServer, pki: PKIPaths, mqtt_client: MqttClientFactory) -> None:
    dev = TestDevice.create(pki.device(0), ingest_server)
    # Sealed to a key this server does not hold (e.g. a key change not yet configured).
    other = Sealer(dev.id, dev.signing_key, ServerPrivateKey.generate().public_key())
    s = other.seal(tiny_record(dev.id, seed=5))
    r = dev.post(ingest_server, s.data)
    assert r.status_code == 503 and r.json()["error"] == "retry" and int(r.headers["retry-after"]) > 0
    assert ingest_server.stored_count() == 0 and ingest_server.refusal_count() == 0


def test_how_the_back_was_read_is_stored_and_kept_for_verification(
        ingest_server: IngestServer, pki: PKIPaths) -> None:
    """The record says when its back was read without the card's outline (`lectura_reverso`);
    the server stores it with the record and in the keys verification reads. A record from an
    older device, without it, is taken as before."""
    import json
    from dataclasses import replace

    from sync.wire.record import decode_record

    dev = TestDevice.create(pki.device(0), ingest_server)
    base = replace(tiny_record(dev.id, seed=41, image_bytes=400), folio="TST-00041")
    banda = replace(base, credential=replace(base.credential, lectura_reverso="banda_mrz"))
    older = replace(tiny_record(dev.id, seed=42, image_bytes=400), folio="TST-00042")
    assert older.credential.lectura_reverso == ""
    for rec in (banda, older):
        assert dev.post(ingest_server, dev.sealer.seal(rec).data).status_code == 200
    rows = {r[0]: r[1] for r in ingest_server.store.query("SELECT folio, key_checks FROM records")}
    assert json.loads(rows["TST-00041"])["lectura_reverso"] == "banda_mrz"
    assert "lectura_reverso" not in json.loads(rows["TST-00042"])
    stored = ingest_server.store.get_record(banda.record_id)
    assert stored is not None and decode_record(stored.record).credential.lectura_reverso == "banda_mrz"
