"""Self-service end to end, once per transport: a self-service device asks the real server for an
activation (POST /v1/activations over mutual TLS), the code reaches a real SMTP relay on
loopback (aiosmtpd), is typed into the real kiosk window (pytest-qt, replay camera over a
generated MUESTRA card and the synthetic live face), the citizen completes the flow, the real
agent sends the record over MQTT or HTTPS, the server stores it as self-service with a valid
activation, the device erases it, and the acuse reaches the relay."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest

from kiosk.capture.flow import Step
from server_stub.core.config import load_config as load_server_config
from server_stub.core.store_schema import AUX_SELF_SERVICE
from server_stub.dashboard import data as dash
from server_stub.verify import processes, verify
from sync.agent.local_channel import LocalChannelClient, LocalChannelServer, socket_path
from sync.device.config import load_config
from sync.wire.activation import parse_code
from tests.helpers.agent import FAST, make_device
from tests.helpers.citizen import as_self_service
from tests.helpers.server import IngestServer
from tests.helpers.ui import find, replay_camera, replay_folder
from tests.kiosk.test_citizen_gui import capture_to_review, tap, type_code
from tests.server.test_acuse import Inbox, relay, smtp_port  # noqa: F401  (fixtures)

PROCESS, ASPIRANT = "ci-2027-df-0901", "asp-0001"
EMAIL = "ana@gmail.com"
CODE = re.compile(r"\b([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\b")


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("frames")
    return d, replay_folder(d)


def _wait(pred: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _server(factory: Callable[..., IngestServer], smtp: int) -> IngestServer:
    s = factory(start=False)
    s.config_path.write_text(s.config_path.read_text() + (
        f"[acuse]\nmode = \"smtp\"\nsmtp_port = {smtp}\nsender = \"acuses@example.org\"\n"
        "interval_s = 0.1\nretry_min_s = 0.3\nretry_max_s = 1.0\n"))
    s.config = load_server_config(s.config_path)
    processes.define_process(s.store, PROCESS, "diputacion_federal", "Diputación federal 01 (MUESTRA)",
                             0, 2**42)
    processes.add_aspirant(s.store, PROCESS, ASPIRANT, "ASPIRANTE MUESTRA UNO", entidad=9, distrito_federal=1)
    s.start()
    return s


def _in_period_today(text: str) -> str:
    """The example's open processes run in 2027; the activation's 24 hours run from the server's
    real clock, so those processes are moved around today and the device's clock is the real one
    (a process already closed stays closed)."""
    today = dt.date.today()
    blocks = text.split("[[processes]]")
    for i, block in enumerate(blocks[1:], 1):
        end = re.search(r'(?m)^end = "(\d{4}-\d{2}-\d{2})"', block)
        if end and end.group(1) >= "2027-01-01":
            block = re.sub(r'(?m)^start = "[\d-]+"', f'start = "{today - dt.timedelta(days=10)}"', block)
            blocks[i] = re.sub(r'(?m)^end = "[\d-]+"', f'end = "{today + dt.timedelta(days=60)}"', block)
    return "[[processes]]".join(blocks)


def _window(qtbot: Any, cfg_path: Path, camera: Any, client: LocalChannelClient) -> Any:
    from PySide6.QtWidgets import QApplication

    from kiosk.app.services import Services, activation_requester
    from kiosk.app.window import KioskWindow
    from kiosk.capture.save import SaveContext
    from kiosk.ui.theme import Scale, style_sheet

    Scale.set_for(800, 480)
    QApplication.instance().setStyleSheet(style_sheet())  # type: ignore[union-attr]
    cfg = load_config(cfg_path)
    sv = Services(cfg, camera, SaveContext.from_config(cfg), status=client.status,
                  send_now=lambda: str(client.send_now()), now_ms=lambda: int(time.time() * 1000),
                  device_text="Dispositivo de autoservicio", request_activation=activation_requester(cfg))
    w = KioskWindow(sv, "es")
    qtbot.addWidget(w)
    w.resize(800, 480)
    w.show()
    return w


@pytest.fixture
def inbox(relay: Callable[[], Inbox]) -> Inbox:  # noqa: F811
    return relay()


@pytest.mark.parametrize("transport", ["mqtt", "https"])
def test_a_citizen_gives_support_alone_and_it_counts_as_self_service(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path, frames, ingest_server_factory, pki, inbox: Inbox, smtp_port: int,  # noqa: F811
        transport: str) -> None:
    server = _server(ingest_server_factory, smtp_port)
    dev = make_device(tmp_path / "d", server, pki.device(0), transport=transport)
    dev.config_path.write_text(_in_period_today(as_self_service(dev.config_path.read_text())))
    # Provisioned as self-service on the server (tests/server/test_self_service_provisioning.py
    # covers the enrollment that writes this row).
    with server.store.tx() as conn:
        conn.execute(server.store.sql(
            "INSERT INTO fleet_devices (device_id, folio_prefix, auxiliaries, code_id, enrolled_ms, "
            "self_service) VALUES (?, ?, '[]', 'e2e', ?, 1)"), (dev.id, "7KQ2", int(time.time() * 1000)))
    agent = dev.agent(FAST)
    channel = LocalChannelServer(socket_path(dev.settings.outbox_path.parent), agent).start()
    client = LocalChannelClient(channel.path)
    try:
        w = _window(qtbot, dev.config_path, replay_camera(frames[0]), client)
        assert w.flow.step == Step.CITIZEN_START
        # The back shown, the e-mail typed: the real request, the real mail.
        tap(qtbot, w, "request_code")
        qtbot.waitUntil(lambda: w.flow.step == Step.ACT_EMAIL, timeout=40000)
        for ch in "ana":
            tap(qtbot, w, f"kb_{ch}")
        tap(qtbot, w, "kb_@gmail.com")
        tap(qtbot, w, "email_done")
        qtbot.waitUntil(lambda: w.flow.step in (Step.ACT_SENT, Step.REFUSED), timeout=20000)
        assert w.flow.step == Step.ACT_SENT, find(w.screen, "refusal").text()
        assert "a•••@g•••.com" in find(w.screen, "code_sent").text()
        _wait(lambda: inbox.messages)
        mail = inbox.messages[0]
        subject = str(make_header(decode_header(mail["Subject"])))
        assert mail["To"] == EMAIL and subject == "Su código de activación"
        code = parse_code(CODE.search(mail.get_payload(decode=True).decode()).group(1))  # type: ignore[union-attr]
        # The code typed on its own keyboard; the capture; the save.
        tap(qtbot, w, "have_code")
        type_code(qtbot, w, code.display)
        tap(qtbot, w, "code_done")
        assert w.flow.step == Step.CITIZEN_PROCESS
        tap(qtbot, w, f"process_{PROCESS}")
        qtbot.waitUntil(lambda: w.flow.step == Step.FRONT, timeout=10000)
        capture_to_review(qtbot, w)
        tap(qtbot, w, "save")
        qtbot.waitUntil(lambda: w.flow.step == Step.FOLIO, timeout=20000)
        folio = find(w.screen, "folio").text()
        # Sent over the device's transport, acknowledged, erased from the device.
        qtbot.waitUntil(lambda: dev.unacked() == 0, timeout=60000)
        assert len(server.stored_ids()) == 1
        [[aux_status, act_status, aux]] = server.store.query(
            "SELECT auxiliary_status, activation_status, auxiliary_id FROM records")
        assert (aux_status, act_status, aux) == (AUX_SELF_SERVICE, "valida", "")
        verify.Verifier(server.store).run_until_idle()      # what `serve`'s verifier thread does
        assert dash.self_service_counts(server.store, PROCESS)[ASPIRANT][0] == 1
        # The acuse reaches the citizen's address, with the folio the screen showed.
        _wait(lambda: len(inbox.messages) >= 2)
        acuse = inbox.messages[1]
        assert acuse["To"] == EMAIL and folio in str(make_header(decode_header(acuse["Subject"])))
        tap(qtbot, w, "finish")
        assert w.flow.step == Step.CITIZEN_START
        w.close_services()
    finally:
        channel.close()
        dev.close()

