"""The coordinator's roll, enrollment codes and devices pages (`server_stub/admin/fleet.py`) against
the real server over HTTPS: a roll uploaded as multipart and imported on a background thread
(progress page polled until done, bad rows listed by line), codes listed and cancelled (a
cancelled code refused by the real enrollment listener), a wipe confirmed and then executed by
the device's real agent, a revocation confirmed; a GET never acts. Then the roll upload in
headless chromium through the real form.

FK_SCREENS=1 also saves docs/screens/dashboard-roll-{1280,360}.png from the browser test."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from kiosk.testdata.roll import generate_roll, write_roll
from server_stub.admin.fleet import RollJob
from server_stub.dashboard import audit
from server_stub.fleet import command_issue, enrollment_codes
from server_stub.verify import roll
from sync.device.enroll import EnrollError, enroll
from sync.wire.command import verify_command
from tests.conftest import DASH_PASSWORD
from tests.helpers.browser import chromium, click_and_load, have_chromium
from tests.helpers.fleet import Fleet, wait_until

PASSWORD = DASH_PASSWORD  # the coordinator `coord` of the `dash_fleet` fixture
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"


@pytest.fixture
def dash(dash_fleet: tuple[Fleet, str]) -> tuple[Fleet, str]:
    return dash_fleet


def _login(fl: Fleet, url: str) -> requests.Session:
    s = requests.Session()
    s.verify, s.trust_env = str(fl.server.ca_cert), False
    r = s.post(url + "/login", data={"username": "coord", "password": PASSWORD}, allow_redirects=False,
               timeout=30)
    assert r.status_code == 303
    return s


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m is not None
    return m.group(1)


def _roll_with_bad_rows(path: Path, n: int) -> dict[int, str]:
    """A synthetic roll of n good rows with bad rows between them; {line: expected reason start}."""
    write_roll(path, list(generate_roll(n, seed=5)))
    lines = path.read_text(encoding="utf-8").splitlines()
    good = lines[3].split(",")
    header = lines[0].split(",")

    def bad(**cells: str) -> str:
        row = list(good)
        for k, v in cells.items():
            row[header.index(k)] = v
        return ",".join(row)

    inserts = {5: (",".join(good[:-2]), "tiene 21 columnas"),
               9: (bad(cic="12345"), "cic no tiene 9 dígitos"),
               14: (bad(entidad="CDMX"), "entidad no es un número entero"),
               20: (bad(entidad="40"), "entidad fuera de 1–32"),
               27: (bad(estatus="fallecido"), "estatus desconocido"),
               33: (bad(seccion="-3"), "seccion no es un número entero")}
    for line, (text, _) in sorted(inserts.items()):
        lines.insert(line - 1, text)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {line: why for line, (_, why) in inserts.items()}


def _poll_job(s: requests.Session, url: str, job_url: str) -> str:
    """The job page until it stops running; while it runs the page reloads itself."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = s.get(url + job_url, timeout=30).text
        state = re.search(r'id="job" data-state="(\w+)"', page)
        assert state is not None, page
        if state.group(1) in ("terminado", "error"):
            assert 'http-equiv="refresh"' not in page
            return page
        assert '<meta http-equiv="refresh" content="2">' in page
        time.sleep(0.2)
    raise AssertionError("the import did not finish")


