"""A citizen's self-service record through the real ingest path: a code asked for over mutual-TLS
HTTPS, the record sealed with sync's Sealer and posted with the device's client certificate;
then its stored statuses (`autoservicio`, the activation's), verification's reason, the acuse
e-mail, the CSV export, the coordinators' overview and its alert on a device asking codes in bulk.
Real SQLite store, real HTTPS listeners (server_stub/fleet/activations.py, ingest.py)."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ed25519

from server_stub.admin.site import dashboard_app
from server_stub.cli.serve import build_server
from server_stub.core.asgi import HttpsServer
from server_stub.dashboard import accounts
from server_stub.dashboard import alerts as alertmod
from server_stub.dashboard import data as dashboard_data
from server_stub.dashboard.data import DeviceRow
from server_stub.dashboard.digest import DigestWorker
from server_stub.deploy.broker_process import free_port
from server_stub.fleet import activations
from server_stub.ingest.acuse import AcuseWorker, OutboxTransport
from server_stub.ingest.ingest import REFUSED_MALFORMED, Outcome
from server_stub.verify import processes as procmod
from server_stub.verify import roll, verify
from sync.wire.activation import parse_code
from sync.wire.record import Record
from tests.conftest import make_support_record
from tests.helpers.mqtt import PKIPaths
from tests.helpers.server import IngestServer, TestDevice, check_ack
from tests.server.test_activations import (
    ASPIRANT,
    CODE_RE,
    PROCESS,
    Site,
    citizen_record,
    last_activation,
    mailed_code,
    start_site,
)

CIC, IDENT = "123456789", "987654321"
PASSWORD = "contraseña-larga-1"


@pytest.fixture
def site(ingest_server_factory: Callable[..., IngestServer]) -> Iterator[Site]:
    s = start_site(ingest_server_factory(start=False, mqtt=False), "[verify]\ninterval_s = 0.1\n")
    now = int(time.time() * 1000)
    procmod.define_process(s.store, PROCESS, "diputacion_federal", "Diputación federal 01 (MUESTRA)",
                           now - 86_400_000, now + 30 * 86_400_000)
    procmod.add_aspirant(s.store, PROCESS, ASPIRANT, "ASPIRANTE MUESTRA", entidad=9, distrito_federal=1)
    roll.ensure_schema(s.store)
    with s.store.tx() as conn:  # the citizen, in the lista nominal of the aspirant's district
        conn.execute(f"INSERT INTO roll ({', '.join(roll.ROLL_COLUMNS)}) VALUES "
                     f"('{CIC}', '{IDENT}', 9, 1, 1, 15, 123, 'vigente', 2035, 'G')")
    try:
        yield s
    finally:
        s.close()


def code_over_https(s: Site, dev: TestDevice, cic: str = CIC, address: str = "ana@example.org") -> str:
    r = s.ask(dev.identity, cic=cic, email=address)
    assert r.status_code == 201, r.text
    found = CODE_RE.search(mailed_code(s.store, last_activation(s.store, dev.id)["activation_id"])[1])
    assert found is not None
    return parse_code(found.group(1)).text


def send(s: Site, dev: TestDevice, rec: Record) -> str:
    """Seal as the device does, POST over mutual TLS; the ack's verdict."""
    sealed = dev.sealer.seal(rec)
    r = dev.post(s.server, sealed.data)
    assert r.status_code == 200, r.text
    return check_ack(s.server, dev.id, r.content, sealed).verdict


def statuses(s: Site, rec: Record) -> tuple[str | None, str | None]:
    rows = s.store.query("SELECT auxiliary_status, activation_status FROM records WHERE record_id = ?",
                         (rec.record_id.bytes,))
    return rows[0][0], rows[0][1]


def verdict(s: Site, rec: Record) -> tuple[str, str]:
    rows = s.store.query("SELECT verdict, reason FROM verdicts WHERE record_id = ?", (rec.record_id.bytes,))
    return rows[0][0], rows[0][1]


