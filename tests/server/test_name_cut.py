"""A name the MRZ may have cut, from the kiosk's "Guardar" to the server's store and back:
the device saves a card whose name is longer than the MRZ's name line into a real outbox
(`kiosk.capture.save.save_draft`), the envelope goes over real HTTPS, and the server keeps
the name as the MRZ gave it, the record's `nombre_truncado` and the fact in `key_checks`."""

from __future__ import annotations

import json
from pathlib import Path

from kiosk.capture.save import SaveContext, save_draft
from sync.outbox.keyfile import create_key_file
from sync.outbox.outbox import Outbox
from sync.wire.record import decode_record
from tests.helpers.kiosk import make_draft
from tests.helpers.long_names import LINE3, MATERNO, NOMBRES_READ, PATERNO, long_name_draft
from tests.helpers.mqtt import PKIPaths
from tests.helpers.server import IngestServer, TestDevice


def test_a_cut_name_goes_from_guardar_to_the_servers_store_with_its_flag(
        ingest_server: IngestServer, pki: PKIPaths, tmp_path: Path) -> None:
    dev = TestDevice.create(pki.device(0), ingest_server)
    outbox = Outbox.create(tmp_path / "outbox.db", create_key_file(tmp_path / "outbox.key"), dev.id, "T1")
    with SaveContext(dev.id, outbox, dev.sealer) as ctx:
        saved = {"cut": save_draft(long_name_draft(), ctx), "whole": save_draft(make_draft(1), ctx)}
        batch = ctx.outbox.next_batch(2)
    assert len(batch) == 2
    for item in batch:
        assert dev.post(ingest_server, item.envelope).status_code == 200
    store = ingest_server.store
    keys = {r[0]: json.loads(r[1]) for r in store.query("SELECT folio, key_checks FROM records")}

    row = store.get_record(saved["cut"].record_id)
    assert row is not None
    cred = decode_record(row.record).credential
    assert cred.nombre_truncado is True
    assert (cred.nombre, cred.apellido_paterno, cred.apellido_materno) == (NOMBRES_READ, PATERNO, MATERNO)
    assert cred.mrz[2] == LINE3
    assert keys[saved["cut"].folio]["nombre_truncado"] is True

    row = store.get_record(saved["whole"].record_id)
    assert row is not None and decode_record(row.record).credential.nombre_truncado is False
    assert "nombre_truncado" not in keys[saved["whole"].folio]
