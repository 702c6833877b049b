"""The coordinator's administration pages over real HTTPS, served by the real server with its
fleet and broker: auxiliaries (PIN shown once, stored only as a hash, pushed to the devices
that carry the auxiliary as a signed config update), processes in their own zone, aspirants,
and the audit log. Refusals: an aspirant account, a POST without the CSRF token or from
another origin. One chromium test adds an auxiliary through the real form; FK_SCREENS=1
also saves docs/screens/dashboard-auxiliaries-{1280,360}.png."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

from server_stub.admin import admin as admin_pages
from server_stub.core.store import open_store
from server_stub.dashboard import accounts, audit
from server_stub.fleet import command_issue as commands
from server_stub.fleet import tables as fleet
from server_stub.verify import processes as procmod
from sync.common import periods
from sync.common.pin import verify_pin
from sync.wire.command import parse_command
from tests.conftest import DASH_PASSWORD
from tests.helpers.browser import chromium, click_and_load, have_chromium
from tests.helpers.fleet import ASPIRANT, PROCESS, Fleet

PASSWORD = DASH_PASSWORD  # the coordinator `coord` of the `dash_fleet` fixture
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
PIN_RE = re.compile(r'id="pin-value">(\d{6})<')
ONCE = "Anótelo ahora: no se vuelve a mostrar."


@pytest.fixture
def dash(dash_fleet: tuple[Fleet, str]) -> tuple[Fleet, str]:
    f, _ = dash_fleet
    accounts.add_user(f.store, "asp", PASSWORD, "aspirante", process_id=PROCESS, aspirant_id=ASPIRANT)
    return dash_fleet


class Client:
    """A logged-in requests session and its CSRF token, as a browser's form would send it."""

    def __init__(self, fl: Fleet, url: str, user: str = "coord") -> None:
        self.url = url
        self.s = requests.Session()
        self.s.verify = str(fl.server.ca_cert)
        self.s.trust_env = False
        r = self.s.post(url + "/login", data={"username": user, "password": PASSWORD}, allow_redirects=False)
        assert r.status_code == 303
        self.csrf = ""

    def get(self, path: str) -> requests.Response:
        r = self.s.get(self.url + path, allow_redirects=False, timeout=30)
        if m := CSRF_RE.search(r.text):
            self.csrf = m.group(1)
        return r

    def post(self, path: str, data: Mapping[str, str | list[str]], *, csrf: bool = True) -> requests.Response:
        body = {**data, **({"csrf": self.csrf} if csrf else {})}
        r = self.s.post(self.url + path, data=body, allow_redirects=False, timeout=30)
        assert not r.history and "location" not in r.headers  # answered with the page itself
        return r


def _config_updates(fl: Fleet, device_id: str) -> list[dict[str, Any]]:
    out = []
    for q in commands.pending_commands(fl.store, device_id):
        cmd, _, _ = parse_command(q.command)
        if cmd.kind == "config":
            out.append(json.loads(cmd.payload))
    return out


def _aux(fl: Fleet, aux_id: str) -> fleet.AuxiliaryRow:
    (row,) = fleet.list_auxiliaries(fl.store, [aux_id])
    return row


