"""Names, not ids, on the dashboard: a device shows its label, else its auxiliaries' names, else
its id (always in title=); a coordinator names it from the overview (CSRF and same origin
checked, trimmed, 1-40 printable characters); states in Spanish; auxiliaries by name on the
aspirant page and the issued code; the CSV keeps ids. Real server, enrollment and ingest."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from server_stub.dashboard import accounts
from server_stub.dashboard.data import display_name
from server_stub.deploy import keys
from server_stub.deploy.broker_process import Broker, free_port
from server_stub.fleet import tables as fleet
from server_stub.verify import verify
from sync.wire.sealing import Sealer
from tests.conftest import make_support_record
from tests.helpers.browser import chromium, click_and_load, have_chromium
from tests.helpers.fleet import ASPIRANT, PROCESS, Fleet, FleetDevice
from tests.helpers.server import IngestServer

PASSWORD = "contraseña-larga-1"
ON_BOARD = "AUXILIAR UNO, AUXILIAR DOS"  # aux-0001 and aux-0002, the fleet's default code


@pytest.fixture
def dash_fleet(tmp_path: Path, ingest_server_factory: Callable[..., IngestServer],
               mosquitto: Broker) -> Iterator[tuple[Fleet, str]]:
    port = free_port()
    f = Fleet(tmp_path / "fleet", ingest_server_factory, mosquitto,
              extra_config=f'[dashboard]\nenabled = true\nport = {port}\n[acuse]\nmode = "off"\n'
                           "[verify]\ninterval_s = 0.1\n")
    accounts.add_user(f.store, "coord", PASSWORD)
    accounts.add_user(f.store, "asp", PASSWORD, "aspirante", process_id=PROCESS, aspirant_id=ASPIRANT)
    try:
        yield f, f"https://127.0.0.1:{port}"
    finally:
        f.close()


def _send_record(fl: Fleet, dev: FleetDevice, auxiliary_id: str) -> None:
    """One support record sealed with the device's keys, posted with its client certificate."""
    cfg = dev.config
    sealer = Sealer(dev.id, keys.load_sign_private(cfg.keys.signing_key),
                    keys.load_seal_public(cfg.keys.server_seal_public))
    rec = make_support_record(dev.id, None, process_id=PROCESS, aspirant_id=ASPIRANT, seed=1,
                              auxiliary_id=auxiliary_id)
    r = requests.post(f"{fl.server.https_url}/v1/records", data=sealer.seal(rec).data, timeout=15,
                      cert=(str(cfg.keys.client_cert), str(cfg.keys.client_key)),
                      verify=str(fl.server.ca_cert), headers={"Content-Type": "application/cbor"})
    assert r.status_code == 200
    deadline = time.monotonic() + 15
    while not verify.counts(fl.store):  # the server's own verifier thread
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _login(url: str, ca: Path, user: str = "coord") -> tuple[requests.Session, str]:
    s = requests.Session()
    s.verify = str(ca)
    s.trust_env = False
    assert s.post(url + "/login", data={"username": user, "password": PASSWORD},
                  allow_redirects=False).status_code == 303
    token = re.search(r'name="csrf" value="([^"]+)"', s.get(url + "/").text)
    assert token
    return s, token.group(1)


def test_display_name_order() -> None:
    assert display_name("dev-1", "Mesa 3", ["ANA"]) == "Mesa 3"
    assert display_name("dev-1", None, ["ANA", "LUIS"]) == "ANA, LUIS"
    assert display_name("dev-1", None, []) == "dev-1"


