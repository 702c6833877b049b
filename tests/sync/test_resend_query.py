"""No blind resends: the resend query (sync/wire/ack_query.py) on the wire, at the server on
both transports, and in the agent, which asks before sending a body it sent before and
keeps a bounded number of body bytes in flight.

Real Mosquitto, real TLS, the real ingestion server; bytes counted at a TCP proxy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from server_stub.core.asgi import Receive, Scope, Send, send_json
from server_stub.deploy.broker import render_acl
from server_stub.deploy.broker_process import Broker
from server_stub.ingest.https_api import RecordsApp
from server_stub.ingest.ingest import Ingestor, IngestResult, Outcome
from server_stub.ingest.mqtt_worker import MqttWorker
from sync.outbox.outbox import OutboxItem
from sync.wire.ack_query import (
    MAX_QUERY_ITEMS,
    AckAnswer,
    AckQueryError,
    answer_query,
    decode_answer,
    decode_query,
    encode_answer,
    encode_query,
    new_query,
)
from sync.wire.topics import device_topic
from tests.helpers.agent import FAST, AgentDevice, make_device, wait_until
from tests.helpers.mqtt import MqttClientFactory, PKIPaths
from tests.helpers.server import IngestServer, TestDevice
from tests.helpers.tcp_proxy import TcpProxy

QUERY_URL = "/v1/records/query"


# --- the message ---------------------------------------------------------------------------

def test_query_and_answer_round_trip() -> None:
    items = [(uuid.uuid4(), hashlib.sha256(bytes([i])).digest()) for i in range(3)]
    q = new_query("dev-0001", items)
    assert decode_query(encode_query(q)) == q
    a = answer_query(q, [b"ack-0", None, b"ack-2"])
    assert a == AckAnswer(q.query_id, (b"ack-0", b"ack-2"), (items[1][0],))
    assert decode_answer(encode_answer(a)) == a


@pytest.mark.parametrize("data", [
    b"", b"\xff", encode_answer(AckAnswer(b"12345678", (), ())),       # an answer is not a query
    b"\xa4av\x02cdevadcqidH12345678eitems\x80",                       # version 2
])
def test_malformed_queries_are_refused(data: bytes) -> None:
    with pytest.raises(AckQueryError):
        decode_query(data)


def test_query_size_is_bounded() -> None:
    too_many = [(uuid.uuid4(), bytes(32))] * (MAX_QUERY_ITEMS + 1)
    with pytest.raises(ValueError):
        new_query("dev-0001", too_many)
    with pytest.raises(ValueError):
        new_query("dev-0001", [])


# --- the server ------------------------------------------------------------------------------

def _query(server: IngestServer, dev: TestDevice, data: bytes) -> requests.Response:
    return requests.post(server.https_url + QUERY_URL, data=data, timeout=15,
                         cert=(str(dev.identity.cert), str(dev.identity.key)),
                         verify=str(server.ca_cert), headers={"Content-Type": "application/cbor"})


def test_https_query_answers_stored_acks_and_lists_the_rest(ingest_server: IngestServer,
                                                             pki: PKIPaths) -> None:
    a = TestDevice.create(pki.device(0), ingest_server)
    b = TestDevice.create(pki.device(1), ingest_server)
    stored = a.seal(1)
    ack = a.post(ingest_server, stored.data).content
    other = b.seal(2)
    assert b.post(ingest_server, other.data).status_code == 200
    never = a.seal(3)
    items = [(stored.header.record_id, stored.sha256),
             (stored.header.record_id, bytes(32)),                            # other bytes
             (other.header.record_id, other.sha256),                          # another device's
             (never.header.record_id, never.sha256)]
    q = new_query(a.id, items)
    resp = _query(ingest_server, a, encode_query(q))
    assert resp.status_code == 200
    answer = decode_answer(resp.content)
    assert answer.query_id == q.query_id and answer.acks == (ack,)
    assert list(answer.missing) == [stored.header.record_id, other.header.record_id, never.header.record_id]
    # Only in the certificate's own name; garbage is a clear 400.
    assert _query(ingest_server, b, encode_query(q)).status_code == 403
    assert _query(ingest_server, a, b"\x00garbage").status_code == 400


def test_mqtt_query_is_answered_on_the_devices_own_topic(ingest_server: IngestServer, pki: PKIPaths,
                                                          mqtt_client: MqttClientFactory) -> None:
    a = TestDevice.create(pki.device(0), ingest_server)
    stored = a.seal(5)
    ack = a.post(ingest_server, stored.data).content
    client = mqtt_client(ingest_server.broker, pki.device(0))
    assert client.connect()
    assert not client.subscribe(device_topic(a.id, "answer"))[0].is_failure
    q = new_query(a.id, [(stored.header.record_id, stored.sha256)])
    assert client.wait_puback(client.publish(device_topic(a.id, "query"), encode_query(q))) == 0
    [msg] = client.wait_messages(1)
    assert decode_answer(msg.payload) == AckAnswer(q.query_id, (ack,), ())
    # Another device can neither ask in a's name nor read a's answers.
    intruder = mqtt_client(ingest_server.broker, pki.device(1))
    assert intruder.connect()
    assert intruder.wait_puback(intruder.publish(device_topic(a.id, "query"), encode_query(q))).is_failure


# --- the agent -------------------------------------------------------------------------------

def _sent_before(dev: AgentDevice, server: IngestServer, n: int) -> tuple[list[uuid.UUID], int]:
    """`n` records the server stored whose acks the device never got (the link dropped):
    posted directly, then marked in flight in the outbox as the agent does before a send."""
    ids = dev.put(n, image_bytes=12000)
    with dev.outbox() as ob:
        items: list[OutboxItem] = ob.next_batch(n, retry_after_s=None)
        ob.mark_in_flight([i.record_id for i in items])
    poster = TestDevice(dev.identity, dev.signing_key, dev.sealer)
    for i in items:
        assert poster.post(server, i.envelope).status_code == 200
    return ids, sum(len(i.envelope) for i in items)


@pytest.mark.parametrize("transport", ["mqtt", "https"])
@pytest.mark.parametrize("resend_query", [True, False])
def test_records_the_server_holds_are_not_sent_again(tmp_path: Path, ingest_server: IngestServer,
                                                     pki: PKIPaths, devices: list[AgentDevice],
                                                     transport: str, resend_query: bool) -> None:
    target = (ingest_server.broker.host, ingest_server.broker.port) if transport == "mqtt" else \
        ("127.0.0.1", ingest_server.https_port)
    proxy = TcpProxy(*target).start()
    try:
        url = proxy.url("mqtts" if transport == "mqtt" else "https")
        dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport=transport,
                          mqtt_url=url if transport == "mqtt" else None,
                          https_url=url if transport == "https" else None)
        devices.append(dev)
        ids, body_bytes = _sent_before(dev, ingest_server, 8)
        fresh = dev.put(2, image_bytes=12000)
        dev.agent(dataclasses.replace(FAST, resend_query=resend_query))
        assert wait_until(lambda: dev.unacked() == 0, 60), dev.unacked()
        assert ingest_server.stored_ids() == set(ids + fresh)
        if resend_query:
            # The two new records' bodies (~2 x 37 KB) and the query, handshakes and acks:
            # far less than the eight bodies the server had.
            assert proxy.bytes_up < body_bytes / 2, (proxy.bytes_up, body_bytes)
        else:
            assert proxy.bytes_up > body_bytes  # the old way: every body again
    finally:
        proxy.close()


def test_body_bytes_in_flight_are_bounded(tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths,
                                          devices: list[AgentDevice]) -> None:
    """With no ack coming (the server is down; the broker keeps what it gets), the device
    has at most `window_bytes` (or one envelope) of bodies out: all a cut could waste."""
    proxy = TcpProxy(ingest_server.broker.host, ingest_server.broker.port).start()
    try:
        dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport="mqtt",
                          mqtt_url=proxy.url("mqtts"))
        devices.append(dev)
        ids = dev.put(20, image_bytes=6000)
        with dev.outbox() as ob:
            envelope = len(ob.next_batch(1, retry_after_s=None)[0].envelope)
        ingest_server.stop()
        budget = 3 * envelope
        dev.agent(dataclasses.replace(FAST, window_bytes=budget, ack_timeout_s=600.0))
        assert wait_until(lambda: proxy.bytes_up > budget, 30)
        with dev.outbox() as ob:  # it has sent what the window holds, and waits
            assert wait_until(lambda: ob.counts().in_flight == 3, 15), ob.counts()
        sent = proxy.bytes_up
        assert sent < budget + envelope, (sent, budget)  # 3 bodies and the MQTT/TLS overhead
        ingest_server.start()
        assert wait_until(lambda: dev.unacked() == 0, 60), dev.unacked()
        assert ingest_server.stored_ids() == set(ids) and ingest_server.stored_count() == len(ids)
    finally:
        proxy.close()


# --- older servers and brokers, and what the review found ----------------------------------------

def _old_acl(server: IngestServer, mqtt_client: MqttClientFactory | None = None, probe: Any = None) -> None:
    """The broker's ACL as a server before resend queries wrote it (no query/answer lines);
    with a client factory, the broker re-reads it and the test waits until it applies."""
    broker = server.broker
    text = "\n".join(line for line in render_acl(broker.config.server_identities).splitlines()
                     if not line.endswith(("/query", "/answer")))
    broker.config.acl_path.write_text(text)
    if mqtt_client is None:
        return
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGHUP)  # not Broker.reload(): it writes the current ACL
    c = mqtt_client(broker, probe)
    assert c.connect()
    topic = device_topic(probe.name, "query")
    assert wait_until(lambda: c.wait_puback(c.publish(topic, b"probe")).is_failure, 10, step=0.2)


def test_a_broker_acl_without_queries_costs_bodies_not_records(
        tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths, devices: list[AgentDevice],
        mqtt_client: MqttClientFactory) -> None:
    _old_acl(ingest_server, mqtt_client, pki.device(2))
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport="mqtt")
    devices.append(dev)
    ids, _ = _sent_before(dev, ingest_server, 2)
    fresh = dev.put(1)
    agent = dev.agent(dataclasses.replace(FAST, query_wait_s=600.0))
    assert wait_until(lambda: dev.unacked() == 0, 30), (dev.unacked(), agent.snapshot().state.last_error)
    assert set(ids + fresh) <= ingest_server.stored_ids()
    assert agent.snapshot().state.connection == "online"  # a refused query is not a refused device


def test_serve_rewrites_an_old_broker_acl(tmp_path: Path, ingest_server_factory: Callable[..., IngestServer],
                                          mosquitto: Broker) -> None:
    server: IngestServer = ingest_server_factory(mode="process", start=False)
    acl = mosquitto.config.acl_path
    with server.config_path.open("a") as f:
        f.write(f'[fleet]\nbroker_acl = "{acl}"\n')
    _old_acl(server)
    assert "/query" not in acl.read_text()
    server.start()
    assert wait_until(lambda: "/query" in acl.read_text(), 20)


def test_an_mqtt_server_that_never_answers_gets_the_bodies_after_the_wait(
        tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths, devices: list[AgentDevice],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MqttWorker, "_answer", lambda self, r: None)  # a worker of an older version
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport="mqtt")
    devices.append(dev)
    ids, _ = _sent_before(dev, ingest_server, 2)
    dev.agent(dataclasses.replace(FAST, query_wait_s=2.0))
    assert wait_until(lambda: dev.unacked() == 0, 30), dev.unacked()
    assert set(ids) <= ingest_server.stored_ids()


def test_an_https_server_without_the_query_gets_the_bodies_at_once(
        tmp_path: Path, ingest_server_factory: Callable[..., IngestServer], pki: PKIPaths,
        devices: list[AgentDevice], monkeypatch: pytest.MonkeyPatch) -> None:
    async def older(self: RecordsApp, scope: Scope, receive: Receive, send: Send, cn: str) -> None:
        await send_json(send, 404, {"error": "not_found"})
    monkeypatch.setattr(RecordsApp, "_query", older)
    server: IngestServer = ingest_server_factory()
    dev = make_device(tmp_path / "dev", server, pki.device(0), transport="https")
    devices.append(dev)
    ids, _ = _sent_before(dev, server, 2)
    dev.agent(dataclasses.replace(FAST, query_wait_s=600.0))
    assert wait_until(lambda: dev.unacked() == 0, 30), dev.unacked()
    assert set(ids) <= server.stored_ids()


def test_another_devices_refusal_is_not_handed_out(ingest_server: IngestServer, pki: PKIPaths) -> None:
    a = TestDevice.create(pki.device(0), ingest_server)
    stranger = TestDevice.create(pki.device(1), ingest_server, register=False)  # refused for good
    sealed = stranger.seal(7)
    assert stranger.post(ingest_server, sealed.data).status_code == 200
    for rid in (uuid.uuid4(), sealed.header.record_id):
        q = new_query(a.id, [(rid, sealed.sha256)])
        answer = decode_answer(_query(ingest_server, a, encode_query(q)).content)
        assert answer.acks == () and answer.missing == (rid,)
    own = new_query(stranger.id, [(sealed.header.record_id, sealed.sha256)])
    assert len(decode_answer(_query(ingest_server, stranger, encode_query(own)).content).acks) == 1


def test_an_ack_that_comes_after_its_query_does_not_set_the_clock(
        tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths, devices: list[AgentDevice]) -> None:
    """A first send's ack that arrives after the record was asked about says nothing of the
    time of the send: device and server share one clock here, so any offset is an error."""
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport="mqtt")
    devices.append(dev)
    ingest_server.stop()
    dev.put(1)
    agent = dev.agent(dataclasses.replace(FAST, ack_timeout_s=1.0, query_wait_s=600.0))
    with dev.outbox() as ob:
        assert wait_until(lambda: ob.counts().in_flight == 1, 15)
    assert wait_until(lambda: agent.queries.asked_total >= 1, 15)
    time.sleep(3)  # the server is away a while longer: a stale ack would read 1.5 s off
    ingest_server.start()
    assert wait_until(lambda: dev.unacked() == 0, 30)
    assert agent.snapshot().state.clock_offset_ms is None


def test_bodies_cleared_by_an_answer_keep_to_the_byte_window(
        tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths, devices: list[AgentDevice],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten records asked about at connect, all missing at a server that answers queries but
    cannot store (retryable): their bodies go at most `window_bytes` at a time."""
    monkeypatch.setattr(Ingestor, "ingest_many", lambda self, items, transport: [
        IngestResult(Outcome.RETRY, detail="store busy") for _ in items])
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport="mqtt")
    devices.append(dev)
    dev.put(10, image_bytes=12000)
    with dev.outbox() as ob:
        items = ob.next_batch(10, retry_after_s=None)
        ob.mark_in_flight([i.record_id for i in items])
    envelope = max(len(i.envelope) for i in items)
    agent = dev.agent(dataclasses.replace(FAST, window_bytes=3 * envelope, ack_timeout_s=600.0))
    assert wait_until(lambda: agent.acks.window.bodies() == 3, 20)
    peak = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        peak = max(peak, agent.acks.window.body_bytes())
        time.sleep(0.005)
    assert peak <= 3 * envelope, (peak, envelope)