def test_roll_upload_imports_in_the_background_and_lists_rejected_rows(dash: tuple[Fleet, str],
                                                                       tmp_path: Path) -> None:
    fl, url = dash
    s = _login(fl, url)
    csv_path = tmp_path / "padron.csv"
    bad = _roll_with_bad_rows(csv_path, 400)
    page = s.get(url + "/padron", timeout=30).text
    assert "Todavía no hay padrón" in page
    # The csrf field comes first in the form, as the page sends it.
    files: list[tuple[str, Any]] = [("csrf", (None, _csrf(page))),
                                    ("archivo", ("padrón de prueba.csv", csv_path.read_bytes(), "text/csv"))]
    r = s.post(url + "/padron/importar", files=files, allow_redirects=False, timeout=60)
    assert r.status_code == 303, r.text
    job_url = r.headers["location"]
    assert re.fullmatch(r"/padron\?job=[\w-]+", job_url)
    page = _poll_job(s, url, job_url)
    assert 'data-state="terminado"' in page, page
    rows = int(fl.store.query("SELECT COUNT(*) FROM roll")[0][0])
    secciones = int(fl.store.query("SELECT COUNT(*) FROM roll_units")[0][0])
    assert rows == 400
    assert f'<dd id="job-rows">{rows}</dd>' in page and f'<dd id="job-secciones">{secciones}</dd>' in page
    assert f'<dd id="job-rejected">{len(bad)}</dd>' in page
    listed = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]+)</td></tr>', page)
    assert [int(n) for n, _ in listed] == sorted(bad)
    for n, why in listed:
        assert why.startswith(bad[int(n)]), (n, why)
    assert fl.store.query("SELECT source FROM roll_meta")[0][0] == "padrón de prueba.csv"
    (entry,) = [e for e in audit.recent(fl.store) if e.action == "padron-importacion"]
    assert (entry.actor, entry.target) == ("coord", "padrón de prueba.csv")
    assert f"{rows} filas" in entry.detail and f"{len(bad)} rechazadas" in entry.detail
    assert not list(fl.store.path.parent.glob("fk-roll-*"))  # the upload's temp file is gone
    assert f"{rows} filas, importado" in s.get(url + "/padron", timeout=30).text

    # A file with no good row: the job ends in an error and the roll is the one before.
    (tmp_path / "malo.csv").write_text(csv_path.read_text().splitlines()[0] + "\n1,2,3\n")
    files = [("csrf", (None, _csrf(page))), ("archivo", ("malo.csv", (tmp_path / "malo.csv").read_bytes()))]
    r = s.post(url + "/padron/importar", files=files, allow_redirects=False, timeout=60)
    page = _poll_job(s, url, r.headers["location"])
    assert 'data-state="error"' in page and "malo.csv:2: tiene 3 columnas" in page
    assert str(tmp_path) not in page and "fk-roll-" not in page  # the temp path is never shown
    assert int(fl.store.query("SELECT COUNT(*) FROM roll")[0][0]) == rows


