"""Self-service activation codes on the server (server_stub/fleet/activations.py): issued over
the real mutual-TLS records listener to a device whose client certificate names it, kept only as
`code_id` and `binding_mac`, e-mailed through the store's mail queue; and what a citizen's
record's code is worth (`check_record`), against a real SQLite store.

The records listener here is the one `serve` builds (RecordsApp + FleetEndpoints + Ingestor on
HttpsServer), given the server config so that `[self_service]` and the mail settings reach it."""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests

from server_stub.core.asgi import HttpsServer
from server_stub.core.config import (
    SelfServiceSection,
    ServerConfig,
    ServerConfigError,
    load_config,
    parse_config,
)
from server_stub.core.store import Store
from server_stub.deploy import keys
from server_stub.fleet import activations
from server_stub.fleet import tables as fleet
from server_stub.fleet.endpoints import FleetEndpoints
from server_stub.ingest.acuse import AcuseWorker, OutboxTransport
from server_stub.ingest.https_api import RecordsApp
from server_stub.ingest.ingest import Ingestor
from server_stub.verify import roll
from sync.wire.activation import PATH, ActivationCode, parse_code
from sync.wire.record import Record
from tests.conftest import make_support_record
from tests.helpers.mqtt import Identity, PKIPaths
from tests.helpers.server import IngestServer, TestDevice

PROCESS, ASPIRANT = "ci-2027-df-0901", "asp-0001"
CODE_RE = re.compile(r"\b([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\b")
HOUR_MS = 3600 * 1000


@dataclass
class Site:
    """A server's records listener with the activation route, and its store."""

    __test__ = False
    server: IngestServer
    cfg: ServerConfig
    store: Store
    ingestor: Ingestor
    https: HttpsServer

    @property
    def url(self) -> str:
        return self.server.https_url

    def device(self, identity: Identity, *, self_service: bool = True,
               coordinators: tuple[str, ...] = ()) -> TestDevice:
        """Register the device (its signing key and certificate); provision it for self-service
        (a fleet_devices row with only `coordinators` on board and self_service = 1) or for
        auxiliaries."""
        dev = TestDevice.create(identity, self.server)
        fleet.ensure_schema(self.store)
        riders = json.dumps(list(coordinators) if self_service else ["aux-0001"])
        with self.store.tx() as conn:
            conn.execute(self.store.sql("INSERT INTO fleet_devices (device_id, folio_prefix, auxiliaries, "
                                        "code_id, enrolled_ms, self_service) VALUES (?, ?, ?, ?, ?, ?)"),
                         (dev.id, dev.id.upper(), riders, "c-" + dev.id, int(time.time() * 1000),
                          int(self_service)))
        return dev

    def ask(self, identity: Identity, body: dict[str, Any] | None = None, *, raw: bytes | None = None,
            **fields: Any) -> requests.Response:
        """POST /v1/activations with the device's client certificate."""
        payload = body if body is not None else {"v": 1, "cic": "123456789", "email": "ana@example.org",
                                                 "seccion": "0123", "model": "G", "lang": "es", **fields}
        return requests.post(self.url + PATH, data=raw, json=None if raw is not None else payload,
                             cert=(str(identity.cert), str(identity.key)), verify=str(self.server.ca_cert),
                             timeout=15)

    def close(self) -> None:
        self.https.stop()


def start_site(server: IngestServer, extra_config: str = "") -> Site:
    if extra_config:
        server.config_path.write_text(server.config_path.read_text() + extra_config)
    cfg = load_config(server.config_path)
    server.config = cfg
    store = server.store
    ingestor = Ingestor(store, [keys.load_seal_private(p) for p in cfg.keys.seal_keys],
                        keys.load_sign_private(cfg.keys.sign_key), max_wrong=cfg.self_service.max_wrong)
    https = HttpsServer(RecordsApp(ingestor, fleet=FleetEndpoints(store, cfg)), host="127.0.0.1",
                        port=server.https_port, certfile=cfg.tls.server_cert, keyfile=cfg.tls.server_key,
                        ca_cert=cfg.tls.ca_cert)
    https.start()
    return Site(server, cfg, store, ingestor, https)


@pytest.fixture
def site_factory(ingest_server_factory: Callable[..., IngestServer]) -> Iterator[Callable[..., Site]]:
    """`make(extra_config="", store_url=None) -> Site`, all stopped at teardown."""
    made: list[Site] = []

    def make(extra_config: str = "", store_url: str | None = None) -> Site:
        s = start_site(ingest_server_factory(start=False, mqtt=False, store_url=store_url), extra_config)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def site(site_factory: Callable[..., Site]) -> Site:
    return site_factory("")


