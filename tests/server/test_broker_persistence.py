"""A broker that remembers: after a kill -9, the sessions and the QoS 1 messages queued for
offline clients are back, once Mosquitto's autosave has run (real Mosquitto, TLS, paho).

The flow: a device with a persistent session subscribes to its acks and goes away; the
server (persistent session, shared subscription) publishes acks for it and goes away; another
device sends a record, queued for the server. Then the crash, and both come back.
"""

from __future__ import annotations

import os
from pathlib import Path

from server_stub.deploy.broker import ingest_share_topic
from server_stub.deploy.broker_process import Broker
from sync.wire import topics
from tests.helpers.mqtt import Identity, MqttClientFactory, PKIPaths, TestClient, wait_until

EXPIRY = 3600
ACKS = [b"ack-1", b"ack-2", b"ack-3"]
RECORD = b"record while the server was away"
SAVE_WAIT = 20.0  # the broker saves every ~6 s; generous for a loaded host


def _stamp(db: Path) -> tuple[int, int, int] | None:
    """What changes when Mosquitto saves: it writes mosquitto.db.new and renames it."""
    try:
        st = os.stat(db)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _connect(factory: MqttClientFactory, broker: Broker, ident: Identity, **kw: object) -> TestClient:
    c = factory(broker, ident)
    assert c.connect(**kw), f"could not connect to {broker.url}"  # type: ignore[arg-type]
    return c


def _queue_for_offline_clients(broker: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory
                               ) -> tuple[int, int, int] | None:
    """Acks queued for an offline device, a record queued for the offline server; returns the
    persistence file's stamp once the broker had them all (its last PUBACK)."""
    dev, other = pki.device(0), pki.device(1)
    # clean_start=False from the very first connect: Mosquitto 2.0 keeps a session on disk
    # only if its CONNECT had clean start 0.
    d = _connect(mqtt_client, broker, dev, clean_start=False, session_expiry=EXPIRY)
    assert d.subscribe(topics.device_topic(dev.name, "acks")) == [1]
    d.close()
    s = _connect(mqtt_client, broker, pki.server, clean_start=False, session_expiry=EXPIRY)
    assert s.subscribe(ingest_share_topic()) == [1]
    for body in ACKS:
        assert s.wait_puback(s.publish(topics.device_topic(dev.name, "acks"), body)) == 0
    s.close()
    o = _connect(mqtt_client, broker, other)
    assert o.wait_puback(o.publish(topics.device_topic(other.name, "records"), RECORD)) == 0
    o.close()
    return _stamp(broker.config.persistence_dir / "mosquitto.db")


def _wait_saved(broker: Broker, before: tuple[int, int, int] | None) -> None:
    db = broker.config.persistence_dir / "mosquitto.db"
    assert wait_until(lambda: _stamp(db) not in (None, before), SAVE_WAIT), \
        f"mosquitto.db not saved after the publish: {broker.log_text()[-2000:]}"


def _crash_and_restart(broker: Broker) -> None:
    port = broker.port
    broker.kill()  # SIGKILL: no save at exit
    broker.start()
    assert broker.port == port


def test_a_crash_after_the_autosave_keeps_sessions_and_queued_messages(
        mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory) -> None:
    conf = mosquitto.config.conf_path.read_text().splitlines()
    assert "autosave_on_changes false" in conf and "autosave_interval 5" in conf
    before = _queue_for_offline_clients(mosquitto, pki, mqtt_client)
    _wait_saved(mosquitto, before)
    _crash_and_restart(mosquitto)

    d = _connect(mqtt_client, mosquitto, pki.device(0), clean_start=False, session_expiry=EXPIRY)
    assert d.session_present is True
    assert [m.payload for m in d.wait_messages(len(ACKS))] == ACKS
    s = _connect(mqtt_client, mosquitto, pki.server, clean_start=False, session_expiry=EXPIRY)
    assert s.session_present is True
    assert [m.payload for m in s.wait_messages(1)] == [RECORD]


def test_with_the_old_60_s_autosave_the_same_crash_loses_them(
        tmp_path: Path, mosquitto: Broker, pki: PKIPaths, mqtt_client: MqttClientFactory) -> None:
    """Control: the old setting beside the new one, same flow, same moment of the crash
    (once the new broker has saved): the old broker comes back empty."""
    old = Broker.create(tmp_path / "broker-60s", pki.broker_tls, autosave_interval=60,
                        probe_cert=(pki.server.cert, pki.server.key))
    old.start()
    try:
        assert "autosave_interval 60" in old.config.conf_path.read_text().splitlines()
        before = {b: _queue_for_offline_clients(b, pki, mqtt_client) for b in (mosquitto, old)}
        _wait_saved(mosquitto, before[mosquitto])
        for b in (mosquitto, old):
            _crash_and_restart(b)

        d = _connect(mqtt_client, old, pki.device(0), clean_start=False, session_expiry=EXPIRY)
        assert d.session_present is False  # no session: its subscription and queue are gone
        s = _connect(mqtt_client, old, pki.server, clean_start=False, session_expiry=EXPIRY)
        assert s.session_present is False
        # Nothing queued comes late either: a marker sent now is the first message it gets.
        acks = topics.device_topic(pki.device(0).name, "acks")
        assert d.subscribe(acks) == [1]
        assert s.wait_puback(s.publish(acks, b"marker")) == 0
        assert [m.payload for m in d.wait_messages(1)] == [b"marker"]
        # ...while the new broker, crashed at the same moment, kept both sessions.
        d2 = _connect(mqtt_client, mosquitto, pki.device(0), clean_start=False,
                      session_expiry=EXPIRY)
        assert d2.session_present is True
        assert [m.payload for m in d2.wait_messages(len(ACKS))] == ACKS
    finally:
        old.stop()