def test_a_citizens_record_counts_once_and_a_second_with_the_same_code_does_not(
        site: Site, pki: PKIPaths, tmp_path: Path) -> None:
    dev = site.device(pki.device(0))
    code = code_over_https(site, dev)
    first = citizen_record(dev.id, code, cic=CIC, seed=1)
    assert send(site, dev, first) == "recibido"
    assert statuses(site, first) == ("autoservicio", "valida")
    assert bytes(last_activation(site.store, dev.id)["used_record_id"]) == first.record_id.bytes
    second = citizen_record(dev.id, code, cic=CIC, seed=2, email="otro@example.org")
    assert send(site, dev, second) == "recibido"  # stored and acked: it just does not count
    assert statuses(site, second) == ("autoservicio", "usada")
    # A resend of the first gets its stored ack and is not checked again.
    sealed = dev.sealer.seal(first)
    assert dev.post(site.server, sealed.data).status_code == 200
    assert statuses(site, first) == ("autoservicio", "valida")

    verify.Verifier(site.store).run_until_idle()
    assert verdict(site, first) == ("valido", "en lista nominal")
    assert verdict(site, second) == ("inconsistencia",
                                     "activación no válida (el código ya se había usado para otro apoyo)")

    worker = AcuseWorker(site.store, OutboxTransport(tmp_path / "acuses"), "acuses@example.org")
    assert worker.enqueue_new() == 2
    texts = {}
    for rid, message in site.store.query("SELECT record_id, message FROM mail_queue WHERE to_addr <> ''"):
        msg = email.message_from_bytes(bytes(message), policy=email.policy.default)
        body = msg.get_body(("plain",))
        assert body is not None
        texts[bytes(rid)] = (str(msg["Subject"]), str(body.get_content()))
    subject, text = texts[second.record_id.bytes]
    assert "no se podrá contar" in subject
    assert "el código de activación no es válido" in text and "ya se había usado para otro apoyo" in text
    assert "no se contará" in text and second.folio in text
    subject, text = texts[first.record_id.bytes]
    assert subject.startswith("Acuse de recibo de su apoyo") and "no es válido" not in text

    csv_text = dashboard_data.verdicts_csv(site.store, PROCESS)
    rows = list(csv.reader(io.StringIO(csv_text, newline="")))
    assert rows[0][-2:] == ["captured_by", "activation_status"] and rows[0][-3] == "received_local"
    got = {r[0]: (r[4], r[-2], r[-1], r[13]) for r in rows[1:]}
    assert got == {first.folio: ("valido", "ciudadano", "valida", "autoservicio"),
                   second.folio: ("inconsistencia", "ciudadano", "usada", "autoservicio")}


def test_flags_and_refusals_around_self_service(site: Site, pki: PKIPaths) -> None:
    kiosk = site.device(pki.device(0), coordinators=("coord-01",))
    aux_kiosk = site.device(pki.device(1), self_service=False)
    code = code_over_https(site, kiosk)
    # The self-service device's code typed on an auxiliaries' device: flagged, and not valid there.
    stolen = citizen_record(aux_kiosk.id, code, cic=CIC, seed=1)
    assert send(site, aux_kiosk, stolen) == "recibido"
    assert statuses(site, stolen) == ("sin_auxiliar", "otro_dispositivo")
    # A self-service device sending a support with no `by` and no code: flagged, and checked as
    # any record of such a device (no code: not valid); so is one under its riding coordinator's id.
    bare = replace(make_support_record(kiosk.id, None, process_id=PROCESS, aspirant_id=ASPIRANT, seed=2,
                                       cic=CIC), auxiliary_id="")
    assert send(site, kiosk, bare) == "recibido"
    assert statuses(site, bare) == ("sin_auxiliar", "no_valida")
    coord = replace(make_support_record(kiosk.id, None, process_id=PROCESS, aspirant_id=ASPIRANT, seed=6,
                                        cic="111111111"), auxiliary_id="coord-01", activation="NO-ES-CODIGO")
    assert send(site, kiosk, coord) == "recibido"
    assert statuses(site, coord) == ("sin_auxiliar", "no_valida")
    auxs = replace(make_support_record(aux_kiosk.id, None, process_id=PROCESS, aspirant_id=ASPIRANT, seed=3,
                                       cic=CIC), auxiliary_id="aux-0001")
    assert send(site, aux_kiosk, auxs) == "recibido"
    assert statuses(site, auxs) == ("registrado", None)
    # A citizen's record with an auxiliary id, or an unknown captured_by: malformed, refused for good.
    for bad in (replace(citizen_record(kiosk.id, code, seed=4), auxiliary_id="aux-0001"),
                replace(citizen_record(kiosk.id, code, seed=5), captured_by="robot")):
        assert send(site, kiosk, bad) == REFUSED_MALFORMED
    assert last_activation(site.store, kiosk.id)["state"] == "emitida"  # none of these used it
    verify.Verifier(site.store).run_until_idle()
    assert verdict(site, stolen) == ("inconsistencia",
                                     "activación no válida (el código se pidió en otro dispositivo)")
    for rec in (bare, coord):  # neither counts
        assert verdict(site, rec) == ("inconsistencia",
                                      "activación no válida (el código no es uno de los emitidos)")
    # Nor are they self-service supports: the CSV does not say "ciudadano", the counts leave them out.
    table = csv.DictReader(io.StringIO(dashboard_data.verdicts_csv(site.store, PROCESS)))
    rows = {r["record_id"]: r for r in table}
    assert rows[str(bare.record_id)]["captured_by"] == rows[str(coord.record_id)]["captured_by"] == ""
    assert rows[str(bare.record_id)]["activation_status"] == "no_valida"
    assert dashboard_data.self_service_counts(site.store, PROCESS) == {}


