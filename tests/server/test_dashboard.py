"""The coordinators' dashboard: headless chromium logs in, sees the numbers the test put in,
revokes a device; login, cookie and CSRF rules over plain HTTPS."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
import requests

from kiosk.testdata.roll import Citizen
from server_stub.dashboard import accounts
from server_stub.dashboard import data as dashboard_data
from server_stub.fleet import tables as fleet
from server_stub.verify import processes, roll, verify
from tests.helpers.browser import chromium, click_and_load, have_chromium
from tests.helpers.server import IngestServer, TestDevice, with_dashboard

T0 = 1_790_000_000_000
PROC = "df-2027"
PASSWORD = "contraseña-larga-1"


class Setup:
    def __init__(self, server: IngestServer, url: str, devs: list[TestDevice]) -> None:
        self.server, self.url, self.devs = server, url, devs


@pytest.fixture
def dash(ingest_server_factory: Callable[..., IngestServer], pki, synthetic_roll, support_record) -> Setup:
    server = ingest_server_factory(start=False)
    port = with_dashboard(server, rest='[verify]\ninterval_s = 0.1\n[acuse]\nmode = "off"\n')
    store = server.store
    path, rows = synthetic_roll
    roll.import_roll(store, path)
    here = [c for c in rows if c.estatus == "vigente" and c.vigencia >= 2026]
    ent, df = here[0].entidad, here[0].distrito_federal
    in_df: list[Citizen] = [c for c in here if (c.entidad, c.distrito_federal) == (ent, df)]
    now = int(time.time() * 1000)
    processes.define_process(store, PROC, "diputacion_federal", "Diputación federal 2027", now - 86_400_000,
                             now + 3 * 86_400_000)
    processes.add_aspirant(store, PROC, "asp-1", "Aspirante Uno", entidad=ent, distrito_federal=df)
    accounts.add_user(store, "coord", PASSWORD)
    accounts.add_user(store, "uno", PASSWORD, "aspirante", process_id=PROC, aspirant_id="asp-1")
    server.start()
    devs = [TestDevice.create(pki.devices[d], server) for d in ("dev-0001", "dev-0002")]
    recs = [support_record(devs[i % 2].id, c, process_id=PROC, aspirant_id="asp-1", seed=i)
            for i, c in enumerate(in_df[:5])]
    recs.append(support_record(devs[0].id, in_df[0], process_id=PROC, aspirant_id="asp-1", seed=90))  # dup
    recs.append(support_record(devs[1].id, None, process_id=PROC, aspirant_id="asp-1", seed=91))  # not found
    for r in recs:
        dev = devs[0] if r.device_id == devs[0].id else devs[1]
        assert dev.post(server, dev.sealer.seal(r).data).status_code == 200
    deadline = time.monotonic() + 15
    while sum(verify.counts(store).values()) < len(recs):  # the server's own verifier thread
        assert time.monotonic() < deadline
        time.sleep(0.05)
    fleet.record_heartbeat(store, devs[0].id, {"online": True, "pending": 4, "battery_percent": 73.0,
                                                "app_version": "0.1.0-test"}, "mqtt")
    return Setup(server, f"https://127.0.0.1:{port}", devs)


def test_browser_login_numbers_and_revoke(dash: Setup) -> None:
    from selenium.webdriver.common.by import By

    assert have_chromium(), "needs Debian's chromium and chromium-driver (scripts/setup.sh)"

    store = dash.server.store
    proc = processes.get_process(store, PROC)
    asp = processes.get_aspirant(store, PROC, "asp-1")
    assert proc and asp
    want = dashboard_data.progress(store, proc, asp)
    assert want.valid == 5
    with chromium() as b:
        b.get(dash.url + "/")
        assert b.current_url.endswith("/login")
        b.find_element(By.ID, "username").send_keys("coord")
        b.find_element(By.ID, "password").send_keys("equivocada-123")
        click_and_load(b, b.find_element(By.ID, "login"))
        assert "incorrectos" in b.find_element(By.ID, "login-error").text
        b.find_element(By.ID, "username").send_keys("coord")
        b.find_element(By.ID, "password").send_keys(PASSWORD)
        click_and_load(b, b.find_element(By.ID, "login"))
        row = b.find_element(By.ID, "asp-asp-1")
        assert row.find_element(By.CLASS_NAME, "valid-count").text == "5"
        assert row.find_element(By.CLASS_NAME, "required-count").text == str(want.required)
        assert row.find_element(By.CLASS_NAME, "missing-count").text == str(want.missing)
        assert f"{want.units_met} de {want.units_needed} secciones" in row.text
        assert b.find_element(By.CSS_SELECTOR, '[data-verdict="duplicado"]').text == "1"
        assert b.find_element(By.CSS_SELECTOR, '[data-verdict="no_encontrado"]').text == "1"
        assert re.match(r"\d d \d+ h", b.find_element(By.CLASS_NAME, "time-left").text)
        assert "dev-0001 (4)" in b.find_element(By.CLASS_NAME, "holding").text
        d1 = b.find_element(By.ID, "dev-dev-0001")
        assert d1.find_element(By.CLASS_NAME, "queue").text == "4"
        assert d1.find_element(By.CLASS_NAME, "battery").text == "73 %"
        assert d1.find_element(By.CLASS_NAME, "version").text == "0.1.0-test"
        assert b.find_elements(By.CSS_SELECTOR, "svg.chart")  # records-by-verdict chart
        # Aspirant page: per-sección chart, non-valid records by folio, per auxiliary/device.
        click_and_load(b, row.find_element(By.LINK_TEXT, "detalle"))
        assert b.find_element(By.ID, "valid").text == "5"
        nv = b.find_element(By.ID, "non-valid").text
        assert "F-00090" in nv and "cuenta el folio F-00000" in nv and "F-00091" in nv
        assert "aux-07" in b.find_element(By.ID, "by-aux").text
        assert "dev-0002" in b.find_element(By.ID, "by-device").text
        assert b.find_elements(By.CSS_SELECTOR, "svg.chart text.unit-count")
        click_and_load(b, b.find_element(By.ID, "notify"))
        assert "audiencia" in b.find_element(By.ID, "flash").text
        assert processes.get_aspirant(store, PROC, "asp-1").notified_ms is not None  # type: ignore[union-attr]
        # Revoke dev-0002.
        b.get(dash.url + "/")
        click_and_load(b, b.find_element(By.ID, "revoke-dev-0002"))  # asks first
        assert store.get_device("dev-0002").state == "active"  # type: ignore[union-attr]
        assert "dejará de poder enviar" in b.find_element(By.ID, "confirm").text
        click_and_load(b, b.find_element(By.ID, "confirm-action"))
        assert "Dispositivo revocado" in b.find_element(By.ID, "flash").text
        b.get(dash.url + "/")
        assert b.find_element(By.ID, "dev-dev-0002").find_element(By.CLASS_NAME, "state").text == "revocado"
    assert store.get_device("dev-0002").state == "revoked"  # type: ignore[union-attr]
    dev = dash.devs[1]
    sealed = dev.seal(seed=77)
    ack = dash.server.verifier(dev.id).verify(dev.post(dash.server, sealed.data).content)
    assert ack.verdict == "rechazado:dispositivo_revocado"


def _login(url: str, user: str, ca: str) -> requests.Session:
    s = requests.Session()
    s.verify = ca
    s.trust_env = False  # else $REQUESTS_CA_BUNDLE overrides the session's CA
    r = s.post(url + "/login", data={"username": user, "password": PASSWORD}, allow_redirects=False)
    assert r.status_code == 303
    return s


def test_cookie_flags_csrf_roles_and_csv(dash: Setup) -> None:
    url, ca = dash.url, str(dash.server.ca_cert)
    r = requests.get(url + "/", verify=ca, allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    s = _login(url, "coord", ca)
    r = s.post(url + "/login", data={"username": "coord", "password": PASSWORD}, allow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert all(f in cookie for f in ("HttpOnly", "Secure", "SameSite=Strict"))
    assert "default-src 'none'" in s.get(url + "/").headers["content-security-policy"]
    # An action without the session's CSRF token, or from another origin, is refused.
    assert s.post(url + "/dispositivo/revocar", data={"device_id": "dev-0001"}).status_code == 403
    page = s.get(url + "/").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = s.post(url + "/dispositivo/revocar", data={"device_id": "dev-0001", "csrf": token},
               headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert dash.server.store.get_device("dev-0001").state == "active"  # type: ignore[union-attr]
    csv_text = s.get(url + f"/export.csv?p={PROC}").text
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("folio,record_id") and len(lines) == 8
    assert sum(",valido," in ln for ln in lines) == 5
    # An aspirant sees only its own page, cannot act, and gets only its own CSV.
    a = _login(url, "uno", ca)
    assert a.get(url + "/", allow_redirects=False).headers["location"].startswith("/aspirante?p=df-2027")
    assert a.get(url + "/aspirante?p=df-2027&a=otro").status_code == 403
    atok = re.search(r'name="csrf" value="([^"]+)"', a.get(url + "/").text).group(1)  # type: ignore[union-attr]
    r = a.post(url + "/dispositivo/revocar", data={"device_id": "dev-0001", "csrf": atok})
    assert r.status_code == 403
    assert len(a.get(url + "/export.csv?p=other").text.strip().splitlines()) == 8
    # Logging out ends the session server-side.
    a.post(url + "/logout", data={"csrf": atok})
    assert a.get(url + "/", allow_redirects=False).status_code == 303
