"""Group commit at the server: several envelopes in one store transaction, each answered
as if it came alone; an MQTT backlog is stored in batches and every record is acked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from server_stub.core.store import Store
from server_stub.deploy import keys
from server_stub.ingest.ingest import (
    REFUSED_CONFLICT,
    REFUSED_MALFORMED,
    REFUSED_UNKNOWN_DEVICE,
    Ingestor,
    Outcome,
)
from server_stub.ingest.mqtt_worker import MAX_BATCH
from tests.helpers.mqtt import MqttClientFactory, PKIPaths
from tests.helpers.outbox import tiny_record
from tests.helpers.server import IngestServer, TestDevice, check_ack

ROOT = "fieldkit/v1/devices"
Factory = Callable[..., IngestServer]


def _ingestor(server: IngestServer, store: Store) -> Ingestor:
    return Ingestor(store, [keys.load_seal_private(p) for p in server.config.keys.seal_keys],
                    keys.load_sign_private(server.config.keys.sign_key))


def test_a_batch_answers_each_envelope_in_order_as_if_it_came_alone(
        ingest_server_factory: Factory, pki: PKIPaths) -> None:
    server = ingest_server_factory(start=False)
    dev = TestDevice.create(pki.device(0), server)
    stranger = TestDevice.create(pki.device(1), server, register=False)
    a, b = dev.seal(1), dev.seal(2)
    # Same record id as `a`, other content: a conflict, even inside the batch that stores `a`.
    clash = dev.sealer.seal(replace(tiny_record(dev.id, seed=3), record_id=a.header.record_id))
    alien = stranger.seal(4)
    ing = _ingestor(server, server.store)
    got = ing.ingest_many([(a.data, dev.id), (b.data, dev.id), (a.data, dev.id), (b"\x00garbage", dev.id),
                           (alien.data, stranger.id), (clash.data, dev.id), (a.data, "dev-other")],
                          transport="mqtt")
    assert [r.outcome for r in got] == [Outcome.ACK] * 3 + [Outcome.MALFORMED] + [Outcome.ACK] * 2 + [
        Outcome.DEVICE_MISMATCH]
    assert got[0].stored_new and got[1].stored_new
    assert not got[2].stored_new and got[2].ack == got[0].ack  # the resend inside the batch
    check_ack(server, dev.id, got[0].ack, a)
    check_ack(server, dev.id, got[1].ack, b)
    assert got[4].verdict == REFUSED_UNKNOWN_DEVICE
    assert got[5].verdict == REFUSED_CONFLICT
    assert server.stored_ids() == {a.header.record_id, b.header.record_id}
    # The same batch again changes nothing and gets the same acks.
    again = ing.ingest_many([(a.data, dev.id), (b.data, dev.id)], transport="https")
    assert [r.ack for r in again] == [got[0].ack, got[1].ack]
    assert server.stored_count() == 2


def test_a_batch_with_the_store_down_is_retryable_and_never_raises(
        ingest_server_factory: Factory, pki: PKIPaths) -> None:
    server = ingest_server_factory(start=False)
    dev = TestDevice.create(pki.device(0), server)
    down = Store("postgresql://fieldkit@127.0.0.1:1/nowhere")  # nothing listens on port 1
    got = _ingestor(server, down).ingest_many([(dev.seal(i).data, dev.id) for i in range(3)],
                                              transport="mqtt")
    assert [r.outcome for r in got] == [Outcome.RETRY] * 3
    assert all("store unavailable" in r.detail for r in got)


def test_mqtt_backlog_is_stored_in_batches_and_every_record_is_acked(
        ingest_server: IngestServer, pki: PKIPaths, mqtt_client: MqttClientFactory) -> None:
    dev = TestDevice.create(pki.device(0), ingest_server)
    c = mqtt_client(ingest_server.broker, dev.identity)
    assert c.connect(clean_start=False, session_expiry=3600)
    assert not c.subscribe(f"{ROOT}/{dev.id}/acks")[0].is_failure
    assert ingest_server.running is not None and ingest_server.running.wait_ready(15)
    ingest_server.stop()  # the worker's persistent session queues the backlog
    sealed = [dev.seal(i) for i in range(80)]
    for s in sealed:
        assert not c.wait_puback(c.publish(f"{ROOT}/{dev.id}/records", s.data)).is_failure
    ingest_server.start()
    msgs = c.wait_messages(len(sealed), timeout=60)
    acks = {ingest_server.verifier(dev.id).verify(m.payload).record_id: m.payload for m in msgs}
    for s in sealed:
        check_ack(ingest_server, dev.id, acks[s.header.record_id], s)
    assert ingest_server.stored_count() == len(sealed)
    worker = ingest_server.running.workers[0]
    # Fewer transactions than records, and none larger than the cap.
    assert len(sealed) / MAX_BATCH <= worker.batches < len(sealed), worker.batches


def test_a_row_the_store_refuses_costs_only_itself(ingest_server_factory: Factory, pki: PKIPaths) -> None:
    server = ingest_server_factory(start=False)
    dev = TestDevice.create(pki.device(0), server)
    # A store that refuses one row (a trigger stands in for any per-row failure).
    with server.store.tx() as conn:
        conn.execute("CREATE TRIGGER poison BEFORE INSERT ON records WHEN NEW.aspirant_id = 'asp-poison' "
                     "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END")
    good = [dev.seal(i) for i in range(3)]
    bad = dev.sealer.seal(replace(tiny_record(dev.id, seed=9), aspirant_id="asp-poison", folio="TST-00009"))
    got = _ingestor(server, server.store).ingest_many(
        [(good[0].data, dev.id), (bad.data, dev.id), (good[1].data, dev.id), (good[2].data, dev.id)],
        transport="mqtt")
    assert [r.outcome for r in got] == [Outcome.ACK, Outcome.RETRY, Outcome.ACK, Outcome.ACK]
    assert "poisoned row" in got[1].detail
    assert server.stored_ids() == {s.header.record_id for s in good}


def test_text_a_store_column_cannot_hold_is_refused_for_good(ingest_server_factory: Factory, pki: PKIPaths,
                                                            pg_database: str) -> None:
    server = ingest_server_factory(store_url=pg_database, start=False)
    dev = TestDevice.create(pki.device(0), server)
    nul = dev.sealer.seal(replace(tiny_record(dev.id, seed=4), aspirant_id="asp\x00x", folio="TST-00004"))
    ok = dev.seal(5)
    got = _ingestor(server, server.store).ingest_many([(nul.data, dev.id), (ok.data, dev.id)],
                                                      transport="mqtt")
    assert got[0].outcome is Outcome.ACK and got[0].verdict == REFUSED_MALFORMED  # final: never resent
    assert check_ack(server, dev.id, got[0].ack, nul).verdict == REFUSED_MALFORMED
    assert got[1].stored_new and server.stored_ids() == {ok.header.record_id}