def test_names_on_the_pages_and_a_label_set_from_the_overview(dash_fleet: tuple[Fleet, str]) -> None:
    from selenium.webdriver.common.by import By

    assert have_chromium(), "needs Debian's chromium and chromium-driver (scripts/setup.sh)"
    fl, url = dash_fleet
    dev = fl.enroll("d1")
    _send_record(fl, dev, "aux-0001")
    with chromium() as b:
        b.get(url + "/login")
        b.find_element(By.ID, "username").send_keys("coord")
        b.find_element(By.ID, "password").send_keys(PASSWORD)
        click_and_load(b, b.find_element(By.ID, "login"))
        row = b.find_element(By.ID, f"dev-{dev.id}")
        shown = row.find_element(By.CLASS_NAME, "name")
        assert shown.text == ON_BOARD and shown.get_attribute("title") == dev.id
        assert row.find_element(By.CLASS_NAME, "state").text == "activo"
        assert dev.id not in row.text
        row.find_element(By.TAG_NAME, "summary").click()
        b.find_element(By.ID, f"label-{dev.id}").send_keys("  Tableta mesa 3 ")
        click_and_load(b, b.find_element(By.ID, f"save-label-{dev.id}"))
        assert "se muestra como «Tableta mesa 3»" in b.find_element(By.ID, "flash").text
        shown = b.find_element(By.ID, f"dev-{dev.id}").find_element(By.CLASS_NAME, "name")
        assert shown.text == "Tableta mesa 3" and shown.get_attribute("title") == dev.id
        # The aspirant page: the auxiliary by its name, the device by its label; ids on hover.
        b.get(f"{url}/aspirante?p={PROCESS}&a={ASPIRANT}")
        aux = b.find_element(By.CSS_SELECTOR, "#by-aux td[title]")
        assert (aux.text, aux.get_attribute("title")) == ("AUXILIAR UNO", "aux-0001")
        assert "aux-0001" not in b.find_element(By.ID, "by-aux").text
        devcell = b.find_element(By.CSS_SELECTOR, "#by-device td[title]")
        assert (devcell.text, devcell.get_attribute("title")) == ("Tableta mesa 3", dev.id)
    assert fleet.device_labels(fl.store) == {dev.id: "Tableta mesa 3"}


def test_label_rules_csrf_roles_and_csv_ids(dash_fleet: tuple[Fleet, str]) -> None:
    fl, url = dash_fleet
    dev = fl.enroll("d1")
    _send_record(fl, dev, "aux-0001")
    s, token = _login(url, fl.cfg.tls.ca_cert)
    refused = "No se guardó el nombre: El nombre debe tener de 1 a 40 caracteres imprimibles."
    for bad in ("x" * 41, "   ", "", "mesa\t3", "mesa\u202e3"):
        r = s.post(url + "/devices/label", data={"csrf": token, "device_id": dev.id, "label": bad},
                   allow_redirects=False)
        assert r.status_code == 200 and refused in r.text, bad
    r = s.post(url + "/devices/label", data={"csrf": token, "device_id": "no-such", "label": "Mesa"},
               allow_redirects=False)
    assert r.status_code == 200 and "No existe el dispositivo" in r.text
    # Without the token, or from another origin, or by an aspirant: refused before anything.
    assert s.post(url + "/devices/label", data={"device_id": dev.id, "label": "Mesa"}).status_code == 403
    assert s.post(url + "/devices/label", data={"csrf": token, "device_id": dev.id, "label": "Mesa"},
                  headers={"Origin": "https://evil.example"}).status_code == 403
    a, atok = _login(url, fl.cfg.tls.ca_cert, "asp")
    assert a.post(url + "/devices/label", data={"csrf": atok, "device_id": dev.id,
                                                "label": "Mesa"}).status_code == 403
    assert fleet.device_labels(fl.store) == {}
    # 40 characters with accents are fine; the message comes from the store, not the URL.
    name = "Tableta de la mesa número 3, Coyoacán ñ"[:40]
    r = s.post(url + "/devices/label", data={"csrf": token, "device_id": dev.id, "label": name},
               allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/?msg=nombrado&device={dev.id}"
    assert fleet.device_labels(fl.store) == {dev.id: name}
    assert "se muestra como" not in s.get(url + "/?msg=nombrado&device=other").text
    # The issued code names its auxiliaries.
    page = s.post(url + "/devices/enroll-code", data={"csrf": token, "auxiliary": "aux-0002"}).text
    assert '<span title="aux-0002">AUXILIAR DOS</span>' in page
    # The CSV keeps the ids.
    lines = s.get(url + f"/export.csv?p={PROCESS}").text.strip().splitlines()
    cols = lines[0].split(",")
    cells = lines[1].split(",")
    assert cells[cols.index("device_id")] == dev.id and cells[cols.index("auxiliary_id")] == "aux-0001"
