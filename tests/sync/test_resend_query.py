"""No blind resends: the resend query (sync/wire/ack_query.py) on the wire, at the server on
both transports, and in the agent, which asks before sending a body it sent before and
keeps a bounded number of body bytes in flight.

Real Mosquitto, real TLS, the real ingestion server; bytes counted at a TCP proxy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

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


@pytest.fixture
def devices() -> Iterator[list[AgentDevice]]:
    made: list[AgentDevice] = []
    yield made
    for d in made:
        d.close()


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
        dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport=transport,
                          **{f"{transport}_url": proxy.url("mqtts" if transport == "mqtt" else "https")})
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