def test_a_record_stored_but_not_checked_waits_and_is_settled_by_the_next_batch(
        site: Site, pki: PKIPaths, tmp_path: Path) -> None:
    dev = site.device(pki.device(0))
    code = code_over_https(site, dev)
    rec = citizen_record(dev.id, code, cic=CIC, seed=1)
    # The check's transaction fails after the record's commit (as a crash between them would).
    with site.store.tx() as conn:
        conn.execute("CREATE TRIGGER check_down BEFORE UPDATE ON records BEGIN "
                     "SELECT RAISE(ABORT, 'check down'); END")
    got = site.ingestor.ingest(dev.sealer.seal(rec).data, transport="https", peer_device_id=dev.id)
    assert got.outcome is Outcome.ACK and got.stored_new  # stored: the ack goes out
    assert statuses(site, rec) == (None, None)
    assert last_activation(site.store, dev.id)["state"] == "emitida"
    # Verification and the acuse wait for it.
    assert verify.Verifier(site.store).run_until_idle() == 0
    assert AcuseWorker(site.store, OutboxTransport(tmp_path / "a"), "acuses@example.org").enqueue_new() == 0
    with site.store.tx() as conn:
        conn.execute("DROP TRIGGER check_down")
    other = replace(make_support_record(dev.id, None, process_id=PROCESS, aspirant_id=ASPIRANT, seed=9),
                    auxiliary_id="")
    assert site.ingestor.ingest(dev.sealer.seal(other).data, transport="https",
                                peer_device_id=dev.id).stored_new
    assert statuses(site, rec) == ("autoservicio", "valida")
    assert bytes(last_activation(site.store, dev.id)["used_record_id"]) == rec.record_id.bytes
    assert verify.Verifier(site.store).run_until_idle() == 2
    assert verdict(site, rec)[0] == "valido"


def test_a_record_left_unchecked_is_settled_by_the_verifiers_round_with_no_new_batch(
        site: Site, pki: PKIPaths) -> None:
    dev = site.device(pki.device(0))
    aux_kiosk = site.device(pki.device(1), self_service=False)
    code = code_over_https(site, dev)
    rec = citizen_record(dev.id, code, cic=CIC, seed=1)
    with site.store.tx() as conn:  # the check fails after the record's commit
        conn.execute("CREATE TRIGGER check_down BEFORE UPDATE ON records BEGIN "
                     "SELECT RAISE(ABORT, 'check down'); END")
    first = site.ingestor.ingest(dev.sealer.seal(rec).data, transport="https", peer_device_id=dev.id)
    assert first.stored_new
    with site.store.tx() as conn:
        conn.execute("DROP TRIGGER check_down")
        # The device's fleet row unreadable: the next batch's sweep fails on it, and not with a
        # store error; that batch's record is stored all the same and its ack goes out.
        conn.execute("UPDATE fleet_devices SET auxiliaries = '{' WHERE device_id = ?", (dev.id,))
    other = replace(make_support_record(aux_kiosk.id, None, process_id=PROCESS, aspirant_id=ASPIRANT, seed=2,
                                        cic="111111111"), auxiliary_id="aux-0001")
    sealed = aux_kiosk.sealer.seal(other)
    got = site.ingestor.ingest(sealed.data, transport="https", peer_device_id=aux_kiosk.id)
    assert got.outcome is Outcome.ACK and got.stored_new and got.ack is not None
    assert check_ack(site.server, aux_kiosk.id, got.ack, sealed).verdict == "recibido"
    assert statuses(site, rec) == (None, None)
    with site.store.tx() as conn:
        conn.execute("UPDATE fleet_devices SET auxiliaries = '[]' WHERE device_id = ?", (dev.id,))
        # Left a minute ago (the timed path leaves a batch's own fresh rows to it).
        conn.execute("UPDATE records SET received_ms = received_ms - 60000 WHERE record_id = ?",
                     (rec.record_id.bytes,))
    # No new batch: the verifier `serve` builds settles it in its round, then verifies it.
    server = build_server(site.cfg, mqtt=False, dashboard=False)
    try:
        assert server.verifier is not None
        assert server.verifier.run_until_idle() == 2
    finally:
        server.store.close()
    assert statuses(site, rec) == ("autoservicio", "valida")
    assert bytes(last_activation(site.store, dev.id)["used_record_id"]) == rec.record_id.bytes
    assert verdict(site, rec)[0] == "valido"


# --- the overview and its alert ----------------------------------------------------------------


def _row(dev: str, state: str = "active") -> DeviceRow:
    now = int(time.time() * 1000)
    return DeviceRow(dev, state, f"Nombre {dev}", now - 3600_000, 0, None, now, 0, None, None, None, True)


