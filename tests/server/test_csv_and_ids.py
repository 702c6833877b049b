"""CSV formula injection and device-chosen auxiliary ids, against the running server: a device
enrolled through sync's enrollment seals records with sync's code and posts them over real
mutual-TLS HTTPS; the coordinator logs in to the dashboard and downloads its CSV export.

Every cell of the export must be inert in a spreadsheet (OWASP "CSV Injection": no cell starts
with = + - @ tab or CR; such text gets a leading single quote and is quoted). The auxiliary id is
chosen by the device: ingest checks it against the auxiliaries the server assigned to that
device and keeps any other flagged (stored status, "(no registrado) ..." in the CSV and on the
page); an empty auxiliary id marks a record a citizen captured alone (self-service) only from a
device provisioned for it (no auxiliaries), and is flagged from any other. See docs/server.md,
"CSV export" and "Auxiliary ids at ingest", and docs/protocol.md (the `aux` field)."""

from __future__ import annotations

import csv
import html
import io
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from server_stub.core.store import open_store
from server_stub.dashboard import accounts
from server_stub.deploy import keys
from server_stub.deploy.broker_process import Broker, free_port
from server_stub.fleet import tables as fleet
from server_stub.verify import verify
from sync.wire.ack import Ack
from sync.wire.record import Record
from sync.wire.sealing import Sealer
from tests.helpers.fleet import ASPIRANT, PROCESS, Fleet, FleetDevice, wait_until
from tests.helpers.server import IngestServer, check_ack

PASSWORD = "contraseña-larga-1"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
LINK = 'HYPERLINK("http://x","y")'
# The payload and its variants, one per leading character; plus a leading space.
PAYLOADS = ["=" + LINK, "+" + LINK, "-" + LINK, "@" + LINK, "\t=" + LINK, "\r=" + LINK, " =" + LINK]


class Env:
    def __init__(self, fleet: Fleet, url: str, dev: FleetDevice, make: Callable[..., Record]) -> None:
        self.fleet, self.url, self.dev, self.make = fleet, url, dev, make
        self.seed = 0
        cfg = dev.config
        self.cfg = cfg
        self.sealer = Sealer(dev.id, keys.load_sign_private(cfg.keys.signing_key),
                             keys.load_seal_public(cfg.keys.server_seal_public))

    @property
    def server(self) -> IngestServer:
        return self.fleet.server

    def record(self, auxiliary_id: str, **changes: object) -> Record:
        self.seed += 1
        return self.make(self.dev.id, None, process_id=changes.pop("process_id", PROCESS),
                         aspirant_id=changes.pop("aspirant_id", ASPIRANT), seed=self.seed,
                         auxiliary_id=auxiliary_id, **changes)

    def send(self, rec: Record) -> Ack:
        """Seal as the device does and POST over mutual TLS with the enrolled certificate."""
        sealed = self.sealer.seal(rec)
        r = requests.post(f"{self.server.https_url}/v1/records", data=sealed.data, timeout=15,
                          cert=(str(self.cfg.keys.client_cert), str(self.cfg.keys.client_key)),
                          verify=str(self.cfg.keys.ca), headers={"Content-Type": "application/cbor"})
        assert r.status_code == 200, r.text
        return check_ack(self.server, self.dev.id, r.content, sealed)

    def wait_verdicts(self, n: int) -> None:
        assert wait_until(lambda: sum(verify.counts(self.fleet.store).values()) >= n, 20), \
            verify.counts(self.fleet.store)

    def login(self) -> requests.Session:
        s = requests.Session()
        s.verify = str(self.server.ca_cert)
        s.trust_env = False
        r = s.post(self.url + "/login", data={"username": "coord", "password": PASSWORD},
                   allow_redirects=False)
        assert r.status_code == 303
        return s

    def export(self, query: str = "") -> tuple[str, list[dict[str, str]], list[list[str]]]:
        """(raw text, rows as dicts, all rows including the header) of /export.csv."""
        r = self.login().get(self.url + "/export.csv" + query)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.text, newline="")))
        return r.text, [dict(zip(rows[0], row, strict=True)) for row in rows[1:]], rows

    def stored_status(self) -> dict[str, str | None]:
        """auxiliary_id -> the status ingest stored with it (the records table)."""
        return {a: s for a, s in self.fleet.store.query("SELECT auxiliary_id, auxiliary_status FROM records")}


@pytest.fixture
def env(tmp_path: Path, ingest_server_factory: Callable[..., IngestServer], mosquitto: Broker,
        support_record) -> Iterator[Env]:
    port = free_port()
    f = Fleet(tmp_path / "fleet", ingest_server_factory, mosquitto,
              extra_config=f'[dashboard]\nenabled = true\nport = {port}\n[verify]\ninterval_s = 0.1\n'
                           '[acuse]\nmode = "off"\n')
    accounts.add_user(f.store, "coord", PASSWORD)
    try:
        yield Env(f, f"https://127.0.0.1:{port}", f.enroll("kiosk"), support_record)
    finally:
        f.close()


