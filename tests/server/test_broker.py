"""The project's Mosquitto config against a real broker, real TLS, real paho.

"Nothing arrived" is never proved by sleeping: after the message that must
not arrive, the test sends a marker on a path that does arrive, and QoS 1
ordering on one broker lets it conclude once the marker is in.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from server_stub.deploy import pki as pkimod
from server_stub.deploy.broker import BrokerTLS, ingest_share_topic, render_acl
from server_stub.deploy.broker_process import Broker
from tests.helpers.mqtt import (
    NOT_AUTHORIZED,
    TIMEOUT,
    Identity,
    MqttClientFactory,
    PKIPaths,
    TestClient,
    wait_until,
)

ROOT = "fieldkit/v1/devices"
SHARE = ingest_share_topic()


def topic(device: str, kind: str) -> str:
    return f"{ROOT}/{device}/{kind}"


def payloads(c: TestClient) -> list[bytes]:
    return [m.payload for m in c.messages]


@pytest.fixture
def server(mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory) -> TestClient:
    """server:ingest, connected and subscribed to records and status."""
    s = mqtt_client(mosquitto, pki.server)
    assert s.connect()
    assert not s.subscribe(SHARE)[0].is_failure
    assert not s.subscribe(f"{ROOT}/+/status")[0].is_failure
    return s


def connected(factory: MqttClientFactory, broker: Broker, ident: Identity, **kw: object) -> TestClient:
    c = factory(broker, ident)
    assert c.connect(**kw), f"{ident.name} could not connect"  # type: ignore[arg-type]
    return c


def test_device_record_reaches_server_through_shared_subscription(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory, server: TestClient
) -> None:
    dev = connected(mqtt_client, mosquitto, pki.device(0))
    assert dev.wait_puback(dev.publish(topic("dev-0001", "records"), b"\x00rec\xff")) == 0
    [msg] = server.wait_messages(1)
    assert (msg.topic, msg.payload, msg.qos) == (topic("dev-0001", "records"), b"\x00rec\xff", 1)


def test_retained_status_and_server_acks_flow(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory, server: TestClient
) -> None:
    dev = connected(mqtt_client, mosquitto, pki.device(0))
    assert not dev.subscribe(topic("dev-0001", "acks"))[0].is_failure
    mid = dev.publish(topic("dev-0001", "status"), b"online", retain=True)
    assert dev.wait_puback(mid) == 0
    assert server.wait_messages(1)[0].topic == topic("dev-0001", "status")
    assert server.wait_puback(server.publish(topic("dev-0001", "acks"), b"x")) == 0
    assert dev.wait_messages(1)[0].payload == b"x"
    # Nobody subscribed to commands: PUBACK 16 "No matching subscribers", a
    # success code (< 128). Judge PUBACKs by ReasonCode.is_failure, not == 0.
    rc = server.wait_puback(server.publish(topic("dev-0001", "commands"), b"c"))
    assert rc == 16 and not rc.is_failure


def test_publish_into_another_devices_records_is_refused_with_135(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory, server: TestClient
) -> None:
    dev = connected(mqtt_client, mosquitto, pki.device(0))
    rc = dev.wait_puback(dev.publish(topic("dev-0002", "records"), b"forged"))
    assert rc == NOT_AUTHORIZED and rc.is_failure
    # The connection stays up; the device's own marker arrives, the forgery never.
    assert dev.wait_puback(dev.publish(topic("dev-0001", "records"), b"marker")) == 0
    server.wait_messages(1)
    assert payloads(server) == [b"marker"]


@pytest.mark.parametrize(
    "target",
    [
        topic("dev-0001", "acks"),  # a device must not ack itself
        topic("dev-0001", "commands"),
        topic("dev-0002", "status"),
        f"{ROOT}/dev-0001",
        "fieldkit/v1/other",
    ],
)
def test_device_writes_only_its_records_and_status(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory, target: str
) -> None:
    dev = connected(mqtt_client, mosquitto, pki.device(0))
    assert dev.wait_puback(dev.publish(target, b"x")) == NOT_AUTHORIZED


def test_server_identity_cannot_publish_records(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory, server: TestClient
) -> None:
    assert server.wait_puback(server.publish(topic("dev-0001", "records"), b"x")) == NOT_AUTHORIZED


def test_subscribing_to_another_devices_acks_delivers_nothing(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory, server: TestClient
) -> None:
    dev = connected(mqtt_client, mosquitto, pki.device(0))
    # Mosquitto 2.0's acl_file never checks SUBSCRIBE: the SUBACK grants QoS 1
    # (no reason code 135) and the `read` rule filters each delivery instead.
    for f in (topic("dev-0002", "acks"), f"{ROOT}/+/acks", "#", f"$share/g/{ROOT}/+/acks"):
        assert dev.subscribe(f) == [1]
    assert dev.subscribe(topic("dev-0001", "acks")) == [1]
    assert server.wait_puback(server.publish(topic("dev-0002", "acks"), b"not yours")) == 0
    assert server.wait_puback(server.publish(topic("dev-0001", "acks"), b"yours")) == 0
    dev.wait_for(lambda: b"yours" in payloads(dev))
    assert set(payloads(dev)) == {b"yours"}  # "#" and own filter both match it


def test_device_in_another_share_group_cannot_steal_records(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory, server: TestClient
) -> None:
    thief = connected(mqtt_client, mosquitto, pki.device(0))
    assert thief.subscribe(f"$share/other/{ROOT}/+/records") == [1]
    dev = connected(mqtt_client, mosquitto, pki.device(1))
    mids = [dev.publish(topic("dev-0002", "records"), b"%d" % i) for i in range(10)]
    assert all(dev.wait_puback(m) == 0 for m in mids)
    assert len(server.wait_messages(10)) == 10
    assert thief.messages == []


def test_device_that_joins_the_servers_share_group_swallows_records(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory, server: TestClient
) -> None:
    """Characterises a Mosquitto 2.0 weakness the ingest design must live with:
    the share group's round robin deals messages to the device's subscription,
    whose delivery the ACL then drops. Hence a secret group name
    (broker.new_share_group) and the device resending until acked."""
    thief = connected(mqtt_client, mosquitto, pki.device(0))
    assert thief.subscribe(SHARE) == [1]
    dev = connected(mqtt_client, mosquitto, pki.device(1))
    mids = [dev.publish(topic("dev-0002", "records"), b"%d" % i) for i in range(10)]
    assert all(dev.wait_puback(m) == 0 for m in mids)  # PUBACK says nothing of delivery
    thief.close()  # leave the group; a marker now reaches the server for sure
    assert dev.wait_puback(dev.publish(topic("dev-0002", "records"), b"marker")) == 0
    server.wait_for(lambda: b"marker" in payloads(server))
    assert thief.messages == []
    assert len(server.messages) - 1 < 10  # some records were silently dropped


@pytest.mark.parametrize("who", ["no certificate", "certificate from another CA"])
def test_client_without_a_valid_certificate_cannot_connect(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory, who: str
) -> None:
    ident = None if who == "no certificate" else pki.foreign_device
    c = mqtt_client(mosquitto, ident)
    assert not c.connect(timeout=TIMEOUT)
    assert c.connack is None  # refused during the TLS handshake, before MQTT
    assert "peer did not return a certificate" in mosquitto.log_text() or (
        "certificate verify failed" in mosquitto.log_text()
    )


def test_client_pinning_another_ca_refuses_the_broker(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory
) -> None:
    c = mqtt_client(mosquitto, pki.device(0), ca_cert=pki.foreign_ca_cert)
    assert not c.connect()
    assert c.connect_errors and "CERTIFICATE_VERIFY_FAILED" in c.connect_errors[0]


def test_second_connection_with_the_same_certificate_takes_over(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory
) -> None:
    # use_username_as_clientid: one live connection per CN. Two ingest workers
    # need two server identities (server:ingest-1, ...), or they kick each other.
    first = connected(mqtt_client, mosquitto, pki.server)
    first.client.reconnect_delay_set(60, 120)  # keep paho from fighting back
    connected(mqtt_client, mosquitto, pki.server)
    assert first.wait_for(lambda: bool(first.disconnects))


def test_restart_keeps_queued_ack_for_offline_device(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory
) -> None:
    # clean_start=False from the very first connect: Mosquitto 2.0 writes a
    # session to disk only if its CONNECT had clean start 0 (an expiry alone
    # keeps it in memory but loses it on restart).
    dev = connected(mqtt_client, mosquitto, pki.device(0), clean_start=False, session_expiry=3600)
    assert dev.subscribe(topic("dev-0001", "acks")) == [1]
    dev.close()
    srv = connected(mqtt_client, mosquitto, pki.server)
    assert srv.wait_puback(srv.publish(topic("dev-0001", "acks"), b"ack-1")) == 0
    srv.close()

    port = mosquitto.port
    mosquitto.restart()
    assert mosquitto.port == port

    dev = connected(mqtt_client, mosquitto, pki.device(0), clean_start=False, session_expiry=3600)
    assert dev.session_present
    assert [m.payload for m in dev.wait_messages(1)] == [b"ack-1"]


def test_clean_start_session_is_lost_on_restart(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory
) -> None:
    """The trap the test above avoids (paho's default MQTT_CLEAN_START_FIRST_ONLY
    sends clean start 1 on a process's first connect)."""
    dev = connected(mqtt_client, mosquitto, pki.device(0), clean_start=True, session_expiry=3600)
    dev.close()
    mosquitto.restart()
    dev = connected(mqtt_client, mosquitto, pki.device(0), clean_start=False, session_expiry=3600)
    assert dev.session_present is False


def test_shared_subscription_of_offline_server_queues_across_restart(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory
) -> None:
    srv = connected(mqtt_client, mosquitto, pki.server, clean_start=False, session_expiry=3600)
    assert srv.subscribe(SHARE) == [1]
    srv.close()
    dev = connected(mqtt_client, mosquitto, pki.device(1))
    assert dev.wait_puback(dev.publish(topic("dev-0002", "records"), b"while away")) == 0
    dev.close()
    mosquitto.restart()
    srv = connected(mqtt_client, mosquitto, pki.server, clean_start=False, session_expiry=3600)
    assert srv.session_present
    assert [m.payload for m in srv.wait_messages(1)] == [b"while away"]


def _mosquitto_pub(
    broker: Broker, pki: PKIPaths, ident: Identity | None, t: str
) -> subprocess.CompletedProcess[str]:
    cmd = ["mosquitto_pub", "-h", "localhost", "-p", str(broker.port), "--cafile",
           str(pki.ca_cert), "-V", "mqttv5", "-q", "1", "-t", t, "-m", "forged"]  # fmt: skip
    if ident is not None:
        cmd += ["--cert", str(ident.cert), "--key", str(ident.key)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def test_mosquitto_pub_with_device_certificate(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory, server: TestClient
) -> None:
    victim = connected(mqtt_client, mosquitto, pki.device(1))
    assert victim.subscribe(topic("dev-0002", "acks")) == [1]
    attacker = pki.device(0)

    ok = _mosquitto_pub(mosquitto, pki, attacker, topic("dev-0001", "records"))
    assert ok.returncode == 0 and ok.stderr == ""
    # Refused, but mosquitto_pub 2.0 still exits 0: check its stderr.
    forged = _mosquitto_pub(mosquitto, pki, attacker, topic("dev-0002", "acks"))
    assert forged.returncode == 0
    assert "Not authorized" in forged.stderr
    no_cert = _mosquitto_pub(mosquitto, pki, None, topic("dev-0002", "acks"))
    assert no_cert.returncode != 0

    assert server.wait_messages(1)[0].payload == b"forged"
    assert server.wait_puback(server.publish(topic("dev-0002", "acks"), b"real")) == 0
    victim.wait_for(lambda: len(victim.messages) >= 1)
    assert payloads(victim) == [b"real"]


def test_revoked_device_is_refused_with_crl(
    tmp_path: Path, pki: PKIPaths, mqtt_client: MqttClientFactory
) -> None:
    revoked = pki.device(2)
    ca = pki.load_ca()
    crl = pkimod.write_crl(
        tmp_path / "ca.crl", pkimod.make_crl(ca, [pkimod.load_cert(revoked.cert).serial_number])
    )
    tls = BrokerTLS(pki.ca_cert, pki.server_cert, pki.server_key, crlfile=crl)
    with Broker.create(tmp_path / "b", tls, probe_cert=(pki.server.cert, pki.server.key)) as b:
        assert "crlfile" in b.config.conf_path.read_text()
        assert not mqtt_client(b, revoked).connect()
        assert mqtt_client(b, pki.device(0)).connect()


def test_ed25519_device_key_works_end_to_end(
    tmp_path: Path,
    mosquitto: Broker,
    pki: PKIPaths,
    mqtt_client: MqttClientFactory,
    server: TestClient,
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key, csr = pkimod.make_csr("dev-ed", ed25519.Ed25519PrivateKey.generate())
    issued = pkimod.sign_device_csr(pki.load_ca(), csr, "dev-ed")
    ident = Identity(
        "dev-ed",
        pkimod.write_cert(tmp_path / "ed.crt", issued.cert),
        pkimod.write_key(tmp_path / "ed.key", key),
    )
    dev = connected(mqtt_client, mosquitto, ident)
    assert dev.wait_puback(dev.publish(topic("dev-ed", "records"), b"x")) == 0
    assert server.wait_messages(1)[0].topic == topic("dev-ed", "records")


def test_config_files_are_as_designed(mosquitto: Broker) -> None:
    conf = mosquitto.config.conf_path.read_text()
    for line in ("require_certificate true", "use_identity_as_username true",
                 "use_username_as_clientid true", "allow_anonymous false",
                 "persistence true", f"listener {mosquitto.port} 127.0.0.1"):  # fmt: skip
        assert line in conf.splitlines()
    assert mosquitto.config.acl_path.read_text() == render_acl(("server:ingest",))
    assert (mosquitto.config.persistence_dir / "mosquitto.db").exists() is False
    mosquitto.stop()
    assert (mosquitto.config.persistence_dir / "mosquitto.db").exists()


def test_will_on_another_devices_status_is_never_delivered(
    mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory, server: TestClient
) -> None:
    # Mosquitto 2.0 accepts the CONNECT (will topics are not checked there) and
    # applies the write ACL only when the will fires.
    def sub_with_will(ident: Identity, will_topic: str) -> subprocess.Popen[bytes]:
        cmd = ["mosquitto_sub", "-h", "localhost", "-p", str(mosquitto.port), "--cafile",
               str(pki.ca_cert), "--cert", str(ident.cert), "--key", str(ident.key),
               "-V", "mqttv5", "-t", topic(ident.name, "acks"), "--will-topic", will_topic,
               "--will-payload", f"{ident.name} gone", "--will-qos", "1"]  # fmt: skip
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def connected_in_log(name: str) -> bool:
        return f"as {name} (" in mosquitto.log_text()

    forger = sub_with_will(pki.device(0), topic("dev-0002", "status"))
    honest = sub_with_will(pki.device(2), topic("dev-0003", "status"))
    try:
        assert wait_until(lambda: connected_in_log("dev-0001") and connected_in_log("dev-0003"))
        forger.kill()  # an unclean end fires the will
        forger.wait(10)
        assert wait_until(lambda: "Client dev-0001 closed its connection" in mosquitto.log_text())
        honest.kill()
        honest.wait(10)
        server.wait_for(lambda: b"dev-0003 gone" in payloads(server))
        assert payloads(server) == [b"dev-0003 gone"]
    finally:
        for p in (forger, honest):
            if p.poll() is None:
                p.kill()
                p.wait(10)
