"""The processes a self-service citizen is offered (kiosk.capture.citizen.processes_for): by the
activation's sección when the device knows it, all the open ones when it does not; and the
code's expiry checked again at "Guardar"."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk.capture.activations import CODE_EXPIRED, Pending
from kiosk.capture.citizen import CODE_EXPIRED_AT_SAVE, processes_for
from kiosk.capture.flow import FlowError, Step
from kiosk.i18n import render
from sync.common.msg import Msg
from sync.device.config import DeviceConfig, load_config
from sync.wire.activation import CODE_TTL_MS, new_code, parse_code
from tests.helpers.citizen import (
    CIC,
    EMAIL,
    NOW_MS,
    SELF_SERVICE,
    Fields,
    Reading,
    ask_code,
    flow_for,
    self_service,
    to_review,
)
from tests.helpers.kiosk import SaveDevice, provision


@pytest.fixture
def device(tmp_path: Path) -> SaveDevice:
    return self_service(tmp_path / "dev")


@pytest.fixture
def cfg(device: SaveDevice) -> DeviceConfig:
    return device.config


def test_only_processes_open_whose_scope_holds_the_seccion_are_offered(cfg: DeviceConfig) -> None:
    # District 01's sección: the open district-01 process only (not district 02, not the closed one).
    assert [p.id for p in processes_for(cfg, "0164", NOW_MS)] == ["ci-2027-df-0901"]
    assert [p.id for p in processes_for(cfg, "0201", NOW_MS)] == ["ci-2027-df-0902"]
    assert processes_for(cfg, "0301", NOW_MS) == []         # district 03: no process takes it
    # Not in the device's table: the server checks the scope, the device offers what is open.
    assert [p.id for p in processes_for(cfg, "0999", NOW_MS)] == ["ci-2027-df-0901", "ci-2027-df-0902"]
    assert processes_for(cfg, "", NOW_MS) == []
    f = flow_for(cfg)
    code = ask_code(f)
    f.have_code()
    assert f.enter_code(code, NOW_MS)
    assert [p.id for p in f.offered] == ["ci-2027-df-0901"]
    with pytest.raises(FlowError):                           # not offered: never started
        f.choose_process("ci-2027-df-0902")
    # Home's gate refusing (a revoked device, the freeze, the period, the disk): the reason shows.
    assert not f.choose_process("ci-2027-df-0901", refusal=Msg("freeze.revoked"))
    assert f.step == Step.CITIZEN_PROCESS and f.notice is not None and f.notice.error
    # Once the process closed, a code for that sección starts nothing.
    f.cancel()
    f.have_code()
    after = int(datetime(2027, 2, 13, 18, 0, tzinfo=UTC).timestamp() * 1000)
    f.activations.add(Pending("Q3", CIC, "0164", "", EMAIL, after + 1000))
    assert not f.enter_code(new_code("Q3").text, after)
    assert f.step == Step.REFUSED and f.notice is not None and f.notice.msg == Msg("citizen.no_process")


def test_a_seccion_no_open_process_takes_is_refused_before_any_code_is_asked(cfg: DeviceConfig) -> None:
    f = flow_for(cfg)
    f.request_code()
    f.activation_back(Reading(Fields(seccion="0301")), NOW_MS)
    assert f.step == Step.REFUSED and f.request is None
    assert f.notice is not None and f.notice.msg == Msg("citizen.no_process")


def no_seccion_table(root: Path) -> DeviceConfig:
    """A self-service device as the server enrolls it: the example's process (district 01 of
    entidad 9) and no [[secciones]] table at all."""
    dev = provision(root)
    text = dev.config_path.read_text()
    dev.config_path.write_text(text[:text.index("[[secciones]]")] + SELF_SERVICE)
    cfg = load_config(dev.config_path)
    assert cfg.secciones == [] and cfg.self_service.enabled
    assert [(p.id, p.scope.level if p.scope else "") for p in cfg.processes] == [
        ("ci-2027-df-0901", "distrito_federal")]
    return cfg


def test_with_no_seccion_table_the_open_processes_are_offered(tmp_path: Path) -> None:
    cfg = no_seccion_table(tmp_path / "dev")
    for seccion in ("0164", "0101", "4321"):                 # any sección: the server checks scope
        assert [p.id for p in processes_for(cfg, seccion, NOW_MS)] == ["ci-2027-df-0901"]
    assert processes_for(cfg, "", NOW_MS) == []             # no sección read: nothing
    # The whole way to the aspirant's choice.
    f = flow_for(cfg)
    code = ask_code(f)
    f.have_code()
    assert f.enter_code(code, NOW_MS) and [p.id for p in f.offered] == ["ci-2027-df-0901"]
    assert f.choose_process("ci-2027-df-0901") and f.step == Step.FRONT


def test_a_table_that_places_the_seccion_in_another_district_leaves_the_process_out(
        cfg: DeviceConfig) -> None:
    district_01 = cfg.process("ci-2027-df-0901")
    assert district_01.scope is not None and district_01.scope.distrito_federal == 1
    assert cfg.seccion_table()[201].distrito_federal == 2
    assert district_01 not in processes_for(cfg, "0201", NOW_MS)
    f = flow_for(cfg)
    f.request_code()
    f.activation_back(Reading(Fields(seccion="0201")), NOW_MS)
    assert f.step == Step.ACT_EMAIL and f.request is not None    # district 02's process takes it
    assert f.activation_email(EMAIL)
    f.activation_requested("M4", NOW_MS + CODE_TTL_MS, "c•••@e•••.org", NOW_MS)
    f.have_code()
    assert f.enter_code(new_code("M4").text, NOW_MS)
    assert [p.id for p in f.offered] == ["ci-2027-df-0902"]
    with pytest.raises(FlowError):
        f.choose_process("ci-2027-df-0901")


def test_a_code_that_expired_during_the_capture_is_refused_at_save(cfg: DeviceConfig) -> None:
    f = flow_for(cfg)
    code = ask_code(f)
    to_review(f, code)
    expires = NOW_MS + CODE_TTL_MS
    assert f.activation is not None and f.activation.expires_ms == expires
    # Saved at the last millisecond of the code's life: the server would count it.
    assert f.save(consent=True, server_ms=expires) and f.step == Step.SAVING
    f.saved("T1-00001-X")
    f.finish()
    # Another code, whose expiry passes while the citizen captures: no folio, the reason instead.
    code = ask_code(f)
    to_review(f, code)
    assert not f.save(consent=True, server_ms=expires + 1)
    assert f.step == Step.REFUSED and f.folio is None and f.draft is None
    assert (f.activation, f.code_text, f.offered) == (None, "", [])
    assert f.notice is not None and f.notice.error and f.notice.msg == CODE_EXPIRED_AT_SAVE
    assert f.notice.text == "Su código venció mientras capturaba: pida uno nuevo."
    assert render(CODE_EXPIRED_AT_SAVE, "ciudadano", "en") == \
        "Your code expired while you were capturing: ask for a new one."
    assert parse_code(code).ref not in f.activations.used    # nothing saved
    f.finish()
    assert f.step == Step.CITIZEN_START
    # Typed again, the code is refused as expired.
    f.have_code()
    assert not f.enter_code(code, expires + 1)
    assert f.notice is not None and f.notice.msg == CODE_EXPIRED
