"""The overview's alerts banner: the pure rule (rows and a clock in, alerts out), then the page
in headless chromium against the real server, with heartbeats through the real HTTPS status
endpoint: an alert appears, names the device and links to its row, and clears by itself.

FK_SCREENS=1 also saves docs/screens/dashboard-alerts-{1280,360}.png from the browser test."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import requests

from server_stub.dashboard.alerts import HELD, HELD_MS, HOUR_MS, SILENT, SILENT_MS, alerts
from server_stub.dashboard.data import DeviceRow
from server_stub.fleet import tables as fleet
from tests.conftest import DASH_PASSWORD
from tests.helpers.browser import chromium, click_and_load, have_chromium
from tests.helpers.fleet import Fleet, FleetDevice

NOW = 1_790_000_000_000
PASSWORD = DASH_PASSWORD  # the coordinator `coord` of the `dash_fleet` fixture
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"


def _row(dev: str, *, hb_ago: int | None = 0, pending: int | None = 0, oldest_s: float | None = None,
         state: str = "active", added_ago: int = 30 * 24 * HOUR_MS) -> DeviceRow:
    return DeviceRow(dev, state, f"Nombre {dev}", NOW - added_ago, 0, None,
                     None if hb_ago is None else NOW - hb_ago, pending, oldest_s, None, None, True)


def test_silent_device_past_the_threshold_only_while_active() -> None:
    assert alerts([_row("a", hb_ago=SILENT_MS)], NOW) == []  # at the threshold: not yet
    (a,) = alerts([_row("a", hb_ago=SILENT_MS + 1)], NOW)
    assert (a.kind, a.name, a.since_ms) == (SILENT, "Nombre a", NOW - SILENT_MS - 1)
    assert a.text == "sin latido desde hace 6 h."
    assert alerts([_row("a", hb_ago=SILENT_MS + 1, state="revoked")], NOW) == []
    # Never a heartbeat: counted from the registration.
    assert alerts([_row("n", hb_ago=None, added_ago=HOUR_MS)], NOW) == []
    (n,) = alerts([_row("n", hb_ago=None, added_ago=2 * 24 * HOUR_MS + 3 * HOUR_MS)], NOW)
    assert n.kind == SILENT and n.text == "sin ningún latido desde su alta, hace 2 d 3 h."


def test_old_unsent_records_use_the_reported_oldest_age_plus_the_heartbeat_age() -> None:
    hb_ago = 2 * HOUR_MS
    young = (HELD_MS - hb_ago) / 1000  # exactly at the threshold now
    assert alerts([_row("q", hb_ago=hb_ago, pending=3, oldest_s=young)], NOW) == []
    (a,) = alerts([_row("q", hb_ago=hb_ago, pending=3, oldest_s=young + 1)], NOW)
    assert a.kind == HELD and a.held == 3 and a.age_ms == HELD_MS + 1000
    assert a.text == "3 registros sin enviar; el más antiguo tiene 1 d 0 h."
    # The queue drained: no alert, however old the last one was.
    assert alerts([_row("q", hb_ago=hb_ago, pending=0, oldest_s=young + 1)], NOW) == []
    # A heartbeat without the oldest age: the heartbeat's own age is the lower bound.
    assert alerts([_row("q", hb_ago=HOUR_MS, pending=3)], NOW) == []
    held = [a.kind for a in alerts([_row("q", hb_ago=HELD_MS + 1, pending=3)], NOW)]
    assert held == [HELD, SILENT]
    assert alerts([_row("q", hb_ago=hb_ago, pending=3, oldest_s=1e6, state="revoked")], NOW) == []


def test_most_severe_first_then_oldest() -> None:
    rows = [_row("s1", hb_ago=SILENT_MS + HOUR_MS), _row("s2", hb_ago=SILENT_MS + 5 * HOUR_MS),
            _row("h1", pending=1, oldest_s=HELD_MS / 1000 + 10),
            _row("h2", pending=9, oldest_s=HELD_MS / 1000 + 7200), _row("ok", hb_ago=HOUR_MS)]
    got = [(a.kind, a.device_id) for a in alerts(rows, NOW)]
    assert got == [(HELD, "h2"), (HELD, "h1"), (SILENT, "s2"), (SILENT, "s1")]
    assert alerts([replace(r, state="revoked") for r in rows], NOW) == []


# --- the page -----------------------------------------------------------------------------------




def _post_status(fl: Fleet, dev: FleetDevice, status: dict[str, object]) -> None:
    """A heartbeat as an HTTPS-only device sends it: POST /v1/status with its client certificate."""
    keys = dev.config.keys
    r = requests.post(f"{fl.server.https_url}/v1/status", json=status, timeout=15,
                      cert=(str(keys.client_cert), str(keys.client_key)), verify=str(fl.server.ca_cert))
    assert r.status_code == 204, r.text


def test_banner_names_the_device_links_its_row_and_clears_by_itself(dash_fleet: tuple[Fleet, str]) -> None:
    from selenium.webdriver.common.by import By

    assert have_chromium(), "needs Debian's chromium and chromium-driver (scripts/setup.sh)"
    fl, url = dash_fleet
    dev = fl.enroll("d1")  # on board: aux-0001 AUXILIAR UNO, aux-0002 AUXILIAR DOS
    name = "AUXILIAR UNO, AUXILIAR DOS"
    # The device's last heartbeat came 7 h ago: the store as both transports write it
    # (received_ms given, as the real endpoints stamp the present).
    fleet.record_heartbeat(fl.store, dev.id, {"online": True, "pending": 0},
                           "https", received_ms=int(time.time() * 1000) - 7 * HOUR_MS)
    with chromium() as b:
        b.get(url + "/login")
        b.find_element(By.ID, "username").send_keys("coord")
        b.find_element(By.ID, "password").send_keys(PASSWORD)
        click_and_load(b, b.find_element(By.ID, "login"))
        banner = b.find_element(By.ID, "alerts")
        (line,) = banner.find_elements(By.CSS_SELECTOR, "li.alert")
        assert line.get_attribute("class") == f"alert alert-{SILENT}"
        assert f"{name}: sin latido desde hace 7 h." in line.text and "Último latido:" in line.text
        link = line.find_element(By.TAG_NAME, "a")
        assert link.text == name and link.get_attribute("title") == dev.id
        assert link.get_attribute("href").endswith(f"#dev-{dev.id}")
        assert b.find_element(By.ID, f"dev-{dev.id}").find_element(By.CLASS_NAME, "name").text == name
        # The banner comes before everything else on the page.
        assert b.execute_script("return document.querySelector('main > section').id") == "alerts"

        # A fresh heartbeat through the real endpoint, holding records for 30 h: the silence
        # alert is gone, the held-records one is there.
        _post_status(fl, dev, {"online": True, "pending": 5, "oldest_pending_age_s": 30 * 3600.0})
        b.get(url + "/")
        (line,) = b.find_elements(By.CSS_SELECTOR, "#alerts li.alert")
        assert line.get_attribute("class") == f"alert alert-{HELD}"
        assert f"{name}: 5 registros sin enviar; el más antiguo tiene 1 d 6 h." in line.text
        if os.environ.get("FK_SCREENS"):
            _screens(b, fl)
            _post_status(fl, dev, {"online": True, "pending": 5, "oldest_pending_age_s": 30 * 3600.0})
        # At 360 px the banner is on the first screen and the page does not scroll sideways.
        b.set_window_size(360, 800)
        b.get(url + "/")
        top = b.find_element(By.ID, "alerts").rect["y"]
        assert top < b.execute_script("return window.innerHeight")
        assert b.execute_script("return document.documentElement.scrollWidth") <= \
            b.execute_script("return window.innerWidth")
        b.set_window_size(1280, 2000)

        # The queue drained: no banner at all.
        _post_status(fl, dev, {"online": True, "pending": 0, "oldest_pending_age_s": None})
        b.get(url + "/")
        assert not b.find_elements(By.ID, "alerts")


def _screens(b: object, fl: Fleet) -> None:
    """The overview with alerts at 1280 and 360 px: a second device silent for 9 h, labelled."""
    second = fl.enroll("d2", fl.code(["coord-01"]))
    fleet.set_device_label(fl.store, second.id, "Tableta mesa 3")
    fleet.record_heartbeat(fl.store, second.id, {"online": False, "pending": 0}, "mqtt-lwt",
                           received_ms=int(time.time() * 1000) - 9 * HOUR_MS)
    SCREENS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 360):  # the whole page: the window as tall as the page at that width
        b.set_window_size(width, 900)  # type: ignore[attr-defined]
        b.get(b.current_url.split("#")[0])  # type: ignore[attr-defined]
        tall = b.execute_script("return document.documentElement.scrollHeight")  # type: ignore[attr-defined]
        b.set_window_size(width, tall + 140)  # type: ignore[attr-defined]
        b.save_screenshot(str(SCREENS / f"dashboard-alerts-{width}.png"))  # type: ignore[attr-defined]
    fleet.record_heartbeat(fl.store, second.id, {"online": True, "pending": 0}, "mqtt")
