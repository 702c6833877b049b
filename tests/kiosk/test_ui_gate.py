"""What the kiosk refuses before a capture starts (offscreen Qt, real outbox and config files):
a revoked device, the freeze policy (too much unsent), a process outside its collection
period, judged on the clock the sync agent corrected, and a disk where one more record would
not fit (the free space pinned through `Services.free_disk`, as the clock is through `now_ms`)."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

from kiosk.capture.flow import Step
from kiosk.capture.save import save_draft
from kiosk.capture.warnings import DISK_MARGIN_BYTES, RECORD_DB_BYTES
from kiosk.i18n import render
from server_stub.deploy import keys
from sync.agent.settings import STATE_FILE
from sync.agent.state import AgentState, save_state
from sync.common.msg import Msg
from sync.device.command_exec import REVOKED_TEXT, mark_revoked
from sync.device.config import load_config
from sync.wire.ack import Ack, AckVerifier, sign_ack
from tests.helpers.kiosk import make_draft
from tests.helpers.ui import IN_PERIOD_MS, click, find, make_window, offline_device, unlock

DAY_MS = 86_400_000
PLENTY = 64 * 1024**3
ONE_SHORT = DISK_MARGIN_BYTES + 2 * RECORD_DB_BYTES - 1  # one more record might not fit


def _home(qtbot, cfg_path: Path, now_ms: int = IN_PERIOD_MS, free: int = PLENTY):  # type: ignore[no-untyped-def]
    w = make_window(qtbot, cfg_path, None)
    w.sv = dataclasses.replace(w.sv, now_ms=lambda: now_ms, free_disk=lambda _path: free)
    unlock(qtbot, w)
    w.home.refresh_status()  # after the window's first one: taken with the pinned clock and disk
    qtbot.waitUntil(lambda: not w.home.refreshing and "capture_refusal" in w.home.status_data, timeout=10000)
    w.rebuild()  # home as it looks once the status is in
    return w


def _tap_new(qtbot, w) -> str:  # type: ignore[no-untyped-def]
    w.flow.notice = None
    click(w, "new_support")
    qtbot.waitUntil(lambda: w.flow.step != Step.HOME or w.flow.notice is not None, timeout=10000)
    return w.flow.notice.text if w.flow.notice else ""


def test_revoked_device_says_so_at_home_and_captures_nothing(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg_path = offline_device(tmp_path / "dev")
    mark_revoked(load_config(cfg_path).device.data_dir, "HTTPS 403 device_revoked")  # as the agent does
    w = _home(qtbot, cfg_path)
    assert REVOKED_TEXT in w.screen.warnings_text() and w.screen.banners.isVisible()
    assert REVOKED_TEXT in _tap_new(qtbot, w)
    assert w.flow.step == Step.HOME and w.flow.draft is None
    w.close_services()


def test_freeze_policy_stops_captures_until_the_outbox_drains(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg_path = offline_device(tmp_path / "dev")
    cfg_path.write_text(cfg_path.read_text() + "\n[freeze]\nmax_pending = 2\n")
    w = _home(qtbot, cfg_path)
    assert _tap_new(qtbot, w) and w.flow.step == Step.FRONT  # under the limit: the capture starts
    w.flow.cancel()
    ctx = w.sv.save_ctx
    for seed in (1, 2):
        save_draft(make_draft(seed), ctx)
    w.home.refresh_status()
    qtbot.waitUntil(lambda: "Captura detenida" in w.screen.warnings_text(), timeout=10000)
    why = _tap_new(qtbot, w)
    assert w.flow.notice is not None and w.flow.notice.code == "freeze.pending"
    assert "hay 2 apoyos sin enviar" in why and "Conéctese" in why and w.flow.step == Step.HOME
    # A sync that erases the records lifts it: the server's signed acks, verified and applied.
    cfg = load_config(cfg_path)
    server_sign = keys.load_sign_private(cfg.keys.server_sign_public.with_name("server-sign.key"))
    acks = [sign_ack(Ack(i.record_id, cfg.device.id, i.folio, IN_PERIOD_MS, "recibido", "AC-1",
                         i.envelope_sha256), server_sign) for i in ctx.outbox.next_batch(10)]
    done, refused = ctx.outbox.acknowledge_many(acks, AckVerifier(cfg.device.id, [server_sign.public_key()]))
    assert len(done) == 2 and not refused
    assert _tap_new(qtbot, w) and w.flow.step == Step.FRONT
    w.close_services()


def test_process_outside_its_period_is_not_offered(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg_path = offline_device(tmp_path / "dev")
    end = load_config(cfg_path).processes[0].end
    w = _home(qtbot, cfg_path, now_ms=IN_PERIOD_MS + 60 * DAY_MS)
    assert not w.screen.new_button.isEnabled() and not w.screen._buttons
    assert find(w.screen, "no_process").isVisible()
    assert f"terminó el {end}" in w.screen.warnings_text()
    assert w.home.capture_gate(load_config(cfg_path).processes[0].id) is not None
    w.close_services()


def test_the_agents_measured_offset_corrects_a_wrong_device_clock(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg_path = offline_device(tmp_path / "dev")
    data_dir = load_config(cfg_path).device.data_dir
    wrong = IN_PERIOD_MS - 400 * DAY_MS  # a Pi without RTC booted a year in the past
    save_state(data_dir / STATE_FILE, AgentState(clock_offset_ms=IN_PERIOD_MS - wrong))
    w = _home(qtbot, cfg_path, now_ms=wrong)
    assert w.screen.new_button.isEnabled() and len(w.screen._buttons) == 1
    assert _tap_new(qtbot, w) and w.flow.step == Step.FRONT
    w.close_services()


def test_home_warns_before_the_end_and_in_the_24_h_sending_window(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg_path = offline_device(tmp_path / "dev")
    end = load_config(cfg_path).processes[0].end               # 2027-02-11 in the example
    end_noon = IN_PERIOD_MS + (date.fromisoformat(end) - date(2027, 1, 20)).days * DAY_MS
    w = _home(qtbot, cfg_path, now_ms=end_noon - 2 * DAY_MS)
    assert f"La captación termina el {end} (2 días)." in w.screen.warnings_text()
    assert w.screen.new_button.isEnabled()
    w.close_services()
    w = _home(qtbot, cfg_path, now_ms=end_noon + DAY_MS)      # the day after the end
    text = w.screen.warnings_text()
    # Nothing unsent: the 24 h sending window has nothing to ask ("envíe los 0 apoyos" was a slip).
    assert "Periodo cerrado" not in text and f"terminó el {end}" in text
    assert not w.screen.new_button.isEnabled()
    w.close_services()


def test_a_full_disk_refuses_before_the_capture_starts(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Told at «Nuevo apoyo», with the disk's text, not after the citizen gave everything."""
    cfg_path = offline_device(tmp_path / "dev")
    w = _home(qtbot, cfg_path, free=ONE_SHORT)
    assert render(Msg("warn.disk_full")) in w.screen.warnings_text()
    assert _tap_new(qtbot, w) == render(Msg("capture.disk_full"))
    assert w.flow.notice is not None and w.flow.notice.error
    assert w.flow.step == Step.HOME and w.flow.draft is None
    # One record more fits: the capture starts.
    w.sv = dataclasses.replace(w.sv, free_disk=lambda _path: ONE_SHORT + 1)
    assert _tap_new(qtbot, w) and w.flow.step == Step.FRONT
    w.close_services()


def test_a_revoked_device_with_a_full_disk_is_told_it_is_revoked(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg_path = offline_device(tmp_path / "dev")
    mark_revoked(load_config(cfg_path).device.data_dir, "HTTPS 403 device_revoked")
    w = _home(qtbot, cfg_path, free=0)
    assert _tap_new(qtbot, w) == render(Msg("freeze.revoked"))
    assert w.flow.step == Step.HOME
    w.close_services()