def mailed_code(store: Store, activation_id: str) -> tuple[str, str]:
    """(to, text) of the activation's queued e-mail."""
    rows = store.query("SELECT to_addr, message, state FROM mail_queue WHERE record_id = ?",
                       (bytes.fromhex(activation_id),))
    assert len(rows) == 1 and rows[0][2] == "pendiente"
    msg = email.message_from_bytes(bytes(rows[0][1]), policy=email.policy.default)
    assert msg["Subject"] == "Su código de activación"
    body = msg.get_body(("plain",))
    assert body is not None
    return rows[0][0], str(body.get_content())


def last_activation(store: Store, device_id: str) -> dict[str, Any]:
    cols = ("activation_id", "code_id", "binding_mac", "device_id", "ref", "cic", "email_sha256",
            "created_ms", "expires_ms", "state", "used_record_id", "wrong")
    rows = store.query(f"SELECT {', '.join(cols)} FROM activations WHERE device_id = ? "
                       "ORDER BY created_ms DESC, activation_id LIMIT 1", (device_id,))
    return dict(zip(cols, rows[0], strict=True))


def issue(store: Store, cfg: ServerConfig, device_id: str, cic: str = "123456789",
          address: str = "ana@example.org") -> tuple[ActivationCode, dict[str, Any]]:
    """A code issued in process (the same function the route calls), read back from its e-mail."""
    answer = activations.request_activation(store, cfg, device_id, {"v": 1, "cic": cic, "email": address},
                                            int(time.time() * 1000))
    row = last_activation(store, device_id)
    assert row["ref"] == answer["ref"]
    found = CODE_RE.search(mailed_code(store, row["activation_id"])[1])
    assert found is not None
    return parse_code(found.group(1)), row


def citizen_record(device_id: str, code: str, *, cic: str = "123456789", seed: int = 1,
                   **changes: Any) -> Record:
    rec: Record = make_support_record(device_id, None, process_id=PROCESS, aspirant_id=ASPIRANT, seed=seed,
                                      cic=cic)
    changes.setdefault("captured_at_ms", int(time.time() * 1000))  # after the code was issued
    return replace(rec, captured_by="ciudadano", activation=code, auxiliary_id="", **changes)


# --- issuance over HTTPS -------------------------------------------------------------------------


def test_a_self_service_device_gets_a_ref_and_the_citizen_an_email_with_the_code(
        site: Site, pki: PKIPaths, tmp_path: Path) -> None:
    dev = site.device(pki.device(0))
    before = int(time.time() * 1000)
    r = site.ask(dev.identity, email="Carmen.Lopez@Example.org")
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["v"] == 1 and re.fullmatch(r"[0-9A-Z]{2}", got["ref"])
    assert got["sent_to"] == "C•••@E•••.org"
    assert before + 24 * HOUR_MS <= got["expires_ms"] <= int(time.time() * 1000) + 24 * HOUR_MS
    row = last_activation(site.store, dev.id)
    assert (row["device_id"], row["cic"], row["state"], row["wrong"], row["used_record_id"]) == \
        (dev.id, "123456789", "emitida", 0, None)
    assert row["expires_ms"] == got["expires_ms"] and len(row["activation_id"]) == 32
    assert row["email_sha256"] == activations.email_hash("carmen.lopez@example.org")
    to, text = mailed_code(site.store, row["activation_id"])
    assert to == "Carmen.Lopez@Example.org"
    found = CODE_RE.search(text)
    assert found is not None
    code = parse_code(found.group(1))
    assert code.ref == got["ref"] and code.display == found.group(1)
    assert "sólo en el dispositivo donde lo pidió" in text
    assert "si usted no lo pidió, ignore este mensaje" in text.lower()
    assert code.code_id() == row["code_id"]
    assert code.binding_mac(dev.id, "123456789") == row["binding_mac"]
    # The store never holds the code outside the e-mail waiting in the mail queue.
    assert_code_nowhere(site.store, code, but="mail_queue")
    # The acuse worker's delivery sends it like any queued message.
    worker = AcuseWorker(site.store, OutboxTransport(tmp_path / "mail"), "acuses@example.org")
    assert worker.deliver_due() == 1
    eml = email.message_from_bytes((tmp_path / "mail" / f"{uuid.UUID(hex=row['activation_id'])}.eml")
                                   .read_bytes(), policy=email.policy.default)
    sent = eml.get_body(("plain",))
    assert sent is not None and code.display in sent.get_content() and eml["To"] == to
    # Delivered: the queue keeps the row and its state, not the text; no table holds the code now.
    assert site.store.query("SELECT state, attempts, message FROM mail_queue WHERE record_id = ?",
                            (bytes.fromhex(row["activation_id"]),)) == [("enviado", 1, b"")]
    assert_code_nowhere(site.store, code)
    assert worker.deliver_due() == 0