def test_auxiliaries_processes_and_audit(dash: tuple[Fleet, str], caplog: pytest.LogCaptureFixture) -> None:
    fl, url = dash
    caplog.set_level(logging.DEBUG)
    c = Client(fl, url)
    assert c.get("/procesos").status_code == 200 and c.csrf

    # A process in its own zone: its dates are days in Tijuana.
    r = c.post("/procesos/definir", {"process_id": "ci-2027-bc", "kind": "diputacion_federal",
                                    "name": "Diputación BC 01", "start": "2027-01-10", "end": "2027-02-28",
                                    "timezone": "America/Tijuana"})
    assert r.status_code == 200, r.text
    tz = periods.zone("America/Tijuana")
    p = procmod.get_process(fl.store, "ci-2027-bc")
    assert p is not None and p.timezone == "America/Tijuana"
    assert (p.starts_ms, p.ends_ms) == (periods.start_ms("2027-01-10", tz), periods.end_ms("2027-02-28", tz))
    assert "2027-01-10 00:00 PST" in r.text and "2027-02-28 23:59 PST" in r.text
    r = c.post("/procesos/definir", {"process_id": "ci-2027-bc", "kind": "presidencia", "start": "2027-01-10",
                                    "end": "2027-02-28", "timezone": "America/Tijuana"})
    assert r.status_code == 400 and "ya existe" in r.text and "Reemplazar" in r.text
    r = c.post("/procesos/definir", {"process_id": "x", "kind": "presidencia", "start": "2027-03-01",
                                    "end": "2027-02-01", "timezone": "Europe/Madrid"})
    assert r.status_code == 400 and "zona horaria de la lista" in r.text

    # An aspirant: a federal district needs entidad and distrito.
    asp = {"process_id": "ci-2027-bc", "aspirant_id": "asp-bc", "name": "Aspirante BC"}
    r = c.post("/procesos/aspirante", asp)
    assert r.status_code == 400 and "necesita la entidad" in r.text
    r = c.post("/procesos/aspirante", {**asp, "entidad": "2", "distrito": "1"})
    assert r.status_code == 200 and "entidad 02, distrito 01" in r.text
    assert procmod.get_aspirant(fl.store, "ci-2027-bc", "asp-bc") is not None

    # A new auxiliary: the PIN is made by the server and shown once.
    c.get("/auxiliares")
    r = c.post("/auxiliares/alta", {"aux_id": "aux-0100", "name": "AUXILIAR CIEN", "role": "auxiliar",
                                   "process": [PROCESS]})
    assert r.status_code == 200 and ONCE in r.text
    m = PIN_RE.search(r.text)
    assert m is not None
    pin = m.group(1)
    assert verify_pin(pin, _aux(fl, "aux-0100").pin_hash)
    assert "Ningún dispositivo lo lleva" in r.text
    again = c.get("/auxiliares")
    assert again.status_code == 200 and "aux-0100" in again.text
    assert pin not in again.text and ONCE not in again.text
    # Processes of two aspirants, and an id that exists: refused, in Spanish, on the page.
    r = c.post("/auxiliares/alta", {"aux_id": "aux-0101", "name": "X", "role": "auxiliar",
                                   "process": [PROCESS, "ci-2027-bc"]})
    assert r.status_code == 400 and "sólo puede trabajar para un aspirante" in r.text
    assert not PIN_RE.search(r.text)
    r = c.post("/auxiliares/alta", {"aux_id": "aux-0100", "name": "X", "role": "auxiliar",
                                   "process": [PROCESS]})
    assert r.status_code == 400 and "Ya existe el auxiliar aux-0100" in r.text
    assert verify_pin(pin, _aux(fl, "aux-0100").pin_hash)

    # On a device: an edit reaches it as a signed config update.
    dev = fl.enroll("d1", fl.code(["aux-0100"]))
    r = c.post("/auxiliares/editar", {"aux_id": "aux-0100", "name": "AUXILIAR CIEN BIS",
                                     "process": [PROCESS]})
    assert r.status_code == 200 and "Configuración nueva enviada a 1 dispositivo" in r.text
    row = _aux(fl, "aux-0100")
    assert row.name == "AUXILIAR CIEN BIS" and verify_pin(pin, row.pin_hash)  # the PIN is kept
    (cfg,) = _config_updates(fl, dev.id)
    assert [a["name"] for a in cfg["auxiliaries"]] == ["AUXILIAR CIEN BIS"] and cfg["unlock"] == []
    r = c.post("/auxiliares/editar", {"aux_id": "aux-0100", "name": "Y", "process": ["ci-2027-bc"]})
    assert r.status_code == 400 and "no puede cambiar de aspirante" in r.text

    # A new PIN: shown once, hashed, pushed with the lockout cleared.
    r = c.post("/auxiliares/pin", {"aux_id": "aux-0100"})
    assert r.status_code == 200 and ONCE in r.text and "enviada a 1 dispositivo" in r.text
    m = PIN_RE.search(r.text)
    assert m is not None
    pin2 = m.group(1)
    assert verify_pin(pin2, _aux(fl, "aux-0100").pin_hash)
    cfg = _config_updates(fl, dev.id)[-1]
    assert verify_pin(pin2, cfg["auxiliaries"][0]["pin_hash"]) and cfg["unlock"] == ["aux-0100"]
    assert pin2 not in c.get("/auxiliares").text

    # The audit log: one row per action, newest first, no PIN anywhere.
    page = c.get("/auditoria")
    assert page.status_code == 200
    actions = re.findall(r'class="entry" data-action="([^"]+)"', page.text)
    assert actions == [audit.AUX_PIN, audit.AUX_EDIT, audit.AUX_ADD, audit.ASPIRANT_ADD, audit.PROCESS_DEFINE]
    assert page.text.count('<td><span title="coord">coord</span></td>') == 5  # no display name: the account
    assert "aux-0100" in page.text and "ci-2027-bc/asp-bc" in page.text
    only = c.get(f"/auditoria?accion={audit.AUX_PIN}")
    assert re.findall(r'data-action="([^"]+)"', only.text) == [audit.AUX_PIN]
    assert len(re.findall(r'class="entry"', c.get("/auditoria?accion=nada").text)) == 5  # unknown: all
    rows = audit.recent(fl.store)
    assert [e.actor for e in rows] == ["coord"] * 5
    for secret in (pin, pin2):
        assert secret not in page.text and all(secret not in e.detail for e in rows)
        assert not [rec for rec in caplog.records if secret in rec.getMessage()]
    # Another page module's action, without a label: offered by the filter all the same.
    audit.record(fl.store, "coord", "otra-accion", "x")
    other = c.get("/auditoria?accion=otra-accion").text
    assert re.findall(r'data-action="([^"]+)"', other) == ["otra-accion"]
    # "PIN fijado" comes from the audit log.
    assert re.search(r'id="aux-aux-0100">.*?<td class="id">\d{4}-\d\d-\d\d \d\d:\d\d C[SD]T</td></tr>',
                     c.get("/auxiliares").text, re.S)


