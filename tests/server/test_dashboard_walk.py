"""A coordinator's day in the browser, from an empty deployment: define a process and its
aspirant, add an auxiliary (PIN shown once), import the roll, issue an enrollment code, a
device enrolls with it and sends supports, the verdicts and the trend show up, a search
finds a folio, an alert is raised and clears. Everything through the real pages in headless
Debian chromium against the real server, broker, enrollment listener and sync agent.

FK_SCREENS=1 also saves every page at 1280 and 360 px as docs/screens/walk-NN-<page>-<w>.png."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.testdata.roll import generate_roll, write_roll
from server_stub.dashboard import accounts
from server_stub.deploy.broker_process import Broker, free_port
from server_stub.fleet import tables as fleet
from server_stub.verify import verify
from sync.device.enroll import enroll
from sync.outbox.keyfile import load_key
from sync.outbox.outbox import Outbox
from sync.wire.sealing import Sealer
from tests.conftest import make_support_record
from tests.helpers.agent import FAST
from tests.helpers.browser import chromium, click_and_load, have_chromium
from tests.helpers.fleet import wait_until
from tests.helpers.server import IngestServer, with_dashboard

PASSWORD = "contraseña-larga-1"
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
PROC, ASP, AUX = "df-2027-bc", "asp-bc", "aux-ana"


class Shots:
    """Full-page screenshots at both widths, numbered in the order of the walk."""

    def __init__(self, b: Any) -> None:
        self.b, self.n = b, 0
        self.on = os.environ.get("FK_SCREENS") == "1"

    def take(self, name: str) -> None:
        self.n += 1
        b = self.b
        for width in (1280, 360):
            b.set_window_size(width, 900)  # no reload: a POST's answer page (the PIN) stays
            # The page never scrolls sideways at phone width: tables scroll or stack in their box.
            assert b.execute_script("return document.documentElement.scrollWidth") <= width + 1, name
            if self.on:
                tall = b.execute_script("return document.documentElement.scrollHeight")
                b.set_window_size(width, min(tall + 140, 4000))
                b.save_screenshot(str(SCREENS / f"walk-{self.n:02d}-{name}-{width}.png"))
        b.set_window_size(1280, 2000)


def test_a_coordinator_from_an_empty_deployment_to_verified_supports(
        tmp_path: Path, ingest_server_factory: Callable[..., IngestServer], mosquitto: Broker) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    assert have_chromium(), "needs Debian's chromium and chromium-driver (scripts/setup.sh)"
    server = ingest_server_factory(start=False)
    enroll_port = free_port()
    with server.config_path.open("a") as f:
        f.write(f'[fleet]\nenroll_port = {enroll_port}\nbroker_acl = "{mosquitto.config.acl_path}"\n')
    port = with_dashboard(server, "", '[verify]\ninterval_s = 0.2\n[acuse]\nmode = "off"\n')
    server.start()
    store = server.store
    accounts.add_user(store, "coord", PASSWORD, display_name="Coordinación BC")  # `dashboard-user add`
    rows = list(generate_roll(400, seed=21))
    roll_csv = tmp_path / "padron.csv"
    write_roll(roll_csv, rows)
    # The aspirant's district: where most valid citizens of the roll live.
    here = [c for c in rows if c.estatus == "vigente" and c.vigencia >= 2030]
    ent, df = max({(c.entidad, c.distrito_federal) for c in here},
                  key=lambda k: sum((c.entidad, c.distrito_federal) == k for c in here))
    citizens = [c for c in here if (c.entidad, c.distrito_federal) == (ent, df)][:3]
    url = f"https://127.0.0.1:{port}"
    today = time.strftime("%Y-%m-%d")

    with chromium() as b:
        shots = Shots(b)
        b.get(url + "/login")
        shots.take("login")
        b.find_element(By.ID, "username").send_keys("coord")
        b.find_element(By.ID, "password").send_keys(PASSWORD)
        click_and_load(b, b.find_element(By.ID, "login"))
        assert "Coordinación BC" in b.find_element(By.TAG_NAME, "header").text
        shots.take("resumen-vacio")

        # A process and its aspirant.
        b.get(url + "/procesos")
        b.find_element(By.ID, "process_id").send_keys(PROC)
        Select(b.find_element(By.ID, "kind")).select_by_value("diputacion_federal")
        b.find_element(By.ID, "proc_name").send_keys("Diputación federal BC (MUESTRA)")
        for field, value in (("start", today), ("end", "2030-12-31")):
            b.execute_script("arguments[0].value = arguments[1]", b.find_element(By.ID, field), value)
        Select(b.find_element(By.ID, "timezone")).select_by_value("America/Tijuana")
        click_and_load(b, b.find_element(By.ID, "define-process"))
        assert f"Proceso {PROC} definido" in b.find_element(By.ID, "flash").text
        Select(b.find_element(By.ID, "asp_process")).select_by_value(PROC)
        b.find_element(By.ID, "aspirant_id").send_keys(ASP)
        b.find_element(By.ID, "asp_name").send_keys("ASPIRANTE MUESTRA BC")
        b.find_element(By.ID, "entidad").send_keys(str(ent))
        b.find_element(By.ID, "distrito").send_keys(str(df))
        click_and_load(b, b.find_element(By.ID, "add-aspirant"))
        assert "ASPIRANTE MUESTRA BC" in b.find_element(By.ID, "processes").text
        shots.take("procesos")

        # An auxiliary: the PIN is shown once.
        b.get(url + "/auxiliares")
        b.find_element(By.ID, "aux_id").send_keys(AUX)
        b.find_element(By.ID, "aux_name").send_keys("ANA LÓPEZ")
        b.find_element(By.ID, f"add-{PROC}").click()
        click_and_load(b, b.find_element(By.ID, "add-aux"))
        pin = b.find_element(By.ID, "pin-value").text
        assert len(pin) == 6 and pin.isdigit()
        shots.take("auxiliar-pin")
        b.get(url + "/auxiliares")
        assert pin not in b.page_source

        # The roll, with its progress page.
        b.get(url + "/padron")
        b.find_element(By.ID, "archivo").send_keys(str(roll_csv))
        click_and_load(b, b.find_element(By.ID, "roll-import"))
        WebDriverWait(b, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, '#job[data-state="terminado"]'))
        assert b.find_element(By.ID, "job-rows").text == str(len(rows))
        shots.take("padron")

        # An enrollment code for the auxiliary; a device redeems it.
        b.get(url + "/")
        Select(b.find_element(By.ID, "auxiliary")).select_by_value(AUX)
        click_and_load(b, b.find_element(By.ID, "enroll-code"))
        code = b.find_element(By.ID, "enroll-code-value").text
        assert "ANA LÓPEZ" in b.find_element(By.ID, "issued-for").text
        shots.take("codigo-emitido")
        res = enroll(code, server_url=server.config.enroll_url(),
                     config_path=tmp_path / "tab" / "device.toml")
        from server_stub.deploy import keys
        from sync.device.config import load_config as load_device_config

        cfg = load_device_config(res.config_path)
        assert cfg.process(PROC).timezone == "America/Tijuana"
        sealer = Sealer(res.device_id, keys.load_sign_private(cfg.keys.signing_key),
                        keys.load_seal_public(cfg.keys.server_seal_public))
        with Outbox.open(cfg.device.data_dir / "outbox.db", load_key(cfg.keys.outbox_key)) as ob:
            folios = [ob.put(make_support_record(res.device_id, c, process_id=PROC, aspirant_id=ASP,
                                                 seed=i + 1, auxiliary_id=AUX), sealer).folio
                      for i, c in enumerate([*citizens, citizens[0]])]  # the last: a duplicate
        from sync.agent.agent import SyncAgent
        from sync.agent.settings import AgentSettings

        agent = SyncAgent(AgentSettings.from_config(cfg), FAST, config=cfg)
        agent.start()
        try:
            assert wait_until(lambda: store.count_records() == 4, 60)
            assert wait_until(lambda: sum(verify.counts(store).values()) == 4
                              and verify.PENDIENTE not in verify.counts(store), 60)
        finally:
            agent.stop()
        b.get(url + "/codigos")
        assert "canjeado" in b.find_element(By.TAG_NAME, "main").text
        shots.take("codigos")

        # Verdicts on the overview and the aspirant's page; the trend; a search.
        b.get(url + "/")
        row = b.find_element(By.ID, f"asp-{ASP}")
        assert row.find_element(By.CLASS_NAME, "valid-count").text == "3"
        device_row = b.find_element(By.ID, f"dev-{res.device_id}")
        assert device_row.find_element(By.CLASS_NAME, "name").text == "ANA LÓPEZ"
        shots.take("resumen")
        b.get(url + f"/aspirante?p={PROC}&a={ASP}")
        assert b.find_element(By.ID, "valid").text == "3"
        shots.take("aspirante")
        b.get(url + f"/tendencia?p={PROC}")
        assert "ANA LÓPEZ" in b.find_element(By.ID, "by-auxiliary").text
        shots.take("tendencia")
        b.get(url + "/buscar")
        b.find_element(By.ID, "q").send_keys(folios[-1])
        click_and_load(b, b.find_element(By.ID, "buscar"))
        assert "Duplicado" in b.find_element(By.ID, "results").text
        shots.take("buscar")

        # An alert: the device falls silent for 7 h (its last heartbeat, as the server saw it,
        # moved back); then it comes back and the alert clears by itself.
        hb = fleet.get_heartbeat(store, res.device_id)
        assert hb is not None
        fleet.record_heartbeat(store, res.device_id, hb.status, hb.via,
                               received_ms=int(time.time() * 1000) - 7 * 3600 * 1000)
        b.get(url + "/")
        line = b.find_element(By.CSS_SELECTOR, "#alerts li.alert-silent")
        assert "ANA LÓPEZ" in line.text and "sin latido desde hace 7 h" in line.text
        shots.take("aviso")
        agent = SyncAgent(AgentSettings.from_config(cfg), FAST, config=cfg)
        agent.start()
        try:
            assert wait_until(lambda: (h := fleet.get_heartbeat(store, res.device_id)) is not None
                              and time.time() * 1000 - h.received_ms < 60_000, 60)
        finally:
            agent.stop()
        b.get(url + "/")
        assert not b.find_elements(By.ID, "alerts")
        b.get(url + "/auditoria")
        log = b.find_element(By.TAG_NAME, "main").text
        assert "Coordinación BC" in log  # who: by name, the account on hover
        for what in ("Definición de proceso", "Alta de aspirante", "Alta de auxiliar",
                     "Importación del padrón", "Código de alta emitido", "Búsqueda"):
            assert what in log, what
        assert pin not in b.page_source and code not in b.page_source
        shots.take("auditoria")