def _dangerous(cell: str) -> bool:
    """Would a spreadsheet read this cell as a formula (also after trimming leading blanks)?"""
    return cell[:1] in TRIGGERS or cell.lstrip()[:1] in TRIGGERS


def test_formula_auxiliary_ids_reach_the_csv_inert(env: Env) -> None:
    for p in PAYLOADS:
        assert env.send(env.record(p)).verdict == "recibido"
    env.send(env.record("aux-0001"))
    # Every device-chosen text at once: folio, process and aspirant ids (verdict "pendiente").
    env.send(env.record("=1+2", folio="@SUM(1+1)*cmd|' /C calc'!A0", process_id="-2+3+cmd|' /C calc'!A0",
                        aspirant_id="+" + LINK))
    env.wait_verdicts(len(PAYLOADS) + 2)
    raw, rows, cells = env.export()
    assert len(rows) == len(PAYLOADS) + 2
    bad = [c for row in cells for c in row if _dangerous(c)]
    print(f"cells that a spreadsheet would run as a formula: {len(bad)} of {sum(map(len, cells))}")
    assert bad == [], bad
    # Neutralised text is prefixed with ' and quoted (OWASP), and reads back as what was sent.
    assert "\"'@SUM(1+1)*cmd|' /C calc'!A0\"" in raw
    by_folio = {r["folio"]: r for r in rows}
    odd = by_folio["'@SUM(1+1)*cmd|' /C calc'!A0"]
    assert odd["process_id"] == "'-2+3+cmd|' /C calc'!A0" and odd["aspirant_id"] == "'+" + LINK
    # The unknown ids are kept as sent in the store, and shown marked.
    stored = env.stored_status()
    assert set(PAYLOADS) <= set(stored)
    marked = sorted(r["auxiliary_id"] for r in rows if r["auxiliary_id"] != "aux-0001")
    assert len(marked) == len(PAYLOADS) + 1
    assert all(m.startswith("(no registrado) ") for m in marked), marked


def test_unknown_auxiliary_flagged_in_store_csv_and_page_known_not(env: Env) -> None:
    for aux in ("aux-9999", "aux-0001", "coord-01", "=" + LINK):
        assert env.send(env.record(aux)).verdict == "recibido"
    env.wait_verdicts(4)
    # coord-01 is issued by the server but not assigned to this device: not its to sign with.
    assert env.stored_status() == {"aux-9999": "no_registrado", "=" + LINK: "no_registrado",
                                   "aux-0001": "registrado", "coord-01": "no_registrado"}
    _raw, rows, _cells = env.export(f"?p={PROCESS}&a={ASPIRANT}")
    got = {(r["auxiliary_id"], r["auxiliary_status"]) for r in rows}
    assert got == {("(no registrado) aux-9999", "no_registrado"), ("aux-0001", "registrado"),
                   ("(no registrado) coord-01", "no_registrado"),
                   ("(no registrado) =" + LINK, "no_registrado")}, got
    # The aspirant page's per-auxiliary table marks it too.
    page = env.login().get(env.url + f"/aspirante?p={PROCESS}&a={ASPIRANT}").text
    table = re.search(r'<table id="by-aux">(.*?)</table>', page, re.S)
    assert table is not None
    names = [html.unescape(t) for t in re.findall(r'<tr><td title="[^"]*">(.*?)</td>', table.group(1))]
    assert sorted(names) == sorted(["(no registrado) aux-9999", "(no registrado) =" + LINK, "AUXILIAR UNO",
                                    "(no registrado) coord-01"]), names