def assert_code_nowhere(store: Store, code: ActivationCode, but: str = "") -> None:
    """No table of the store (but `but`) holds the code, its display form or its secret."""
    for (table,) in store.query("SELECT name FROM sqlite_master WHERE type = 'table'"):
        if table == but:
            continue
        for values in store.query(f"SELECT * FROM {table}"):
            flat = " ".join(bytes(v).decode("latin-1") if isinstance(v, bytes | memoryview) else str(v)
                            for v in values)
            assert code.text not in flat and code.display not in flat and code.secret not in flat, table


def test_refs_differ_among_a_devices_live_activations(site: Site, pki: PKIPaths) -> None:
    dev = site.device(pki.device(0))
    refs = [site.ask(dev.identity, cic=f"10000000{i}", email=f"p{i}@example.org").json()["ref"]
            for i in range(8)]
    assert len(set(refs)) == len(refs)


@pytest.mark.parametrize(("change", "why"), [
    ({"cic": "12345"}, "CIC"), ({"cic": "12345678X"}, "CIC"), ({"email": "sin-arroba"}, "correo"),
    ({"email": "a@b"}, "correo"), ({"v": 2}, "versión"), ({"v": True}, "versión"),
    ({"seccion": "12a"}, "sección"), ({"model": "Z"}, "modelo"), ({"cic": 123456789}, "texto"),
])
def test_a_bad_request_is_400_with_a_spanish_message(site: Site, pki: PKIPaths, change: dict[str, Any],
                                                     why: str) -> None:
    dev = site.device(pki.device(0))
    body = {"v": 1, "cic": "123456789", "email": "ana@example.org", "seccion": "", "model": "", "lang": "es"}
    r = site.ask(dev.identity, {**body, **change})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_request" and why in r.json()["message"]
    assert not site.store.query("SELECT 1 FROM activations")


def test_not_json_is_400(site: Site, pki: PKIPaths) -> None:
    dev = site.device(pki.device(0))
    r = site.ask(dev.identity, raw=b"cic=123456789")
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


def test_devices_that_may_not_ask_are_403(site: Site, pki: PKIPaths) -> None:
    # A certificate of the CA, but a device the registry does not know.
    r = site.ask(pki.device(2))
    assert r.status_code == 403 and r.json()["error"] == "unknown_device"
    aux_kiosk = site.device(pki.device(1), self_service=False)
    r = site.ask(aux_kiosk.identity)
    assert r.status_code == 403 and r.json() == {
        "error": "not_self_service", "message": "este dispositivo no está dado de alta para autoservicio"}
    dev = site.device(pki.device(0))
    site.server.revoke(dev.id)
    r = site.ask(dev.identity)
    assert r.status_code == 403 and r.json()["error"] == "device_revoked"
    assert requests.get(site.url + PATH, cert=(str(aux_kiosk.identity.cert), str(aux_kiosk.identity.key)),
                        verify=str(site.server.ca_cert), timeout=15).status_code == 405
    assert not site.store.query("SELECT 1 FROM activations")


def test_without_mail_the_server_answers_503(site_factory: Callable[..., Site], pki: PKIPaths) -> None:
    s = site_factory('[acuse]\nmode = "off"\n')
    dev = s.device(pki.device(0))
    r = s.ask(dev.identity)
    assert r.status_code == 503 and r.json()["error"] == "no_mail"


def test_limits_per_email_cic_and_device(site_factory: Callable[..., Site], pki: PKIPaths) -> None:
    s = site_factory("[self_service]\nmax_per_email_day = 2\nmax_per_cic_day = 2\nmax_per_device_hour = 5\n")
    a, b = s.device(pki.device(0)), s.device(pki.device(1))

    def ask(dev: TestDevice, cic: str, address: str) -> requests.Response:
        return s.ask(dev.identity, cic=cic, email=address)

    assert ask(a, "100000001", "uno@example.org").status_code == 201
    assert ask(a, "100000002", "UNO@example.org").status_code == 201  # the address in any case
    r = ask(a, "100000003", "uno@example.org")
    assert r.status_code == 429 and r.json()["error"] == "too_many" and r.json()["limit"] == "email"
    after = r.json()["retry_after_s"]
    assert 0 < after <= 24 * 3600 and r.headers["Retry-After"] == str(after)
    assert ask(a, "100000001", "dos@example.org").status_code == 201
    r = ask(a, "100000001", "tres@example.org")
    assert r.status_code == 429 and r.json()["limit"] == "cic"
    assert 23 * 3600 < r.json()["retry_after_s"] <= 24 * 3600
    assert ask(a, "100000004", "cuatro@example.org").status_code == 201
    assert ask(a, "100000005", "cinco@example.org").status_code == 201  # the device's 5th in the hour
    r = ask(a, "100000006", "seis@example.org")
    assert r.status_code == 429 and r.json()["limit"] == "device" and 0 < r.json()["retry_after_s"] <= 3600
    assert ask(b, "100000006", "seis@example.org").status_code == 201  # another device is not held back
    assert s.store.query("SELECT COUNT(*) FROM activations")[0][0] == 6