def test_aspirant_accounts_and_forged_posts_are_refused(dash: tuple[Fleet, str]) -> None:
    fl, url = dash
    asp = Client(fl, url, "asp")
    for path in ("/auxiliares", "/procesos", "/auditoria"):
        assert asp.get(path).status_code in (303, 403, 404), path
    asp.get("/")  # its own page: a CSRF token of its session
    asp.get(f"/aspirante?p={PROCESS}&a={ASPIRANT}")
    assert asp.csrf
    r = asp.post("/auxiliares/alta", {"aux_id": "aux-x", "name": "X", "role": "auxiliar",
                                     "process": [PROCESS]})
    assert r.status_code == 403
    r = asp.post("/procesos/definir", {"process_id": "p-x", "kind": "presidencia", "start": "2027-01-01",
                                      "end": "2027-02-01", "timezone": "America/Mexico_City"})
    assert r.status_code == 403

    coord = Client(fl, url)
    coord.get("/auxiliares")
    r = coord.post("/auxiliares/alta", {"aux_id": "aux-y", "name": "Y", "role": "auxiliar",
                                       "process": [PROCESS]}, csrf=False)
    assert r.status_code == 403
    r = coord.s.post(url + "/auxiliares/pin", data={"aux_id": "aux-0001", "csrf": coord.csrf},
                     headers={"Origin": "https://otro.example"}, allow_redirects=False)
    assert r.status_code == 403
    assert {a.aux_id for a in fleet.list_auxiliaries(fl.store)} == {"aux-0001", "aux-0002", "coord-01"}
    assert verify_pin("123456", _aux(fl, "aux-0001").pin_hash)
    assert procmod.get_process(fl.store, "p-x") is None and audit.recent(fl.store) == []


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_audit_log_on_both_stores(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_database") if kind == "postgresql" else f"sqlite:{tmp_path / 's.db'}"
    store = open_store(url)
    try:
        audit.ensure_schema(store)
        audit.ensure_schema(store)  # idempotent, as at every dashboard start
        audit.record(store, "ana", audit.AUX_ADD, "aux-1", "alta")
        audit.record(store, "ana", audit.AUX_PIN, "aux-1")
        audit.record(store, "luis", audit.PROCESS_DEFINE, "p-1", "definido")
        got = audit.recent(store)
        assert [(e.actor, e.action, e.target) for e in got] == [
            ("luis", audit.PROCESS_DEFINE, "p-1"), ("ana", audit.AUX_PIN, "aux-1"),
            ("ana", audit.AUX_ADD, "aux-1")]
        assert got[0].id > got[1].id > got[2].id and got[0].label == "Definición de proceso"
        assert [e.target for e in audit.recent(store, 10, audit.AUX_ADD)] == ["aux-1"]
        assert len(audit.recent(store, 2)) == 2
        assert audit.last_at(store, (audit.AUX_ADD, audit.AUX_PIN)) == {"aux-1": got[1].at_ms}
    finally:
        store.close()


def test_every_offered_zone_exists() -> None:
    for z in admin_pages.ZONES:
        assert periods.zone(z).key == z


def test_add_an_auxiliary_in_chromium(dash: tuple[Fleet, str]) -> None:
    from selenium.webdriver.common.by import By

    assert have_chromium(), "needs Debian's chromium and chromium-driver (scripts/setup.sh)"
    fl, url = dash
    with chromium() as driver:
        b: Any = driver
        b.get(url + "/login")
        b.find_element(By.ID, "username").send_keys("coord")
        b.find_element(By.ID, "password").send_keys(PASSWORD)
        click_and_load(b, b.find_element(By.ID, "login"))
        b.get(url + "/auxiliares")
        b.find_element(By.ID, "aux_id").send_keys("aux-0200")
        b.find_element(By.ID, "aux_name").send_keys("MARÍA GUADALUPE HERNÁNDEZ")
        b.find_element(By.ID, f"add-{PROCESS}").click()  # a checkbox, not a ctrl-click list
        click_and_load(b, b.find_element(By.ID, "add-aux"))
        pin = b.find_element(By.ID, "pin-value").text
        assert re.fullmatch(r"\d{6}", pin) and pin not in b.current_url
        assert b.current_url.rstrip("/").endswith("/auxiliares/alta")
        assert ONCE in b.find_element(By.ID, "new-pin").text
        row = _aux(fl, "aux-0200")
        assert row.name == "MARÍA GUADALUPE HERNÁNDEZ" and row.processes == [PROCESS]
        assert verify_pin(pin, row.pin_hash)
        if os.environ.get("FK_SCREENS"):
            SCREENS.mkdir(parents=True, exist_ok=True)
            b.set_window_size(1280, 1000)
            b.save_screenshot(str(SCREENS / "dashboard-auxiliaries-1280.png"))
        # At 360 px the page does not scroll sideways; only the table's own box does.
        b.set_window_size(360, 900)
        assert b.execute_script("return document.documentElement.scrollWidth") <= \
            b.execute_script("return window.innerWidth")
        if os.environ.get("FK_SCREENS"):
            b.save_screenshot(str(SCREENS / "dashboard-auxiliaries-360.png"))
        b.get(url + "/auxiliares")
        assert pin not in b.page_source
