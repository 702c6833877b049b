"""Kiosk UI end to end, offscreen: unlock, capture from the replay camera over generated card
frames, sign with tablet events, save; then the synced variant with the real agent and server."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.capture.flow import Step
from kiosk.capture.signature import EMPTY
from kiosk.i18n import render
from kiosk.vision.integrity import check_integrity
from kiosk.vision.liveness import assess_selfie
from tests.helpers.ui import (
    click,
    find,
    make_window,
    offline_device,
    replay_camera,
    replay_folder,
    tablet_stroke,
    through_front,
    unlock,
    wave,
)


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("frames")
    truth = replay_folder(d)
    return d, truth


def capture_one(qtbot, w) -> str:  # type: ignore[no-untyped-def]
    """From home to the folio screen; returns the folio shown."""
    through_front(qtbot, w)
    qtbot.waitUntil(lambda: w.flow.step == Step.SELFIE, timeout=40000)
    # The replay plays the synthetic live face doing what the challenge asks: liveness passes
    # and the selfie takes itself; before that the shutter takes nothing.
    assert not find(w.screen, "shutter").isEnabled()
    qtbot.waitUntil(lambda: w.flow.step == Step.SIGNATURE, timeout=30000)
    d = w.flow.draft
    assert d is not None and str(d.liveness.verdict) == "passed"
    # What save would otherwise redo was measured on the worker thread, on the very images kept.
    assert d.back_integrity == check_integrity(d.back) and d.selfie_quality == assess_selfie(d.selfie)
    # An empty signature is refused and the pad stays.
    click(w, "signature_done")
    assert w.flow.step == Step.SIGNATURE
    assert find(w.screen, "notice").text() == render(EMPTY)
    pad = find(w.screen, "signature_pad")
    tablet_stroke(pad, wave(pad.width(), pad.height()), pressure=0.7)
    tablet_stroke(pad, wave(pad.width(), pad.height(), n=20, x0=0.2, x1=0.6), pressure=0.4)
    assert pad.signature().has_pressure
    click(w, "signature_done")
    assert w.flow.step == Step.EMAIL
    for ch in "ana":
        click(w, f"kb_{ch}")
    click(w, "kb_@gmail.com")
    click(w, "email_done")
    assert w.flow.step == Step.REVIEW
    click(w, "save")                                # no consent yet: refused
    assert w.flow.step == Step.REVIEW
    find(w.screen, "consent_support").setChecked(True)
    find(w.screen, "consent_biometric").setChecked(True)
    click(w, "save")
    qtbot.waitUntil(lambda: w.flow.step == Step.FOLIO, timeout=20000)
    return find(w.screen, "folio").text()


def test_capture_save_folio_matches_outbox(qtbot, tmp_path: Path, frames) -> None:  # type: ignore[no-untyped-def]
    cfg = offline_device(tmp_path / "dev")
    w = make_window(qtbot, cfg, replay_camera(frames[0]))
    unlock(qtbot, w)
    assert w.sv.save_ctx is not None and w.sv.save_ctx.counts().put_total == 0
    folio = capture_one(qtbot, w)
    ctx = w.sv.save_ctx
    assert ctx.counts().pending == 1
    with ctx._lock:
        row = ctx.outbox._conn.execute("SELECT folio FROM outbox").fetchone()
    assert row[0] == folio == w.flow.folio
    assert w.flow.draft is None                     # plaintext dropped once sealed
    click(w, "finish")
    assert w.flow.step == Step.HOME
    w.close_services()


def test_record_arrives_at_server_and_home_counts_follow(qtbot, tmp_path: Path, frames, ingest_server,  # type: ignore[no-untyped-def]
                                                         pki) -> None:
    from sync.agent.local_channel import LocalChannelClient, LocalChannelServer, socket_path
    from tests.helpers.agent import FAST, make_device

    dev = make_device(tmp_path / "d", ingest_server, pki.device(0), transport="https")
    agent = dev.agent(FAST)
    server = LocalChannelServer(socket_path(dev.settings.outbox_path.parent), agent).start()
    client = LocalChannelClient(server.path)
    try:
        w = make_window(qtbot, dev.config_path, replay_camera(frames[0]), status=client.status,
                        send_now=lambda: str(client.send_now()))
        w.status_timer.setInterval(300)
        unlock(qtbot, w)
        folio = capture_one(qtbot, w)
        assert folio
        # The folio screen tells the truth about sending: sent once the server acknowledged it.
        # The wait may outlast the screen's own 30 s return home: that timer is stopped here.
        w.capture.folio_timer.stop()
        sending = find(w.screen, "sending")
        qtbot.waitUntil(lambda: sending.property("state") == "sent", timeout=60000)
        assert "Enviado al servidor" in sending.text()
        click(w, "finish")
        # The agent sends it, the server acks, the device erases; home shows it.
        qtbot.waitUntil(lambda: dev.unacked() == 0, timeout=60000)
        assert len(ingest_server.stored_ids()) == 1
        qtbot.waitUntil(lambda: w.home.status_data.get("pending") == 0
                        and w.home.status_data.get("sent_today") == 1, timeout=20000)
        status = find(w.screen, "status_pending").text()
        assert status.endswith(": 0")
        assert find(w.screen, "status_sent").text().endswith(": 1")
        assert "En línea" in find(w.screen, "status_conn").text()
        w.close_services()
    finally:
        server.close()
        dev.close()