def test_codes_are_listed_cancelled_and_a_cancelled_code_is_refused_at_redeem(dash: tuple[Fleet, str],
                                                                             tmp_path: Path) -> None:
    fl, url = dash
    s = _login(fl, url)
    keep, drop = fl.code(["aux-0001"]), fl.code(["aux-0002"])
    listed = enrollment_codes.list_codes(fl.store)
    prefix = {c.code: row.code_id_prefix for c, row in zip((keep, drop), listed, strict=True)}
    page = s.get(url + "/codigos", timeout=30).text
    for c in (keep, drop):
        assert c.code not in page and c.code.replace("-", "") not in page  # the secret is never shown again
        assert f'id="code-{prefix[c.code]}" data-state="issued"' in page
    assert "AUXILIAR UNO" in page and "vigente" in page
    full_ids = [r[0] for r in fl.store.query("SELECT code_id FROM enrollment_codes")]
    assert not any(i in page for i in full_ids)

    # A GET on the action changes nothing.
    assert s.get(url + f"/codigos/cancelar?code={prefix[drop.code]}", timeout=30).status_code == 404
    r = s.post(url + "/codigos/cancelar", data={"code": prefix[drop.code]}, allow_redirects=False, timeout=30)
    assert r.status_code == 403  # no CSRF token
    assert {c.state for c in enrollment_codes.list_codes(fl.store)} == {"issued"}

    r = s.post(url + "/codigos/cancelar", data={"code": prefix[drop.code], "csrf": _csrf(page)},
               allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["location"] == f"/codigos?msg=cancelado&c={prefix[drop.code]}"
    page = s.get(url + r.headers["location"], timeout=30).text
    assert f"Código {prefix[drop.code]} cancelado" in page
    assert f'id="code-{prefix[drop.code]}" data-state="cancelled"' in page
    assert 'por <span title="coord">coord</span>' in page

    with pytest.raises(EnrollError) as e:  # through the real enrollment listener, as a kiosk does
        enroll(drop.uri, config_path=tmp_path / "d1" / "device.toml")
    assert e.value.reason == "cancelled" and "canceló este código" in e.value.message
    assert e.value.msg.code == "enroll.cancelled"  # the screen names it too (kiosk catalogues)
    assert not any((tmp_path / "d1").rglob("*"))
    dev = fl.enroll("d2", keep)  # the other code still works
    page = s.get(url + "/codigos", timeout=30).text
    assert f'id="code-{prefix[keep.code]}" data-state="redeemed"' in page and f"d={dev.id}" in page

    # A redeemed code, or one cancelled already, cannot be cancelled.
    for c in (keep, drop):
        r = s.post(url + "/codigos/cancelar", data={"code": prefix[c.code], "csrf": _csrf(page)}, timeout=30)
        assert "No se canceló: el código" in r.text and "ya no está vigente" in r.text
    assert [(e.actor, e.target) for e in audit.recent(fl.store) if e.action == "codigo-cancelacion"] == \
        [("coord", prefix[drop.code])]


def test_wipe_and_revoke_go_through_a_confirmation_and_a_get_never_acts(dash: tuple[Fleet, str]) -> None:
    fl, url = dash
    s = _login(fl, url)
    dev = fl.enroll("w1")
    dev.capture(2)
    agent = dev.agent()
    assert wait_until(lambda: (hb := fl.heartbeat(dev.id)) is not None and hb.online, 30)
    page = s.get(url + f"/dispositivo?d={dev.id}", timeout=30).text
    assert '<dd id="device-state">activo</dd>' in page and 'id="ask-wipe"' in page
    page = s.get(url + f"/dispositivo/confirmar?d={dev.id}&accion=borrar", timeout=30).text
    assert "El dispositivo dejará de poder enviar; los apoyos aún no enviados en él se perderán." in page
    assert 'action="/dispositivo/borrar"' in page
    confirm = s.get(url + f"/dispositivo/confirmar?d={dev.id}&accion=revocar", timeout=30).text
    assert "dejará de poder enviar apoyos" in confirm and 'action="/dispositivo/revocar"' in confirm

    # GETs on the actions (with every field) and POSTs without the token do nothing.
    for path in ("/dispositivo/borrar", "/dispositivo/revocar"):
        assert s.get(url + f"{path}?device_id={dev.id}", timeout=30).status_code == 404
        assert s.post(url + path, data={"device_id": dev.id}, timeout=30).status_code == 403
    assert command_issue.pending_commands(fl.store, dev.id) == []
    assert fl.store.get_device(dev.id).state == "active"  # type: ignore[union-attr]

    r = s.post(url + "/dispositivo/borrar", data={"device_id": dev.id, "csrf": _csrf(page)},
               allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["location"] == f"/dispositivo?d={dev.id}&msg=borrado"
    (q,) = command_issue.pending_commands(fl.store, dev.id)
    cmd = verify_command(q.command, dev.id, [fl.sign_key.public_key()], int(time.time() * 1000), 0)
    assert (cmd.kind, cmd.device_id) == ("wipe", dev.id)
    page = s.get(url + r.headers["location"], timeout=30).text
    assert "Borrado en cola" in page and 'id="wipe-queued"' in page
    assert wait_until(lambda: agent.wiped, 30)  # the device's own agent got it and obeyed
    agent.stop(10)
    assert dev.files() == []

    r = s.post(url + "/dispositivo/revocar", data={"device_id": dev.id, "csrf": _csrf(page)},
               allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/dispositivo?d={dev.id}&msg=revocado")
    assert fl.store.get_device(dev.id).state == "revoked"  # type: ignore[union-attr]
    page = s.get(url + r.headers["location"], timeout=30).text
    assert "Dispositivo revocado; el broker ya lo rechaza." in page and "ask-wipe" not in page
    page = s.get(url + f"/dispositivo/confirmar?d={dev.id}&accion=borrar", timeout=30).text
    assert 'id="blocked"' in page and 'id="confirm-action"' not in page
    got = [(e.action, e.actor, e.target) for e in audit.recent(fl.store)]
    assert ("dispositivo-borrado", "coord", dev.id) in got
    assert ("dispositivo-revocacion", "coord", dev.id) in got
    assert s.get(url + "/dispositivo?d=fk-nadie", timeout=30).status_code == 404


def test_roll_upload_in_chromium_waits_on_the_self_refreshing_page(dash: tuple[Fleet, str],
                                                                  tmp_path: Path) -> None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert have_chromium(), "needs Debian's chromium and chromium-driver (scripts/setup.sh)"
    fl, url = dash
    csv_path = tmp_path / "padron-muestra.csv"
    bad = _roll_with_bad_rows(csv_path, 120)
    with chromium() as driver:
        b: Any = driver
        b.get(url + "/login")
        b.find_element(By.ID, "username").send_keys("coord")
        b.find_element(By.ID, "password").send_keys(PASSWORD)
        click_and_load(b, b.find_element(By.ID, "login"))
        # The page of a running job reloads itself (no script): a job planted on the served app
        # is shown running, then finished, and the browser shows that without being told to.
        assert fl.server.running is not None and fl.server.running.dashboard is not None
        app: Any = fl.server.running.dashboard.config.app
        app.roll_jobs["plantado"] = job = RollJob("plantado", "lento.csv", "coord", int(time.time() * 1000),
                                                  read=500, total=2000)
        b.get(url + "/padron?job=plantado")
        assert b.find_element(By.ID, "job-progress").text == "Leídas 500 de 2000 filas (25 %)."
        b.execute_script("window.__fkOldPage = true;")
        job.read, job.result, job.state = 2000, roll.ImportResult(2000, 7, 1.5), "terminado"
        WebDriverWait(b, 30, poll_frequency=0.2, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script("return window.__fkOldPage !== true && "
                                       "document.readyState === 'complete'"))
        assert b.find_element(By.ID, "job-rows").text == "2000"
        b.get(url + "/padron")
        b.find_element(By.ID, "archivo").send_keys(str(csv_path))
        click_and_load(b, b.find_element(By.ID, "roll-import"))
        assert "/padron?job=" in b.current_url
        WebDriverWait(b, 60, poll_frequency=0.2, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, '#job[data-state="terminado"]'))
        assert b.find_element(By.ID, "job-rows").text == "120"
        assert b.find_element(By.ID, "job-rejected").text == str(len(bad))
        assert len(b.find_elements(By.CSS_SELECTOR, "#rejected tr")) == len(bad) + 1
        b.set_window_size(360, 800)
        b.get(b.current_url)
        assert b.execute_script("return document.documentElement.scrollWidth") <= \
            b.execute_script("return window.innerWidth")
        if os.environ.get("FK_SCREENS"):
            SCREENS.mkdir(parents=True, exist_ok=True)
            for width in (1280, 360):  # the whole page: the window as tall as the page
                b.set_window_size(width, 900)
                b.get(b.current_url)
                tall = b.execute_script("return document.documentElement.scrollHeight")
                b.set_window_size(width, tall + 140)
                b.save_screenshot(str(SCREENS / f"dashboard-roll-{width}.png"))


def test_a_large_upload_is_read_only_for_a_logged_in_coordinator(dash: tuple[Fleet, str]) -> None:
    """Without a coordinator's session the body limit stays the forms' 64 KB: nobody can make
    the server read and parse megabytes before the login check."""
    fl, url = dash
    anon = requests.Session()
    anon.verify, anon.trust_env = str(fl.server.ca_cert), False
    big = b"--x\r\n" + b"a" * 2_000_000
    r = anon.post(url + "/padron/importar", data=big, timeout=30,
                  headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413 and "demasiado grande" in r.text
    # A coordinator's upload of the same size is read, then refused: it carries no CSRF token.
    s = _login(fl, url)
    r = s.post(url + "/padron/importar", data=big, timeout=30,
               headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 403
