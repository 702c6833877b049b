"""The coordinator's diagnostics (kiosk.app.services.diagnostic): one line per test as a `diag.*`
message, rendered in the language chosen; an exception's or the server's words go to the log,
the line names their kind."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from kiosk import i18n
from kiosk.app.services import Services, diagnostic, run_diagnostic
from kiosk.capture.save import SaveContext
from sync.common.msg import Msg
from sync.device.command_exec import REVOKED_FILE
from sync.device.config import load_config
from tests.helpers.ui import offline_device, replay_camera

# What the agent answers on the local channel (sync.agent.local_channel.status_of), offline
# after a refused connection: the transports' own words in last_error.
OFFLINE = {"pending": 3, "in_flight": 0, "connection": "offline", "transport": "mqtt",
           "last_success_age_s": 7200.0, "held": 0,
           "last_error": "mqtt: [Errno 111] Connection refused; https: HTTP 503 upstream busy"}


@pytest.fixture(autouse=True)
def _spanish() -> Iterator[None]:
    yield
    i18n.set_language("es")


def _both(what: str, sv: Services) -> tuple[str, str]:
    es = run_diagnostic(what, sv)
    i18n.set_language("en")
    try:
        return es, run_diagnostic(what, sv)
    finally:
        i18n.set_language("es")


def test_camera_absent_working_and_its_frame_size(tmp_path: Path) -> None:
    assert _both("camera", Services(None, None)) == ("Cámara: no configurada.", "Camera: not configured.")
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((480, 640, 3), 90, np.uint8))
    cam = replay_camera(tmp_path)
    try:
        es, en = _both("camera", Services(None, cam))
    finally:
        cam.stop()
    assert es.startswith("Cámara: bien (") and es.endswith(", 640x480).")
    assert en.startswith("Camera: OK (") and en.endswith(", 640x480).")


def test_connection_names_the_kind_of_error_never_its_words(caplog: pytest.LogCaptureFixture) -> None:
    sv = Services(None, None, status=lambda: dict(OFFLINE))
    with caplog.at_level(logging.INFO, "fieldkit.kiosk"):
        es, en = _both("connection", sv)
    assert es == ("Conexión: sin conexión; por enviar: 3; último envío confirmado hace 2 h; "
                  "último error: no se pudo conectar con el servidor.")
    assert en == ("Connection: offline; to send: 3; last confirmed send 2 h ago; "
                  "last error: could not connect to the server.")
    assert "Errno" not in es + en and "upstream busy" not in es + en
    assert "HTTP 503 upstream busy" in caplog.text   # the coordinator finds the words in the journal
    # Online with an error: a record the server held back (the agent clears it on connecting).
    held = {**OFFLINE, "connection": "online", "last_error": "A-0001-000042: stored later", "held": 1}
    line = diagnostic("connection", Services(None, None, status=lambda: held))
    assert line.args["error"] == Msg("diag.agent_error.held")
    assert i18n.render(line).startswith("Conexión: en línea (MQTT); ")
    fine = {**OFFLINE, "connection": "online", "last_error": None, "last_success_age_s": None}
    assert i18n.render(diagnostic("connection", Services(None, None, status=lambda: fine))) == (
        "Conexión: en línea (MQTT); por enviar: 3; ningún envío confirmado todavía; último error: ninguno.")


def test_connection_without_an_agent_and_on_a_revoked_device(tmp_path: Path) -> None:
    assert _both("connection", Services(None, None)) == (
        "Conexión: el agente de sincronización no responde.", "Connection: the sync agent does not answer.")

    def down() -> dict[str, Any]:
        raise ConnectionRefusedError(111, "Connection refused")

    assert diagnostic("connection", Services(None, None, status=down)) == Msg("diag.connection.no_agent")
    cfg = load_config(offline_device(tmp_path))
    (cfg.device.data_dir / REVOKED_FILE).write_text("")
    line = diagnostic("connection", Services(cfg, None, status=lambda: dict(OFFLINE)))
    assert line.args["error"] == Msg("diag.agent_error.revoked")


def test_storage_and_version_in_both_languages(tmp_path: Path) -> None:
    assert _both("storage", Services(None, None)) == ("Almacenamiento: sin configuración.",
                                                      "Storage: no configuration.")
    cfg = load_config(offline_device(tmp_path))
    with SaveContext.from_config(cfg) as ctx:
        es, en = _both("storage", Services(cfg, None, ctx))
    assert es.startswith("Almacenamiento: ") and " GB libres de " in es and es.endswith("; por enviar: 0.")
    assert en.startswith("Storage: ") and " GB free of " in en and en.endswith("; to send: 0.")
    es, en = _both("version", Services(None, None))
    assert es.startswith("Versión ") and "; dispositivo no inscrito; Qt " in es
    assert en.startswith("Version ") and "; device not enrolled; Qt " in en
    assert f"; dispositivo {cfg.device.id}; " in run_diagnostic("version", Services(cfg, None))