def test_with_check_roll_a_cic_outside_the_loaded_roll_is_422_and_counts_for_the_device(
        site_factory: Callable[..., Site], pki: PKIPaths) -> None:
    s = site_factory("[self_service]\ncheck_roll = true\nmax_per_device_hour = 3\n")
    dev = s.device(pki.device(0))
    assert s.ask(dev.identity, cic="999999999").status_code == 201  # no roll loaded: not checked
    roll.ensure_schema(s.store)
    with s.store.tx() as conn:
        conn.execute(f"INSERT INTO roll ({', '.join(roll.ROLL_COLUMNS)}) VALUES "
                     "('123456789', '987654321', 9, 1, 1, 15, 123, 'vigente', 2030, 'G')")
        conn.execute("INSERT INTO roll_meta (id, imported_ms, rows, source) VALUES (1, 1, 1, 'prueba')")
    r = s.ask(dev.identity, cic="111111111", email="otra@example.org")
    assert r.status_code == 422 and r.json()["error"] == "not_in_roll"
    assert s.ask(dev.identity, cic="123456789", email="otra@example.org").status_code == 201
    # The refused look-up counted: the roll is no free oracle for a device.
    r = s.ask(dev.identity, cic="123456789", email="tercera@example.org")
    assert r.status_code == 429 and r.json()["limit"] == "device"


# --- what a record's code is worth ---------------------------------------------------------------


def _check(store: Store, rec: Record, max_wrong: int = 5) -> str:
    with store.tx() as conn:
        return activations.check_record(store, conn, rec, max_wrong, int(time.time() * 1000))


def test_check_record_valid_once_then_used_and_the_same_record_stays_valid(site: Site, pki: PKIPaths) -> None:
    dev = site.device(pki.device(0))
    code, row = issue(site.store, site.cfg, dev.id)
    first = citizen_record(dev.id, code.text, seed=1)
    assert _check(site.store, first) == "valida"
    after = last_activation(site.store, dev.id)
    assert after["state"] == "usada" and bytes(after["used_record_id"]) == first.record_id.bytes
    assert _check(site.store, first) == "valida"  # the same record again
    second = citizen_record(dev.id, code.text, seed=2)
    assert second.record_id != first.record_id
    assert _check(site.store, second) == "usada"
    assert last_activation(site.store, dev.id)["activation_id"] == row["activation_id"]


def test_check_record_wrong_device_card_time_and_malformed(site: Site, pki: PKIPaths) -> None:
    dev, other = site.device(pki.device(0)), site.device(pki.device(1))
    code, row = issue(site.store, site.cfg, dev.id)
    assert _check(site.store, citizen_record(other.id, code.text)) == "otro_dispositivo"
    assert _check(site.store, citizen_record(dev.id, code.text, cic="555555555")) == "otra_credencial"
    late = row["created_ms"] + 24 * HOUR_MS + 60_000
    assert _check(site.store, citizen_record(dev.id, code.text, captured_at_ms=late)) == "caducada"
    assert _check(site.store, citizen_record(dev.id, "")) == "no_valida"
    assert _check(site.store, citizen_record(dev.id, code.text[:-1] + "0" if code.text[-1] != "0"
                                             else code.text[:-1] + "1")) == "no_valida"  # typo check
    # None of these used or counted against it: it still gives one support.
    assert last_activation(site.store, dev.id)["wrong"] == 0
    in_time = citizen_record(dev.id, code.text, captured_at_ms=row["created_ms"] + 1000)
    assert _check(site.store, in_time) == "valida"


