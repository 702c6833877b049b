"""Faults at the server: killed after storing but before acking; broker restarts;
several workers on one PostgreSQL must not double-store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from server_stub.core.store import open_store
from server_stub.deploy import keys
from server_stub.deploy import pki as pkimod
from server_stub.deploy.broker_process import Broker
from server_stub.ingest.ingest import FAULT_CRASH_AFTER_STORE, FAULT_EXIT_CODE, Ingestor
from tests.helpers.agent import wait_until
from tests.helpers.mqtt import Identity, MqttClientFactory, PKIPaths, _write_identity
from tests.helpers.server import IngestServer, TestDevice, check_ack

ROOT = "fieldkit/v1/devices"
Factory = Callable[..., IngestServer]


def test_server_killed_after_storing_before_acking_resend_gets_the_same_ack(
        ingest_server_factory: Factory, pki: PKIPaths) -> None:
    server = ingest_server_factory(mode="process", fault=FAULT_CRASH_AFTER_STORE, mqtt=False)
    dev = TestDevice.create(pki.device(0), server)
    s = dev.seal(1)
    try:
        dev.post(server, s.data)
        raise AssertionError("the server answered although it should have died")
    except Exception as e:  # connection reset / closed without an answer
        assert "AssertionError" not in type(e).__name__
    assert server.wait_exit() == FAULT_EXIT_CODE
    assert server.stored_count() == 1  # stored, never acked
    stored_ack = server.store.get_record(s.header.record_id).ack  # type: ignore[union-attr]
    server.fault = None
    server.start()
    r = dev.post(server, s.data)
    assert r.status_code == 200 and r.content == stored_ack
    check_ack(server, dev.id, r.content, s)
    assert server.stored_count() == 1


def test_mqtt_worker_survives_broker_restart_and_gets_records_queued_meanwhile(
        ingest_server: IngestServer, pki: PKIPaths, mqtt_client: MqttClientFactory) -> None:
    dev = TestDevice.create(pki.device(0), ingest_server)
    broker = ingest_server.broker
    broker.restart()
    c = mqtt_client(broker, dev.identity)
    assert c.connect(clean_start=False, session_expiry=3600)
    assert not c.subscribe(f"{ROOT}/{dev.id}/acks")[0].is_failure
    assert ingest_server.running is not None and ingest_server.running.wait_ready(15)
    # Worker down: its persistent session queues what devices publish meanwhile.
    ingest_server.stop()
    sealed = [dev.seal(i) for i in range(3)]
    for s in sealed:
        assert not c.wait_puback(c.publish(f"{ROOT}/{dev.id}/records", s.data)).is_failure
    ingest_server.start()
    msgs = c.wait_messages(3, timeout=20)
    acks = {ingest_server.verifier(dev.id).verify(m.payload).record_id: m.payload for m in msgs}
    for s in sealed:
        check_ack(ingest_server, dev.id, acks[s.header.record_id], s)
    assert ingest_server.stored_count() == 3


def test_concurrent_ingest_of_one_record_on_postgresql_stores_it_once(
        ingest_server_factory: Factory, pki: PKIPaths, pg_database: str) -> None:
    server = ingest_server_factory(store_url=pg_database, start=False)
    dev = TestDevice.create(pki.device(0), server)
    seal = [keys.load_seal_private(p) for p in server.config.keys.seal_keys]
    sign = keys.load_sign_private(server.config.keys.sign_key)
    n = 8
    # Separate stores = separate connections, as separate worker processes have.
    workers = [Ingestor(open_store(pg_database), seal, sign) for _ in range(n)]
    envelopes = [dev.seal(i) for i in range(5)]
    barrier = threading.Barrier(n)
    results: list[list[bytes]] = [[] for _ in range(n)]

    def run(i: int) -> None:
        for s in envelopes:
            barrier.wait()
            results[i].append(workers[i].ingest(s.data, transport="mqtt", peer_device_id=dev.id).ack or b"")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for j, s in enumerate(envelopes):
        acks = {results[i][j] for i in range(n)}
        assert len(acks) == 1, f"record {j}: {len(acks)} different acks"
        check_ack(server, dev.id, acks.pop(), s)
    assert server.stored_count() == 5
    for w in workers:
        w.store.close()


def _identities(pki: PKIPaths, root: Path, n: int) -> list[Identity]:
    ca = pki.load_ca()
    return [_write_identity(root, pkimod.issue_server_identity(ca, f"server:ingest-{i}"))
            for i in range(1, n + 1)]


def test_two_mqtt_workers_on_postgresql_share_the_records(
        ingest_server_factory: Factory, pki: PKIPaths, pg_database: str, tmp_path: Path,
        mqtt_client: MqttClientFactory) -> None:
    idents = _identities(pki, tmp_path / "ids", 2)
    broker = Broker.create(tmp_path / "broker2", pki.broker_tls, probe_cert=(pki.server.cert, pki.server.key),
                           server_identities=[i.name for i in idents])
    broker.start()
    try:
        server = ingest_server_factory(broker=broker, store_url=pg_database, identities=idents, https=False)
        assert server.running is not None and len(server.running.workers) == 2
        devs = [TestDevice.create(pki.device(i), server) for i in range(2)]
        clients = []
        sealed = {}
        for d in devs:
            c = mqtt_client(broker, d.identity)
            assert c.connect()
            assert not c.subscribe(f"{ROOT}/{d.id}/acks")[0].is_failure
            clients.append(c)
            sealed[d.id] = [d.seal(i) for i in range(10)]
            for s in sealed[d.id]:
                c.publish(f"{ROOT}/{d.id}/records", s.data)
                c.publish(f"{ROOT}/{d.id}/records", s.data)  # every record twice
        for d, c in zip(devs, clients, strict=True):
            msgs = c.wait_messages(20, timeout=30)
            assert len(msgs) == 20
            by_id: dict[object, set[bytes]] = {}
            for m in msgs:
                by_id.setdefault(server.verifier(d.id).verify(m.payload).record_id, set()).add(m.payload)
            for s in sealed[d.id]:
                [ack] = by_id[s.header.record_id]  # both copies got the same ack
                check_ack(server, d.id, ack, s)
        assert server.stored_count() == 20
        # A worker counts a batch after its PUBACKs, which may trail the acks the devices saw.
        assert wait_until(lambda: sum(w.handled for w in server.running.workers) == 40, 10)
        handled = [w.handled for w in server.running.workers]
        assert all(h > 0 for h in handled), handled
    finally:
        broker.stop()


def test_add_device_from_csr_issues_a_client_certificate(ingest_server: IngestServer, pki: PKIPaths) -> None:
    from server_stub.fleet.registry import RegistryError, add_device

    _key, csr = pkimod.make_csr("dev-0042")
    sign = ed25519.Ed25519PrivateKey.generate()
    reg = add_device(ingest_server.store, "dev-0042", sign.public_key(), ca=pki.load_ca(), csr_pem=csr)
    assert reg.cert is not None and pkimod.cert_common_name(reg.cert) == "dev-0042"
    reg.cert.verify_directly_issued_by(pki.load_ca().cert)
    try:
        add_device(ingest_server.store, "dev-0042", sign.public_key(), ca=pki.load_ca())
        raise AssertionError("duplicate registration accepted")
    except RegistryError:
        pass
    try:  # a certificate from another CA is not recorded
        add_device(ingest_server.store, "dev-0001", sign.public_key(), ca=pki.load_ca(),
                   cert=pkimod.load_cert(pki.foreign_device.cert))
        raise AssertionError("foreign certificate accepted")
    except RegistryError as e:
        assert "CA" in str(e)
