"""Scale-out: two `fieldkit-server serve` processes (one MQTT identity each) on one PostgreSQL
and one broker take a simulated fleet's records, every one published twice; records are
stored once, verified once, counted once, and each citizen gets one acuse."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from server_stub.deploy import pki as pkimod
from server_stub.deploy.broker_process import Broker
from server_stub.ingest import acuse
from server_stub.verify import processes, roll, verify
from tests.helpers.mqtt import MqttClientFactory, PKIPaths, _write_identity
from tests.helpers.server import READY_LINE, IngestServer, TestDevice

ROOT = "fieldkit/v1/devices"
PROC = "df-2027"


def _wait(pred: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_two_worker_processes_on_postgresql_count_each_support_once(
        ingest_server_factory: Callable[..., IngestServer], pki: PKIPaths, pg_database: str, tmp_path: Path,
        mqtt_client: MqttClientFactory, synthetic_roll, support_record) -> None:
    ca = pki.load_ca()
    idents = [_write_identity(tmp_path / "ids", pkimod.issue_server_identity(ca, f"server:ingest-{i}"))
              for i in (1, 2)]
    broker = Broker.create(tmp_path / "broker2", pki.broker_tls, probe_cert=(pki.server.cert, pki.server.key),
                           server_identities=[i.name for i in idents])
    broker.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        server = ingest_server_factory(broker=broker, store_url=pg_database, identities=idents, https=False,
                                       start=False)
        store = server.store
        path, rows = synthetic_roll
        roll.import_roll(store, path)
        vig = [c for c in rows if c.estatus == "vigente" and c.vigencia >= 2026]
        ent, df = vig[0].entidad, vig[0].distrito_federal
        cit = [c for c in vig if (c.entidad, c.distrito_federal) == (ent, df)][:10]
        assert len(cit) == 10
        processes.define_process(store, PROC, "diputacion_federal", "Diputación", 0, 2**42)
        for a in ("asp-1", "asp-2"):
            processes.add_aspirant(store, PROC, a, a, entidad=ent, distrito_federal=df)
        logs = []
        for ident in idents:  # one process per identity, as with systemd templates
            log = tmp_path / f"{ident.name.replace(':', '_')}.log"
            logs.append(log)
            with log.open("wb") as fh:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "server_stub.cli", "serve", "--config", str(server.config_path),
                     "--mqtt-identity", ident.name, "--no-https"], stdout=fh, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, env=dict(os.environ), start_new_session=True))
        _wait(lambda: all(READY_LINE in lg.read_text(errors="replace") for lg in logs))
        devs = [TestDevice.create(pki.device(i), server) for i in range(2)]
        plan = {devs[0].id: [(c, "asp-1") for c in cit],
                devs[1].id: [(c, "asp-1") for c in cit[:5]] + [(c, "asp-2") for c in cit[5:]]}
        clients = []
        for n, d in enumerate(devs):
            c = mqtt_client(broker, d.identity)
            assert c.connect()
            assert not c.subscribe(f"{ROOT}/{d.id}/acks")[0].is_failure
            clients.append(c)
            for i, (citizen, asp) in enumerate(plan[d.id]):
                s = d.sealer.seal(support_record(d.id, citizen, process_id=PROC, aspirant_id=asp,
                                                 seed=100 * n + i))
                c.publish(f"{ROOT}/{d.id}/records", s.data)
                c.publish(f"{ROOT}/{d.id}/records", s.data)  # every record twice
        for c in clients:
            assert len(c.wait_messages(20, timeout=30)) == 20
        assert server.stored_count() == 20
        # Which process stores a record is the broker's round robin: with every record sent twice,
        # one may store all 20 and the other see only the copies. That both workers take deliveries
        # is asserted on their counters in test_server_faults (two in-process workers).
        # The ingest's own line ("stored <record> from <device> via <transport>"), not any " stored ".
        stored_by = [len(re.findall(r" stored [0-9a-f-]{36} from ", lg.read_text(errors="replace")))
                     for lg in logs]
        assert sum(stored_by) == 20, stored_by
        _wait(lambda: sum(verify.counts(store).values()) == 20)
        _wait(lambda: acuse.queue_counts(store).get(acuse.SENT) == 20)
        counts = verify.counts(store)
        assert counts == {verify.VALIDO: 10, verify.DUPLICADO: 5, verify.OTRO_ASPIRANTE: 5}, counts
        valid_citizens = {r[0] for r in store.query("SELECT citizen FROM verdicts WHERE verdict = 'valido'")}
        assert len(valid_citizens) == 10
        before = {v.record_id: v.verdict for v in verify.verdicts(store)}
        for p in procs:
            p.terminate()
            assert p.wait(20) == 0
        verify.invalidate(store)
        verify.Verifier(store).run_until_idle()
        assert {v.record_id: v.verdict for v in verify.verdicts(store)} == before  # deterministic
        assert len(list((server.root / "data" / "acuses").glob("*.eml"))) == 20
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        broker.stop()