def test_wrong_codes_count_against_the_pending_activation_until_it_dies(site: Site, pki: PKIPaths) -> None:
    dev = site.device(pki.device(0))
    code, _row = issue(site.store, site.cfg, dev.id)
    guesses = [ActivationCode(code.ref, s) for s in ("000000000", "111111111", "222222222")]
    guesses = [g for g in guesses if g.secret != code.secret]
    other_ref = "00" if code.ref != "00" else "11"
    stray = citizen_record(dev.id, ActivationCode(other_ref, "123456789").text)
    assert _check(site.store, stray, 2) == "no_valida"
    assert last_activation(site.store, dev.id)["wrong"] == 0  # another ref: nothing pending answers it
    assert _check(site.store, citizen_record(dev.id, guesses[0].text, seed=2), 2) == "no_valida"
    assert (last_activation(site.store, dev.id)["wrong"], last_activation(site.store, dev.id)["state"]) == \
        (1, "emitida")
    assert _check(site.store, citizen_record(dev.id, guesses[1].text, seed=3), 2) == "no_valida"
    assert (last_activation(site.store, dev.id)["wrong"], last_activation(site.store, dev.id)["state"]) == \
        (2, "invalidada")
    assert _check(site.store, citizen_record(dev.id, code.text, seed=4), 2) == "invalidada"


def test_on_postgresql_limits_hold_and_a_code_is_used_once(site_factory: Callable[..., Site], pki: PKIPaths,
                                                           pg_database: str, tmp_path: Path) -> None:
    s = site_factory("[self_service]\nmax_per_email_day = 1\nmax_wrong = 1\n", store_url=pg_database)
    dev = s.device(pki.device(0))
    assert s.ask(dev.identity).status_code == 201
    r = s.ask(dev.identity, cic="222222222")
    assert r.status_code == 429 and r.json()["limit"] == "email"
    row = last_activation(s.store, dev.id)
    found = CODE_RE.search(mailed_code(s.store, row["activation_id"])[1])
    assert found is not None
    code = parse_code(found.group(1))
    # Delivered: the queued text is blanked.
    assert AcuseWorker(s.store, OutboxTransport(tmp_path / "mail"), "acuses@example.org").deliver_due() == 1
    assert s.store.query("SELECT state, message FROM mail_queue WHERE record_id = %s",
                         (bytes.fromhex(row["activation_id"]),)) == [("enviado", b"")]
    rec = citizen_record(dev.id, code.text)
    sealed = dev.sealer.seal(rec)
    assert dev.post(s.server, sealed.data).status_code == 200
    assert s.store.query("SELECT auxiliary_status, activation_status FROM records WHERE record_id = %s",
                         (rec.record_id.bytes,)) == [("autoservicio", "valida")]
    assert _check(s.store, citizen_record(dev.id, code.text, seed=2)) == "usada"
    code2, _ = issue(s.store, s.cfg, dev.id, cic="333333333", address="b@example.org")
    wrong = ActivationCode(code2.ref, "000000000" if code2.secret != "000000000" else "111111111")
    assert _check(s.store, citizen_record(dev.id, wrong.text, seed=3), 1) == "no_valida"
    assert last_activation(s.store, dev.id)["state"] == "invalidada"
    # Its e-mail, never delivered, is dropped once the code has expired.
    late = time.time() + 25 * 3600
    assert AcuseWorker(s.store, OutboxTransport(tmp_path / "late"), "acuses@example.org",
                       clock=lambda: late).deliver_due() == 0
    second = bytes.fromhex(last_activation(s.store, dev.id)["activation_id"])
    assert s.store.query("SELECT state, message FROM mail_queue WHERE record_id = %s", (second,)) == \
        [("caducado", b"")]


def test_the_self_service_table_is_optional_and_strict(site: Site) -> None:
    text = site.server.config_path.read_text()
    assert parse_config(text, site.server.config_path).self_service == SelfServiceSection(
        code_ttl_hours=24, max_per_email_day=3, max_per_cic_day=3, max_per_device_hour=30, max_wrong=5,
        check_roll=False)
    cfg = parse_config(text + "[self_service]\ncode_ttl_hours = 2\nmax_wrong = 3\ncheck_roll = true\n",
                       site.server.config_path)
    assert (cfg.self_service.code_ttl_hours, cfg.self_service.max_wrong, cfg.self_service.check_roll) == \
        (2, 3, True)
    for bad, field in (("max_per_email_day = 0", "max_per_email_day"),
                       ("code_ttl_hours = 200", "code_ttl_hours"), ("enabled = true", "enabled"),
                       ("max_wrong = \"5\"", "max_wrong")):
        with pytest.raises(ServerConfigError) as e:
            parse_config(text + f"[self_service]\n{bad}\n", site.server.config_path)
        assert f"self_service.{field}" in str(e.value) and "\n" not in str(e.value)
