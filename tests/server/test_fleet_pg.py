"""The fleet on a PostgreSQL store: enrollment (codes, devices, auxiliaries), heartbeats over
MQTT and HTTPS, commands and revocation, with the real server, broker and TLS."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from server_stub.deploy.broker_process import Broker
from server_stub.fleet import command_issue as commands
from server_stub.fleet import enrollment_codes
from server_stub.fleet import tables as fleet
from tests.helpers.fleet import Fleet, wait_until
from tests.helpers.server import IngestServer


def test_enroll_heartbeat_command_and_revoke_on_postgresql(tmp_path: Path, pg_database: str,
                                                           ingest_server_factory: Callable[..., IngestServer],
                                                           mosquitto: Broker) -> None:
    fl = Fleet(tmp_path / "fleet", ingest_server_factory, mosquitto, store_url=pg_database)
    try:
        assert fl.store.kind == "postgresql"
        dev = fl.enroll("pg-dev")
        assert [a.id for a in dev.config.auxiliaries] == ["aux-0001", "aux-0002"]
        assert fleet.device_auxiliaries(fl.store, dev.id) == ["aux-0001", "aux-0002"]
        assert [c.state for c in enrollment_codes.list_codes(fl.store)] == ["redeemed"]
        dev.capture(2)
        agent = dev.agent()
        assert wait_until(lambda: (hb := fl.heartbeat(dev.id)) is not None and hb.online and hb.pending == 0
                          and hb.via == "mqtt", 30)
        assert fl.server.stored_count() == 2
        hb = fl.heartbeat(dev.id)
        assert hb is not None and hb.free_disk_bytes and hb.app_version and hb.last_sync_ms
        assert [h.device_id for h in fleet.list_heartbeats(fl.store)] == [dev.id]
        # A signed config command round trip: queued in PostgreSQL, applied, reported back.
        q = commands.queue_config_update(fl.store, fl.sign_key, dev.id, aux_ids=["aux-0001"])
        assert wait_until(lambda: (h := fl.heartbeat(dev.id)) is not None and h.last_command_seq == q.seq, 30)
        assert [a.id for a in dev.config.auxiliaries] == ["aux-0001"]
        assert commands.unpublished_commands(fl.store) == []
        agent.stop(10)
        # The HTTPS side records heartbeats too.
        https_agent = dev.agent(transport="https")
        assert wait_until(lambda: (h := fl.heartbeat(dev.id)) is not None and h.via == "https", 30)
        https_agent.stop(10)
        # Admins queueing at once (each its own connection) still get distinct, gapless seqs.
        from server_stub.core.store import open_store

        seqs: list[int] = []

        def queue() -> None:
            st = open_store(pg_database)
            try:
                for _ in range(5):
                    seqs.append(commands.queue_command(st, fl.sign_key, dev.id, "config", b"{}").seq)
            finally:
                st.close()

        threads = [threading.Thread(target=queue) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(seqs) == list(range(q.seq + 1, q.seq + 31))
        report = fl.revoke(dev.id)
        assert report.broker == "reloaded" and report.denied_devices == [dev.id] and report.pending == 0
        assert fl.store.get_device(dev.id).state == "revoked"  # type: ignore[union-attr]
    finally:
        fl.close()