def test_self_service_only_from_a_device_provisioned_for_it(env: Env) -> None:
    """An auxiliary's device sending no auxiliary id is flagged (it cannot pass a support off as
    self-service); a device provisioned with no auxiliaries is a self-service device."""
    ack = env.send(env.record(""))
    assert ack.verdict == "recibido"  # kept and acked: the flag is for review, nothing is lost
    env.send(env.record("aux-0002"))
    env.wait_verdicts(2)
    assert env.stored_status() == {"": "sin_auxiliar", "aux-0002": "registrado"}
    fleet.set_device_auxiliaries(env.fleet.store, env.dev.id, [])  # provisioned for self-service
    env.send(env.record("", captured_at_ms=1_790_000_000_777))
    env.wait_verdicts(3)
    statuses = [s for _, s in env.fleet.store.query("SELECT auxiliary_id, auxiliary_status FROM records "
                                                    "WHERE auxiliary_id = '' ORDER BY received_ms")]
    assert statuses == ["sin_auxiliar", "autoservicio"]
    _raw, rows, _cells = env.export()
    got = sorted((r["auxiliary_id"], r["auxiliary_status"]) for r in rows)
    assert got == [("(autoservicio)", "autoservicio"), ("(sin auxiliar)", "sin_auxiliar"),
                   ("aux-0002", "registrado")], got


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_existing_store_gets_the_status_column_and_a_backfill(backend: str, tmp_path: Path,
                                                              request: pytest.FixtureRequest) -> None:
    """A store from before the check: the column is added in place and old rows are classified
    against the fleet's auxiliaries once; opening again changes nothing."""
    b, i = ("BLOB", "INTEGER") if backend == "sqlite" else ("BYTEA", "BIGINT")
    old = [f"CREATE TABLE records (record_id {b} PRIMARY KEY, device_id TEXT NOT NULL, folio TEXT NOT NULL, "
           f"created_ms {i} NOT NULL, received_ms {i} NOT NULL, transport TEXT NOT NULL, process_id TEXT "
           f"NOT NULL, aspirant_id TEXT NOT NULL, auxiliary_id TEXT NOT NULL, captured_ms {i} NOT NULL, "
           f"envelope_sha256 {b} NOT NULL, envelope {b} NOT NULL, record {b} NOT NULL, ack {b} NOT NULL)",
           "CREATE TABLE fleet_auxiliaries (aux_id TEXT PRIMARY KEY, name TEXT NOT NULL, pin_hash TEXT "
           "NOT NULL, role TEXT NOT NULL, aspirant_id TEXT NOT NULL, processes TEXT NOT NULL, "
           f"updated_ms {i} NOT NULL)",
           "INSERT INTO fleet_auxiliaries VALUES ('aux-0001', 'A', 'h', 'auxiliar', 'a', '[]', 1)",
           "INSERT INTO fleet_auxiliaries VALUES ('aux-0002', 'B', 'h', 'auxiliar', 'a', '[]', 1)",
           "CREATE TABLE fleet_devices (device_id TEXT PRIMARY KEY, auxiliaries TEXT NOT NULL)",
           """INSERT INTO fleet_devices VALUES ('d', '["aux-0001", "x"]'), ('s', '[]')"""]
    # (record id, device, auxiliary id) -> the status the backfill must give (ingest's rule).
    rows = {(b"\x01", "d", "aux-0001"): "registrado",
            (b"\x02", "d", "=" + LINK): "no_registrado",
            (b"\x03", "d", ""): "sin_auxiliar",
            (b"\x04", "d", "aux-0002"): "no_registrado",     # issued, but not this device's
            (b"\x05", "d", 'aux-0001", "x'): "no_registrado",  # spans two entries of the JSON list
            (b"\x06", "e", "aux-0002"): "registrado",        # registered by hand: any issued id
            (b"\x07", "s", ""): "autoservicio"}
    insert = "INSERT INTO records VALUES ({m}, {m}, {m}, 1, 2, 't', 'p', 'a', {m}, 3, {m}, {m}, {m}, {m})"
    if backend == "sqlite":
        url = f"sqlite:{tmp_path}/old.db"
        con = sqlite3.connect(url.removeprefix("sqlite:"))
        for stmt in old:
            con.execute(stmt)
        for rid, dev, a in rows:
            con.execute(insert.format(m="?"), (rid, dev, rid.hex(), a, b"h", b"e", b"r", b"a"))
        con.commit()
        con.close()
    else:
        import psycopg

        url = request.getfixturevalue("pg_database")
        with psycopg.connect(url) as pcon:
            for stmt in old:
                pcon.execute(stmt)
            for rid, dev, a in rows:
                pcon.execute(insert.format(m="%s"), (rid, dev, rid.hex(), a, b"h", b"e", b"r", b"a"))
    for _ in range(2):  # idempotent
        store = open_store(url)
        try:
            got = {(bytes(r), d, a): s for r, d, a, s in store.query(
                "SELECT record_id, device_id, auxiliary_id, auxiliary_status FROM records")}
            assert got == rows
        finally:
            store.close()


def test_cell_rule_keeps_server_numbers_and_neutralises_text() -> None:
    from server_stub.dashboard.data import csv_line

    line = csv_line([-5, 1790000000000, "-5", "=1+2", " @x", "\tA", "aux-0001", 'a,"b"', None])
    assert line == '-5,1790000000000,"\'-5","\'=1+2","\' @x","\'\tA",aux-0001,"a,""b""",\n'
    assert next(csv.reader([line])) == ["-5", "1790000000000", "'-5", "'=1+2", "' @x", "'\tA", "aux-0001",
                                        'a,"b"', ""]
