"""Never a citizen's data in a log: a whole capture through the real kiosk window (replay
camera over a generated card, tablet signature, e-mail typed, "Guardar"), sent by the real
sync agent to a real ingest server, with every logger at DEBUG and the process's stderr and
stdout captured; no line may hold the card's name, CIC, clave de elector, CURP, MRZ or the
e-mail. (The headless demo's logs get the same search: tests/system/test_demo.py.)"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.mqtt import PKIPaths
from tests.helpers.server import IngestServer
from tests.helpers.ui import click, make_window, replay_camera, replay_folder, unlock
from tests.kiosk.test_ui_flow import capture_one

EMAIL = "ana@gmail.com"  # what capture_one types on the e-mail keyboard


def private_values(truth: dict) -> list[str]:
    """What identifies the card's holder, as it could appear in a line."""
    c = truth["citizen"]
    name = f"{c['nombres']} {c['apellido_paterno']} {c['apellido_materno']}"
    values = [c["apellido_paterno"], c["apellido_materno"], c["nombres"], name, c["cic"],
              c["clave_elector"], c["curp"], c["identificador"], c["ocr"], EMAIL, *truth["mrz"]]
    values += c["nombres"].split()
    return sorted({v for v in values if len(v) >= 4})


def leaks(lines: list[str], values: list[str]) -> list[tuple[str, str]]:
    folded = [v.casefold() for v in values]
    return [(v, ln) for ln in lines for v, f in zip(values, folded, strict=True) if f in ln.casefold()]


class _Everything:
    """Every record of every logger, at every level, formatted with its traceback: whatever
    the logger's level, `disabled` or `propagate`, and whichever handlers it has."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    def add(self, record: logging.LogRecord) -> None:
        try:
            self.lines += self.formatter.format(record).splitlines()
        except Exception:  # a record whose message cannot be formatted is itself worth a look
            self.lines += traceback.format_exc().splitlines()


@pytest.fixture
def all_logs(monkeypatch: pytest.MonkeyPatch) -> _Everything:
    """Every logger enabled for DEBUG, and every record it makes seen before any filter or
    handler could drop it (loggers made during the test included)."""
    seen = _Everything()
    handle = logging.Logger.handle

    def handle_and_keep(self: logging.Logger, record: logging.LogRecord) -> None:
        seen.add(record)
        handle(self, record)

    monkeypatch.setattr(logging.Logger, "isEnabledFor", lambda self, level: True)
    monkeypatch.setattr(logging.Logger, "handle", handle_and_keep)
    return seen


def test_a_whole_capture_logs_nothing_of_the_citizen(qtbot: Any, tmp_path: Path, ingest_server: IngestServer,
                                                     pki: PKIPaths, all_logs: _Everything,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    from sync.agent.local_channel import LocalChannelClient, LocalChannelServer, socket_path
    from tests.helpers.agent import FAST, make_device

    truth = replay_folder(tmp_path / "frames")
    values = private_values(truth)
    dev = make_device(tmp_path / "d", ingest_server, pki.device(0), transport="https")
    agent = dev.agent(FAST)
    server = LocalChannelServer(socket_path(dev.settings.outbox_path.parent), agent).start()
    client = LocalChannelClient(server.path)
    try:
        w = make_window(qtbot, dev.config_path, replay_camera(tmp_path / "frames"), status=client.status,
                        send_now=lambda: str(client.send_now()))
        unlock(qtbot, w)
        assert capture_one(qtbot, w)
        click(w, "finish")
        qtbot.waitUntil(lambda: dev.unacked() == 0, timeout=60000)   # sent, stored, acked, erased
        assert len(ingest_server.stored_ids()) == 1
        w.close_services()
    finally:
        server.close()
        dev.close()
    out, err = capfd.readouterr()
    lines = all_logs.lines + out.splitlines() + err.splitlines()
    # The search saw the camera, the agent and the server log, and DEBUG lines among them.
    seen = {ln.split(" ")[1].rstrip(":") for ln in all_logs.lines if ln.count(" ") >= 2}
    assert {"hardware.camera.worker", "fieldkit.sync", "fieldkit.server.ingest"} <= seen, seen
    assert any(ln.startswith("DEBUG ") for ln in all_logs.lines)
    assert truth["citizen"]["cic"] in "".join(truth["mrz"])
    assert leaks(lines, values) == []


def test_the_search_finds_a_value_in_any_case() -> None:
    truth = {"citizen": {"nombres": "ANA MUESTRA", "apellido_paterno": "PRUEBA",
                         "apellido_materno": "EJEMPLO", "cic": "000000001",
                         "clave_elector": "MSTRAN00000000M000", "curp": "MUPA000000MDFSRN00",
                         "identificador": "000000002", "ocr": "0000000000002"},
             "mrz": ["IDMEX0000000011<<0000000000002"]}
    values = private_values(truth)
    line = "INFO x: guardado para Prueba"
    assert leaks([line], values) == [("PRUEBA", line)]
    assert leaks(["DEBUG x: acuse a ANA@gmail.com"], values)
    assert leaks(["INFO fieldkit.sync: conectado por mqtt"], values) == []