def test_activation_surge_alert_rule() -> None:
    now = int(time.time() * 1000)
    surge = alertmod.activation_surges({"a": 25, "b": 2, "c": 3}, {"a": "Kiosco A"}, now)
    assert [(a.kind, a.device_id, a.name, a.activations, a.median) for a in surge] == \
        [("activations", "a", "Kiosco A", 25, 3.0)]
    assert surge[0].text.startswith("25 códigos de activación pedidos en 24 h (la mediana")
    assert alertmod.activation_surges({"a": 19, "b": 0, "c": 0}, {}, now) == []  # fewer than 20
    assert alertmod.activation_surges({"a": 36, "b": 12, "c": 10}, {}, now) == []  # not above 3 x 12
    assert [a.device_id for a in alertmod.activation_surges({"a": 37, "b": 12, "c": 10}, {}, now)] == ["a"]
    assert alertmod.activation_surges({"a": 50}, {}, now) == []  # alone it is its own median
    assert alertmod.activation_surges({}, {}, now) == []
    # Through the banner: after HELD and WINDOW, before SILENT; named as the device row is.
    banner = alertmod.alerts([_row("a"), _row("b"), _row("c")], now,
                             activations={"a": 30, "b": 0, "c": 1})
    assert [(a.kind, a.name) for a in banner] == [("activations", "Nombre a")]
    assert alertmod.alerts([_row("a")], now) == []


def test_overview_counts_self_service_apart_and_alerts_on_a_device_asking_in_bulk(
        site: Site, pki: PKIPaths, tmp_path: Path) -> None:
    busy = site.device(pki.device(0))
    quiet = site.device(pki.device(1))
    for n in range(2):  # a third self-service device, registered by id only
        key = ed25519.Ed25519PrivateKey.generate()
        site.server.register(f"dev-extra-{n}", key.public_key())
        with site.store.tx() as conn:
            conn.execute("INSERT INTO fleet_devices (device_id, folio_prefix, auxiliaries, code_id, "
                         "enrolled_ms, self_service) VALUES (?, ?, '[]', ?, 0, 1)",
                         (f"dev-extra-{n}", f"X{n}", f"c-x{n}"))
    code = code_over_https(site, busy)
    ok = citizen_record(busy.id, code, cic=CIC, seed=1)
    late = citizen_record(busy.id, code, cic=CIC, seed=2)
    assert send(site, busy, ok) == send(site, busy, late) == "recibido"
    now = int(time.time() * 1000)
    for i in range(20):
        activations.request_activation(site.store, site.cfg, busy.id,
                                       {"v": 1, "cic": f"2000000{i:02d}", "email": f"p{i}@example.org"}, now)
    activations.request_activation(site.store, site.cfg, quiet.id,
                                   {"v": 1, "cic": "300000000", "email": "q@example.org"}, now)
    assert dashboard_data.activation_counts(site.store, int(time.time() * 1000)) == {
        busy.id: 21, quiet.id: 1, "dev-extra-0": 0, "dev-extra-1": 0}
    verify.Verifier(site.store).run_until_idle()
    assert dashboard_data.self_service_counts(site.store, PROCESS) == {ASPIRANT: (2, 1)}

    accounts.add_user(site.store, "coord", PASSWORD)
    port = free_port()
    cfg = site.cfg
    dash = HttpsServer(dashboard_app(site.store, config=cfg), host="127.0.0.1", port=port,
                       certfile=cfg.tls.server_cert, keyfile=cfg.tls.server_key, ca_cert=cfg.tls.ca_cert,
                       require_client_cert=False)
    dash.start()
    try:
        s = requests.Session()
        s.verify = str(site.server.ca_cert)
        s.trust_env = False
        url = f"https://127.0.0.1:{port}"
        assert s.post(url + "/login", data={"username": "coord", "password": PASSWORD},
                      allow_redirects=False).status_code == 303
        page = s.get(url + "/").text
    finally:
        dash.stop()
    cell = re.search(r'<td class="num self-service-count" data-received="(\d+)">(\d+)', page)
    assert cell is not None and cell.groups() == ("2", "1")
    assert "De autoservicio" in page
    alert = re.search(r'<li class="alert alert-activations" data-device="([^"]+)">.*?</li>', page, re.S)
    assert alert is not None and alert.group(1) == busy.id
    assert "21 códigos de activación pedidos en 24 h" in alert.group(0)
    # The coordinators' e-mail digest says it too.
    out = tmp_path / "digest"
    digest = DigestWorker(site.store, OutboxTransport(out), "avisos@x.invalid", ["coord@x.invalid"],
                          clock=lambda: int(time.time() * 1000))
    assert digest.send_if_due() == 1
    [mail] = out.glob("*.eml")
    body = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default).get_content()
    assert f"({busy.id}): 21 códigos de activación pedidos en 24 h" in body
