"""Find and follow on the dashboard, over real HTTPS against the real server: a record found by
folio, CIC and e-mail (the acuse queue), each search in the audit log with the key masked, an
aspirante account refused, and the per-day (process zone) and per-auxiliary trend."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
import requests

from server_stub.admin.search import classify_query, masked
from server_stub.dashboard import accounts
from server_stub.ingest.acuse import AcuseWorker, OutboxTransport
from server_stub.verify import processes, roll, verify
from tests.helpers.server import IngestServer, TestDevice, with_dashboard

PASSWORD = "contraseña-larga-1"
PROC, ASP = "df-2027", "asp-1"
TIJ = ZoneInfo("America/Tijuana")


def test_a_query_is_a_folio_a_cic_or_an_email() -> None:
    assert classify_query("F-00012") == "folio"
    assert classify_query(" 123456789 ") == "cic"
    assert classify_query("Ana@Example.org") == "email"
    assert classify_query("' OR 1=1 --") is None
    assert masked("cic", "123456789") == "••••••789"
    assert masked("email", "ana@example.org") == "a•••@example.org"


@pytest.fixture
def world(ingest_server_factory: Callable[..., IngestServer], pki, synthetic_roll, support_record, tmp_path):
    server = ingest_server_factory(start=False, mqtt=False)
    port = with_dashboard(server, "", f'[acuse]\nmode = "outbox"\noutbox_dir = "{tmp_path / "eml"}"\n')
    store = server.store
    path, rows = synthetic_roll
    roll.import_roll(store, path)
    good = [c for c in rows if c.estatus == "vigente" and c.vigencia >= 2030]
    c1 = good[0]
    c2 = next(c for c in good[1:] if (c.entidad, c.distrito_federal) == (c1.entidad, c1.distrito_federal))
    # Two days apart, seen from Tijuana: 23:30 on the 1st and 00:30 on the 3rd.
    t1 = int(dt.datetime(2027, 2, 1, 23, 30, tzinfo=TIJ).timestamp() * 1000)
    t2 = int(dt.datetime(2027, 2, 3, 0, 30, tzinfo=TIJ).timestamp() * 1000)
    processes.define_process(store, PROC, "diputacion_federal", "Diputación BC", t1 - 86_400_000,
                             t2 + 86_400_000, timezone="America/Tijuana")
    processes.add_aspirant(store, PROC, ASP, "Aspirante Uno", entidad=c1.entidad,
                           distrito_federal=c1.distrito_federal)
    accounts.add_user(store, "coord", PASSWORD, display_name="  Coordinación   Norte ")
    accounts.add_user(store, "asp", PASSWORD, "aspirante", process_id=PROC, aspirant_id=ASP)
    server.start()
    dev = TestDevice.create(pki.devices["dev-0001"], server)
    for seed, c, email in ((1, c1, "ana@example.org"), (2, c2, None)):
        rec = support_record(dev.id, c, process_id=PROC, aspirant_id=ASP, seed=seed, email=email)
        assert dev.post(server, dev.sealer.seal(replace(rec, captured_at_ms=t1)).data).status_code == 200
    verify.Verifier(store).run_until_idle()
    # The receive times are "now": set them apart as if the records came on those two days.
    with store.tx() as conn:
        for folio, t in (("F-00001", t1), ("F-00002", t2)):
            conn.execute(store.sql("UPDATE verdicts SET received_ms = ? WHERE folio = ?"), (t, folio))
    AcuseWorker(store, OutboxTransport(tmp_path / "eml"), "a@b.invalid").enqueue_new()
    yield server, f"https://127.0.0.1:{port}", c1
    server.close()


def _login(server: IngestServer, url: str, user: str) -> requests.Session:
    s = requests.Session()
    s.verify = str(server.ca_cert)
    s.trust_env = False
    r = s.post(url + "/login", data={"username": user, "password": PASSWORD}, allow_redirects=False,
               timeout=30)
    assert r.status_code == 303, r.text
    return s


def _folios(page: str) -> list[str]:
    return re.findall(r"<td>(F-\d{5})</td>", page)


def test_search_by_folio_cic_and_email_is_logged_masked(world) -> None:
    server, url, c1 = world
    s = _login(server, url, "coord")
    def find(q: str) -> requests.Response:
        page = s.get(url + "/buscar", timeout=30).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        return s.post(url + "/buscar", data={"q": q, "csrf": csrf}, timeout=30)

    assert s.get(url + "/buscar", params={"q": c1.cic}, timeout=30).text.count(c1.cic) == 0  # GET: a form
    for q in ("F-00001", c1.cic, "ANA@example.org"):
        r = find(q)
        assert r.status_code == 200 and _folios(r.text) == ["F-00001"], (q, r.text)
        assert "En lista nominal" in r.text or "Válido" in html.unescape(r.text)
    r = find("F-99999")
    assert "0 resultados" in r.text
    # Pages name the account by its display name, the account name on hover.
    assert '<span title="coord">Coordinación Norte (coordinador)' in r.text
    r = find("<script>")
    assert "Escriba un folio" in html.unescape(r.text) and "<script>" not in r.text
    from server_stub.dashboard import audit
    logged = [(e.actor, e.action, e.target) for e in audit.recent(server.store, action="buscar")]
    targets = [t for _, _, t in logged]
    assert logged[0][:2] == ("coord", "buscar")
    assert "folio F-00001" in targets and "email A•••@example.org" in targets
    assert not any(c1.cic in t or "ana@" in t for t in targets)


def test_an_aspirante_account_cannot_search(world) -> None:
    server, url, c1 = world
    s = _login(server, url, "asp")
    r = s.get(url + "/buscar", timeout=30, allow_redirects=False)
    assert r.status_code == 403
    page = s.get(url + f"/aspirante?p={PROC}&a={ASP}", timeout=30).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = s.post(url + "/buscar", data={"q": c1.cic, "csrf": csrf}, timeout=30, allow_redirects=False)
    assert r.status_code == 403 and c1.cic not in r.text


def test_trend_by_day_in_the_process_zone_and_by_auxiliary(world) -> None:
    server, url, _ = world
    s = _login(server, url, "coord")
    r = s.get(url + "/tendencia", params={"p": PROC}, timeout=30)
    assert r.status_code == 200
    day_table = r.text.split('id="by-day"')[1].split("</table>")[0]
    # In UTC both arrivals fall on 2 and 3 February; in Tijuana on the 1st and the 3rd.
    assert re.findall(r"<td>(2027-02-\d\d)</td>", day_table) == ["2027-02-01", "2027-02-03"]
    assert "America/Tijuana" in r.text
    assert r.text.count('class="chart"') == 2
    aux_table = r.text.split('id="by-auxiliary"')[1].split("</table>")[0]
    assert '<td class="num">2</td>' in aux_table
