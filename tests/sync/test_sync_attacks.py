"""Attacks on the sync path: each erases nothing on the device and stores nothing false.

The agent runs for real (thread, real broker and TLS); attackers use real certificates
from the test PKI, `mosquitto_pub`, and raw HTTPS.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
import requests
import sqlcipher3
from cryptography.hazmat.primitives.asymmetric import ed25519

from sync.outbox.keyfile import key_pragma, load_key
from sync.outbox.outbox import OutboxItem
from sync.wire.ack import Ack, sign_ack
from tests.helpers.agent import AgentDevice, make_device, wait_until
from tests.helpers.mqtt import NOT_AUTHORIZED, Identity, MqttClientFactory, PKIPaths
from tests.helpers.server import IngestServer, TestDevice


def items(dev: AgentDevice) -> list[OutboxItem]:
    with dev.outbox() as ob:
        return ob.next_batch(1000, retry_after_s=0)


def forged_ack(item: OutboxItem, device_id: str, key: ed25519.Ed25519PrivateKey | None = None) -> bytes:
    """An ack that names the right device, record, folio and envelope hash, signed with a
    key the device does not trust."""
    return sign_ack(Ack(item.record_id, device_id, item.folio, 1, "recibido", "R-FORGED",
                        item.envelope_sha256), key or ed25519.Ed25519PrivateKey.generate())


def mosquitto_pub(server: IngestServer, pki: PKIPaths, ident: Identity, topic: str, payload: Path
                  ) -> subprocess.CompletedProcess[str]:
    cmd = ["mosquitto_pub", "-h", "localhost", "-p", str(server.broker.port), "--cafile", str(pki.ca_cert),
           "--cert", str(ident.cert), "--key", str(ident.key), "-V", "mqttv5", "-q", "1",
           "-t", topic, "-f", str(payload)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def test_forged_and_replayed_acks_erase_nothing(tmp_path: Path, ingest_server_factory, pki: PKIPaths,
                                                devices: list[AgentDevice]) -> None:
    # The server ingests only over HTTPS here, so the agent's MQTT records stay unacked.
    server: IngestServer = ingest_server_factory(mqtt=False)
    dev = make_device(tmp_path / "dev", server, pki.device(0), transport="mqtt")
    devices.append(dev)
    dev.put(6)
    agent = dev.agent()
    assert wait_until(lambda: agent.snapshot().state.connection == "online", 15)
    victim = items(dev)
    a, b = victim[0], victim[1]

    # 1. Another device's valid certificate publishing a forged ack: the broker refuses it.
    f = tmp_path / "forged.cbor"
    f.write_bytes(forged_ack(a, dev.id))
    out = mosquitto_pub(server, pki, pki.device(1), f"fieldkit/v1/devices/{dev.id}/acks", f)
    assert "Not authorized" in out.stderr, out  # mosquitto_pub exits 0 even when refused
    # 2. The same forgery delivered straight to the agent's ack handler (as if the ACL failed).
    agent.handle_ack(forged_ack(a, dev.id))
    assert wait_until(lambda: agent.snapshot().state.rejected_acks == 1, 10)
    # 3. A genuine server ack for record a, tampered to name record b: signature breaks.
    genuine = requests.post(f"{server.https_url}/v1/records", data=a.envelope, timeout=15,
                            cert=(str(dev.identity.cert), str(dev.identity.key)), verify=str(server.ca_cert),
                            headers={"Content-Type": "application/cbor"})
    assert genuine.status_code == 200
    tampered = genuine.content.replace(a.record_id.bytes, b.record_id.bytes)
    assert tampered != genuine.content
    agent.handle_ack(tampered)
    assert wait_until(lambda: agent.snapshot().state.rejected_acks == 2, 10)
    # 4. A genuine ack of another device, replayed to this one.
    other = TestDevice.create(pki.device(2), server)
    sealed = other.seal(seed=7)
    other_ack = other.post(server, sealed.data)
    assert other_ack.status_code == 200
    agent.handle_ack(other_ack.content)
    assert wait_until(lambda: agent.snapshot().state.rejected_acks == 3, 10)
    assert dev.unacked() == 6, "a forged, tampered or foreign ack erased something"

    # The genuine ack for a erases exactly a; replayed later (a is gone) it erases nothing.
    agent.handle_ack(genuine.content)
    assert wait_until(lambda: dev.unacked() == 5, 10)
    assert a.record_id not in {i.record_id for i in items(dev)}
    agent.handle_ack(genuine.content)
    agent.handle_ack(genuine.content)
    assert wait_until(lambda: agent.snapshot().state.acked_total == 1, 10)
    with dev.outbox() as ob:
        assert ob.counts().unacknowledged == 5
    assert server.stored_ids() == {a.record_id, sealed.header.record_id}


def test_device_cannot_publish_into_another_devices_records(
        ingest_server: IngestServer, pki: PKIPaths, mqtt_client: MqttClientFactory, tmp_path: Path) -> None:
    victim_id = pki.device(0).name
    attacker = TestDevice.create(pki.device(1), ingest_server)
    c = mqtt_client(ingest_server.broker, pki.device(1))
    assert c.connect()
    sealed = attacker.seal(seed=3)
    rc = c.wait_puback(c.publish(f"fieldkit/v1/devices/{victim_id}/records", sealed.data))
    assert rc.value == NOT_AUTHORIZED
    # Its own topic works, so the refusal above was the ACL and not a broken client.
    assert c.wait_puback(c.publish(f"fieldkit/v1/devices/{attacker.id}/records", sealed.data)).value == 0
    c.close()  # one live connection per certificate: mosquitto_pub would take this one over
    f = tmp_path / "env.cbor"
    f.write_bytes(attacker.seal(seed=4).data)
    out = mosquitto_pub(ingest_server, pki, pki.device(1), f"fieldkit/v1/devices/{victim_id}/records", f)
    assert "Not authorized" in out.stderr
    assert wait_until(lambda: ingest_server.stored_count() == 1, 15)
    assert ingest_server.stored_ids() == {sealed.header.record_id}


@pytest.mark.parametrize("transport", ["mqtt", "https"])
def test_records_of_unknown_device_or_wrong_key_are_refused_not_stored(
        tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths, devices: list[AgentDevice],
        transport: str) -> None:
    """The server refuses for good (signed refusal ack); the device erases per protocol, and
    the server stores nothing in its records."""
    unknown = make_device(tmp_path / "unknown", ingest_server, pki.device(2), transport=transport,
                          register=False)
    devices.append(unknown)
    unknown.put(3)
    # A registered device whose envelopes carry a signature by a key the server does not know.
    impostor = make_device(tmp_path / "impostor", ingest_server, pki.device(1), transport=transport)
    devices.append(impostor)
    impostor.sealer = type(impostor.sealer)(impostor.id, ed25519.Ed25519PrivateKey.generate(),
                                            impostor.sealer.server_key)
    impostor.put(2)
    agents = [unknown.agent(), impostor.agent()]
    assert wait_until(lambda: ingest_server.refusal_count() >= 5, 60)
    assert wait_until(lambda: unknown.unacked() == 0 and impostor.unacked() == 0, 60)
    # The agent erases first and counts after, so the counters may trail the outbox briefly.
    assert wait_until(lambda: [a.snapshot().state.refused_total for a in agents] == [3, 2], 10), \
        [a.snapshot().state.refused_total for a in agents]
    assert ingest_server.stored_count() == 0


def _truncate_in_outbox(dev: AgentDevice, record_id: uuid.UUID, keep: int) -> None:
    """Damage one stored envelope behind the outbox's back (as a bad SD card might)."""
    conn = sqlcipher3.connect(str(dev.settings.outbox_path), isolation_level=None)
    try:
        conn.execute(key_pragma(load_key(dev.settings.outbox_key)))
        conn.execute("UPDATE outbox SET envelope = substr(envelope, 1, ?), envelope_len = ?"
                     " WHERE record_id = ?", (keep, keep, record_id.bytes))
    finally:
        conn.close()


@pytest.mark.parametrize("transport", ["mqtt", "https"])
def test_truncated_envelope_is_kept_and_server_keeps_running(
        tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths, devices: list[AgentDevice],
        transport: str) -> None:
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport=transport)
    devices.append(dev)
    ids = dev.put(5)
    _truncate_in_outbox(dev, ids[1], 100)
    garbage = TestDevice.create(pki.device(1), ingest_server)
    assert garbage.post(ingest_server, b"\x82\x41garbage").status_code == 400
    agent = dev.agent()
    # The good ones go through; the damaged one is never acked, never erased.
    assert wait_until(lambda: ingest_server.stored_ids() == set(ids) - {ids[1]}, 30)
    assert wait_until(lambda: dev.unacked() == 1, 10)
    if transport == "https":
        assert wait_until(lambda: agent.snapshot().state.held == 1, 10)
        assert "HTTP 400" in (agent.snapshot().state.last_error or "")
    more = dev.put(2)  # and the server is still up and ingesting
    assert wait_until(lambda: set(more) <= ingest_server.stored_ids(), 30)
    assert wait_until(lambda: dev.unacked() == 1, 10)
    assert ingest_server.stored_count() == 6
    assert agent.snapshot().state.rejected_acks == 0
