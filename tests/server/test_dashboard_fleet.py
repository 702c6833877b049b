"""The dashboard with the fleet and verification together, in headless chromium against the real
server, enrollment listener and broker: issue an enrollment code from the page and redeem it
with sync's enrollment; revoke from the page and the broker refuses the device at once.
Process kinds beyond the candidacies reach the device config under their device names."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import requests
import zxingcpp

from server_stub.fleet import tables as fleet
from server_stub.verify import process_kinds
from server_stub.verify import processes as procmod
from sync.device.config import ProcessKind
from sync.device.config import load_config as load_device_config
from sync.device.enroll import enroll
from tests.conftest import DASH_PASSWORD
from tests.helpers.browser import chromium, click_and_load, have_chromium
from tests.helpers.fleet import ASPIRANT, PROCESS, Fleet
from tests.helpers.mqtt import Identity

PASSWORD = DASH_PASSWORD  # the coordinator `coord` of the `dash_fleet` fixture
ROOT = "fieldkit/v1/devices"
NOT_AUTHORIZED = 135




def _png_text(data_url: str) -> str:
    import cv2

    assert data_url.startswith("data:image/png;base64,")
    png = base64.b64decode(data_url.split(",", 1)[1])
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    found = zxingcpp.read_barcodes(img)
    assert found, "no QR in the image"
    return str(found[0].text)


def test_dashboard_issues_a_code_and_revocation_reaches_the_broker(dash_fleet: tuple[Fleet, str], mqtt_client,
                                                                   tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    assert have_chromium(), "needs Debian's chromium and chromium-driver (scripts/setup.sh)"
    fl, url = dash_fleet
    with chromium() as b:
        b.get(url + "/login")
        b.find_element(By.ID, "username").send_keys("coord")
        b.find_element(By.ID, "password").send_keys(PASSWORD)
        click_and_load(b, b.find_element(By.ID, "login"))
        sel = Select(b.find_element(By.ID, "auxiliary"))
        assert sel.is_multiple
        assert {o.get_attribute("value") for o in sel.options} == {"aux-0001", "aux-0002", "coord-01"}
        sel.select_by_value("aux-0002")
        sel.select_by_value("coord-01")
        click_and_load(b, b.find_element(By.ID, "enroll-code"))
        code = b.find_element(By.ID, "enroll-code-value").text
        assert len(code) == 24 and code.count("-") == 4
        assert "?" not in b.current_url and code.replace("-", "") not in b.current_url.replace("-", "")
        qr = _png_text(b.find_element(By.ID, "enroll-qr").get_attribute("src") or "")
        assert code.replace("-", "") in qr.replace("-", "") and f":{fl.enroll_port}" in qr

        # Redeemed with the device side's own enrollment, against the same server.
        res = enroll(code, fl.enroll_url, config_path=tmp_path / "dev" / "device.toml")
        assert res.auxiliaries == ["aux-0002", "coord-01"] and res.processes == [PROCESS]
        dev_cfg = load_device_config(res.config_path)
        assert [a.id for a in dev_cfg.auxiliaries] == ["aux-0002", "coord-01"]

        c = mqtt_client(fl.broker, Identity(res.device_id, dev_cfg.keys.client_cert, dev_cfg.keys.client_key))
        assert c.connect()
        assert not c.wait_puback(c.publish(f"{ROOT}/{res.device_id}/status", b"{}")).is_failure
        pid = fl.broker.proc.pid if fl.broker.proc else None

        b.get(url + "/")
        click_and_load(b, b.find_element(By.ID, f"revoke-{res.device_id}"))
        click_and_load(b, b.find_element(By.ID, "confirm-action"))  # the confirmation page
        flash = b.find_element(By.ID, "flash").text
        assert "revocado" in flash and "el broker ya lo rechaza" in flash, flash
        b.get(url + "/")
        row = b.find_element(By.ID, f"dev-{res.device_id}")
        assert row.find_element(By.CLASS_NAME, "state").text == "revocado"
    topic = f"{ROOT}/{res.device_id}/records"
    assert res.device_id in fl.cfg.fleet.broker_acl.read_text()  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while c.wait_puback(c.publish(topic, b"x")).value != NOT_AUTHORIZED:
        assert time.monotonic() < deadline, "the broker still accepts the revoked device"
        time.sleep(0.2)
    assert fl.broker.proc is not None and fl.broker.proc.pid == pid  # reloaded, not restarted


def _login(url: str, ca: Path) -> requests.Session:
    s = requests.Session()
    s.verify = str(ca)
    s.trust_env = False
    r = s.post(url + "/login", data={"username": "coord", "password": PASSWORD}, allow_redirects=False)
    assert r.status_code == 303
    return s


def test_process_kinds_map_to_device_kinds_through_enrollment(dash_fleet: tuple[Fleet, str],
                                                              tmp_path: Path) -> None:
    fl, url = dash_fleet
    assert {k.device_kind for k in process_kinds.KINDS.values()} <= set(get_args(ProcessKind))
    now = int(time.time() * 1000)
    kinds = ["presidencia", "revocacion", "consulta_popular", "iniciativa_ciudadana", "organizacion_politica",
             "agrupacion_politica", "partido_politico_afiliacion", "partido_politico_refrendo"]
    for k in kinds:
        procmod.define_process(fl.store, f"p-{k}", k, f"Proceso {k}", now - 86_400_000, now + 86_400_000)
        procmod.add_aspirant(fl.store, f"p-{k}", ASPIRANT, "ASPIRANTE MUESTRA")
    fleet.put_auxiliary(fl.store, "aux-kinds", "AUXILIAR TIPOS", "112233",
                        [PROCESS, *(f"p-{k}" for k in kinds)])
    res = fl.enroll("kinds", fl.code(["aux-kinds"]))
    got = {p.id: (p.kind, p.threshold_percent) for p in res.config.processes}
    assert got == {
        PROCESS: ("candidatura_independiente", 2.0),
        "p-presidencia": ("candidatura_independiente", 1.0),
        "p-revocacion": ("revocacion_mandato", 3.0),
        "p-consulta_popular": ("consulta_popular", 2.0),
        "p-iniciativa_ciudadana": ("iniciativa_ciudadana", 0.13),
        "p-organizacion_politica": ("organizacion_politica", 0.0),
        "p-agrupacion_politica": ("agrupacion_politica", 0.0),
        "p-partido_politico_afiliacion": ("partido_politico", 0.0),
        "p-partido_politico_refrendo": ("partido_politico", 0.0),
    }
    with pytest.raises(procmod.ProcessError):
        procmod.define_process(fl.store, "p-x", "partido_politico", "x", now, now + 1)  # not a server kind
    # The dashboard: threshold kinds show their numbers, the others "sin umbral definido".
    s = _login(url, fl.cfg.tls.ca_cert)
    page = s.get(url + "/").text
    for k in kinds:
        assert f'id="proc-p-{k}"' in page
    sec = page.split('id="proc-p-organizacion_politica"', 1)[1].split("</section>", 1)[0]
    assert "Organización política" in sec and "sin umbral definido" in sec
    # Consulta popular: a national total (2 %) and no dispersion rule.
    sec = page.split('id="proc-p-consulta_popular"', 1)[1].split("</section>", 1)[0]
    assert "sin umbral" not in sec and "required-count" in sec and "no se exige" in sec
    r = s.get(url + "/aspirante", params={"p": "p-consulta_popular", "a": ASPIRANT})
    assert r.status_code == 200 and 'id="no-dispersion"' in r.text and "(2.0 %" in r.text
    assert 'id="units-met"' not in r.text
    sec = page.split('id="proc-p-revocacion"', 1)[1].split("</section>", 1)[0]
    assert "sin umbral" not in sec and "required-count" in sec
    r = s.get(url + "/aspirante", params={"p": "p-partido_politico_refrendo", "a": ASPIRANT})
    assert r.status_code == 200 and 'id="no-rule"' in r.text and "Partido político (refrendo)" in r.text
