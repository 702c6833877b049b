"""The self-service flow without Qt (kiosk.capture.citizen, kiosk.capture.activations): every
step, the refusals of a typed code, the card that must be the activation's, the processes a
sección is offered, the idle discard, unlimited selfie retries; and "Guardar" of a citizen's
draft into a real outbox."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk.capture.activations import CODE_EXPIRED, CODE_UNKNOWN, CODE_USED, Activations, Pending
from kiosk.capture.citizen import CODE_EXPIRED_AT_SAVE, CitizenFlow, processes_for
from kiosk.capture.flow import NO_LIVENESS, Flow, FlowError, Step
from kiosk.capture.save import SaveContext, SaveError, save_draft
from kiosk.i18n import render
from sync.common.msg import Msg
from sync.device.config import DeviceConfig, load_config
from sync.wire.activation import CAPTURED_BY_CITIZEN, CODE_TTL_MS, new_code, parse_code
from tests.helpers.kiosk import SaveDevice, make_draft, provision

# 2027-01-20, noon in Mexico City: inside the example process's collection period.
NOW_MS = int(datetime(2027, 1, 20, 18, 0, tzinfo=UTC).timestamp() * 1000)
CIC = "261274866"
EMAIL = "ciudadana@example.org"
SELF_SERVICE = """
[self_service]
enabled = true
idle_seconds = 90
warning_seconds = 15
"""
EXTRA = """
[[secciones]]
seccion = 164
entidad = 9
distrito_federal = 1
distrito_local = 1
municipio = 2

[[secciones]]
seccion = 201
entidad = 9
distrito_federal = 2
distrito_local = 3
municipio = 4

[[secciones]]
seccion = 301
entidad = 9
distrito_federal = 3
distrito_local = 5
municipio = 6

[[processes]]
id = "ci-2027-df-0902"
kind = "candidatura_independiente"
name = "Candidatura independiente, diputación federal 02 (MUESTRA)"
aspirant_id = "asp-0002"
aspirant_name = "ASPIRANTE MUESTRA DOS"
start = "2027-01-03"
end = "2027-02-11"
threshold_percent = 2.0
scope = { level = "distrito_federal", entidad = 9, distrito_federal = 2 }

[[processes]]
id = "ci-2026-df-0901"
kind = "candidatura_independiente"
name = "Proceso ya cerrado (MUESTRA)"
aspirant_id = "asp-0003"
aspirant_name = "ASPIRANTE MUESTRA TRES"
start = "2026-01-03"
end = "2026-02-11"
threshold_percent = 2.0
scope = { level = "distrito_federal", entidad = 9, distrito_federal = 1 }
"""


def as_self_service(config_text: str) -> str:
    """A device config made self-service, with three processes: district 01 open, district 02
    open, district 01 closed (and a sección of each district, and one of district 03, which no
    process takes)."""
    if "[self_service]" in config_text:
        text = re.sub(r"(?m)^(\[self_service\]\s*\nenabled\s*=\s*)false", r"\1true", config_text)
        assert text != config_text
    else:
        text = config_text + SELF_SERVICE
    return text + EXTRA


def self_service(root: Path) -> SaveDevice:
    """A provisioned device (keys, outbox key) whose config is self-service."""
    dev = provision(root)
    dev.config_path.write_text(as_self_service(dev.config_path.read_text()))
    return dataclasses.replace(dev, config=load_config(dev.config_path))


@pytest.fixture
def device(tmp_path: Path) -> SaveDevice:
    return self_service(tmp_path / "dev")


@pytest.fixture
def cfg(device: SaveDevice) -> DeviceConfig:
    return device.config


@dataclass
class Fields:
    cic: str = CIC
    seccion: str = "0164"


@dataclass
class Reading:
    """What the flow reads of a back: its fields and model family."""

    fields: Fields = field(default_factory=Fields)
    model: str = "G/H"


@dataclass
class Live:
    verdict: str = "passed"


def flow_for(cfg: DeviceConfig) -> CitizenFlow:
    return CitizenFlow(verify_pin=lambda aux, pin: pin == "9999", config=cfg,
                       idle_seconds=cfg.self_service.idle_seconds,
                       warning_seconds=cfg.self_service.warning_seconds)


def ask_code(f: CitizenFlow, reading: Reading | None = None, email: str = EMAIL) -> str:
    """From the start to the code sent; the server's answer as the device gets it. Returns the
    code the server e-mailed (its ref is what the device keeps)."""
    f.request_code()
    assert f.step == Step.ACT_BACK
    f.activation_back(reading or Reading(), NOW_MS)
    assert f.step == Step.ACT_EMAIL and f.request is not None and f.request.cic == CIC
    assert f.request.seccion == "0164" and f.request.model == ""   # a family is not a letter
    assert not f.activation_email("sin-arroba") and f.step == Step.ACT_EMAIL
    assert f.notice is not None and f.notice.error and f.notice.register == "ciudadano"
    assert f.activation_email(email)
    assert f.step == Step.ACT_SENDING and f.request.email == email
    code = new_code("K7")
    f.activation_requested(code.ref, NOW_MS + CODE_TTL_MS, "c•••@e•••.org", NOW_MS)
    assert f.step == Step.ACT_SENT and f.request is None
    assert f.notice is not None and "c•••@e•••.org" in f.notice.text and "24 horas" in f.notice.text
    return code.display


def to_review(f: CitizenFlow, code: str, process: str = "ci-2027-df-0901") -> None:
    f.have_code()
    assert f.step == Step.CODE_ENTRY
    assert f.enter_code(code.lower(), NOW_MS)            # any case, with its dashes
    assert f.step == Step.CITIZEN_PROCESS
    assert f.choose_process(process)
    d = f.draft
    assert d is not None and f.step == Step.FRONT
    assert (d.auxiliary_id, d.captured_by, d.email) == ("", CAPTURED_BY_CITIZEN, EMAIL)
    assert d.activation == parse_code(code).text and len(d.activation) == 12
    f.front_captured("front", {"face": 1}, "G")
    assert f.step == Step.CARD_PHOTO
    f.confirm_card_photo(True)
    f.back_captured("back", Reading())
    assert f.step == Step.SELFIE
    f.selfie_captured("selfie", Live())
    assert f.signature_done("sig")
    assert f.step == Step.REVIEW                         # no e-mail step: the activation's address


def test_the_whole_citizen_path_to_the_folio_and_back_to_the_start(cfg: DeviceConfig) -> None:
    f = flow_for(cfg)
    assert f.step == Step.CITIZEN_START and f.citizen
    seen: list[Step] = []
    f.listeners.append(seen.append)
    code = ask_code(f)
    f.finish()                                           # "Terminar": the code comes later
    assert f.step == Step.CITIZEN_START
    to_review(f, code)
    assert [p.id for p in f.offered] == ["ci-2027-df-0901"]
    assert not f.save(consent=False) and f.step == Step.REVIEW
    assert f.notice is not None and f.notice.text == render(Msg("capture.no_consent"), "ciudadano")
    assert f.save(consent=True) and f.step == Step.SAVING
    ref = parse_code(code).ref
    assert ref not in f.activations.used                 # used only once saved
    f.saved("T1-00001-X")
    assert f.step == Step.FOLIO and f.draft is None and ref in f.activations.used
    f.finish()
    assert f.step == Step.CITIZEN_START and f.activation is None and f.code_text == ""
    assert seen[:5] == [Step.ACT_BACK, Step.ACT_EMAIL, Step.ACT_SENDING, Step.ACT_SENT, Step.CITIZEN_START]
    assert Step.EMAIL not in seen and Step.HOME not in seen


def test_a_typo_an_unknown_ref_an_expired_and_a_used_code_are_refused(cfg: DeviceConfig) -> None:
    f = flow_for(cfg)
    code = ask_code(f)
    f.have_code()
    # A typo: the check character catches one wrong character; a catalogued message, so it reads
    # in the screen's language.
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert not f.enter_code(wrong, NOW_MS) and f.step == Step.CODE_ENTRY
    assert f.notice is not None and f.notice.error and f.notice.code == "citizen.code_check"
    assert f.notice.text.startswith("El código no es correcto")
    assert isinstance(f.notice.msg, Msg)
    assert render(f.notice.msg, lang="en") == "The code is not right: check each character."
    assert not f.enter_code("K7Q2-M9", NOW_MS)
    assert f.notice is not None and f.notice.code == "citizen.code_length"
    assert "12 caracteres" in f.notice.text
    # Well formed, but its ref was never asked for on this device.
    other = new_code("ZZ").display
    assert not f.enter_code(other, NOW_MS)
    assert f.notice is not None and f.notice.msg == CODE_UNKNOWN
    assert f.notice.text == "Este código no se pidió en este dispositivo."
    # Past its expiry on the server-corrected clock: 24 h and a minute later.
    assert not f.enter_code(code, NOW_MS + CODE_TTL_MS + 60_000)
    assert f.notice is not None and f.notice.msg == CODE_EXPIRED
    assert f.notice.text == "El código venció: pida uno nuevo."
    assert f.step == Step.CODE_ENTRY and f.draft is None
    # Used: a support saved with it.
    assert f.enter_code(code, NOW_MS)
    f.cancel()
    f.activations.mark_used(parse_code(code).ref)
    f.have_code()
    assert not f.enter_code(code, NOW_MS)
    assert f.notice is not None and f.notice.msg == CODE_USED and f.notice.text == "Este código ya se usó."


def test_the_store_forgets_long_expired_and_a_new_answer_takes_its_ref() -> None:
    store = Activations()
    code = new_code("A1")
    store.add(Pending("A1", CIC, "0164", "", EMAIL, NOW_MS + CODE_TTL_MS))
    store.mark_used("A1")
    store.add(Pending("A1", "1234567890", "0101", "", EMAIL, NOW_MS + 2 * CODE_TTL_MS), NOW_MS)
    assert "A1" not in store.used                       # a new activation, not the used one
    assert store.match(code.text, NOW_MS)[1].cic == "1234567890"
    store.add(Pending("B2", CIC, "0164", "", EMAIL, NOW_MS + CODE_TTL_MS),
              NOW_MS + 3 * CODE_TTL_MS + 1)               # a day past A1's expiry: forgotten
    assert set(store.pending) == {"B2"}


def test_the_back_must_be_the_card_the_code_was_asked_for(cfg: DeviceConfig) -> None:
    f = flow_for(cfg)
    code = ask_code(f)
    f.have_code()
    assert f.enter_code(code, NOW_MS)
    assert f.choose_process("ci-2027-df-0901")
    f.front_captured("front", {"face": 1}, "G")
    f.confirm_card_photo(True)
    f.back_captured("back", Reading(Fields(cic="999999999")))
    assert f.step == Step.REFUSED and f.draft is None
    assert f.notice is not None and f.notice.text == "Esta no es la credencial con la que pidió el código."
    assert parse_code(code).ref not in f.activations.used   # nothing saved: the code still works
    f.finish()
    assert f.step == Step.CITIZEN_START


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


def test_the_servers_refusals(cfg: DeviceConfig) -> None:
    f = flow_for(cfg)
    f.request_code()
    f.activation_back(Reading(), NOW_MS)
    assert f.activation_email(EMAIL)
    f.activation_refused(Msg("activation.bad_email"))        # typed again
    assert f.step == Step.ACT_EMAIL and f.notice is not None and f.notice.error
    assert f.activation_email(EMAIL)
    f.activation_refused(Msg("activation.too_many"))
    assert f.step == Step.REFUSED and f.request is None and f.activations.pending == {}
    assert f.notice is not None and f.notice.register == "ciudadano"
    f.finish()
    assert f.step == Step.CITIZEN_START
    # The back could not be read: the same refusals as a capture's back.
    f.request_code()
    f.capture_refused(Msg("card.sin_qr"))
    assert f.step == Step.REFUSED


def test_idle_warns_then_discards_even_after_consent(cfg: DeviceConfig) -> None:
    f = flow_for(cfg)
    code = ask_code(f)
    f.have_code()
    to_review_from_code = f.enter_code(code, NOW_MS) and f.choose_process("ci-2027-df-0901")
    assert to_review_from_code
    f.front_captured("front", {"face": 1}, "G")
    f.confirm_card_photo(True)
    f.back_captured("back", Reading())
    f.selfie_captured("selfie", Live())
    f.signature_done("sig")
    assert f.step == Step.REVIEW
    f.touch(1000.0)                                      # consent ticked, then nobody touches
    assert f.idle_left(1000.0 + 74) is None              # no warning yet
    assert f.idle_left(1000.0 + 75) == 15                # "¿Sigue ahí? … (15 s)"
    assert f.idle_left(1000.0 + 80) == 10
    assert not f.tick(1000.0 + 89)
    f.touch(1000.0 + 89)                                 # a touch: it goes on
    assert f.idle_left(1000.0 + 100) is None and f.step == Step.REVIEW
    assert f.tick(1000.0 + 89 + 90)                      # gone: nothing of this citizen kept
    assert f.step == Step.CITIZEN_START
    kept = (f.draft, f.activation, f.code_text, f.offered, f.request, f.folio)
    assert kept == (None, None, "", [], None, None)
    assert f.idle_left(5000.0) is None and not f.tick(5000.0)    # the start never times out
    # The code was not used: the citizen may come back with it.
    assert parse_code(code).ref not in f.activations.used


def test_no_idle_discard_while_the_device_works(cfg: DeviceConfig) -> None:
    f = flow_for(cfg)
    f.request_code()
    f.activation_back(Reading(), NOW_MS)
    f.touch(0.0)
    assert f.activation_email(EMAIL)
    assert f.step == Step.ACT_SENDING and not f.tick(500.0) and f.idle_left(500.0) is None


def test_selfie_retries_are_unlimited(cfg: DeviceConfig) -> None:
    f = flow_for(cfg)
    code = ask_code(f)
    to_review(f, code)
    for _ in range(40):                                  # no lockout, no retake limit
        f.back_to(Step.SELFIE)
        f.selfie_captured("selfie", Live("failed"))
        assert f.signature_done("sig")
        assert not f.save(consent=True) and f.notice is not None and f.notice.msg == NO_LIVENESS
    f.retake_selfie()
    f.selfie_captured("selfie", Live("passed"))
    assert f.signature_done("sig") and f.save(consent=True)


def test_coordinator_only_and_no_email_step(cfg: DeviceConfig) -> None:
    f = flow_for(cfg)
    with pytest.raises(FlowError):
        f.unlock("aux-0001", "AUXILIAR", "9999", 0.0)    # no auxiliary session on this device
    assert f.unlock("coord-01", "COORDINACIÓN", "9999", 0.0, coordinator=True)
    assert f.step == Step.COORDINATOR
    f.leave_coordinator()
    assert f.step == Step.CITIZEN_START
    code = ask_code(f)
    to_review(f, code)
    with pytest.raises(FlowError):
        f.back_to(Step.EMAIL)
    with pytest.raises(FlowError):
        f.start_capture("ci-2027-df-0901", "asp-0001")
    f.lock()                                             # the coordinator menu's "sign out"
    assert f.step == Step.CITIZEN_START and f.draft is None


def test_a_device_not_self_service_keeps_its_flow() -> None:
    f = Flow(verify_pin=lambda aux, pin: True)
    assert not f.citizen and f.step == Step.LOCKED


def test_a_citizens_draft_saves_with_captured_by_and_the_code(device: SaveDevice, tmp_path: Path) -> None:
    code = new_code("K7")
    with SaveContext.from_config(device.config) as ctx:
        d = make_draft(3)
        d.auxiliary_id, d.captured_by, d.activation = "", CAPTURED_BY_CITIZEN, code.text
        res = save_draft(d, ctx)
        item = ctx.outbox.next_batch(1)[0]
        record = device.open(item.envelope)
        assert item.folio == res.folio == record.folio
        assert (record.auxiliary_id, record.captured_by, record.activation) == ("", "ciudadano", code.text)
        assert record.email == "muestra@example.org"
        # No code, or an auxiliary besides: refused, nothing stored.
        for aux, act in (("", ""), ("aux-0001", code.text)):
            bad = make_draft(3)
            bad.auxiliary_id, bad.captured_by, bad.activation = aux, CAPTURED_BY_CITIZEN, act
            with pytest.raises(SaveError) as e:
                save_draft(bad, ctx)
            assert e.value.msg.code == "save.ids_missing"
        assert ctx.counts().put_total == 1
    # A device that is not self-service refuses a citizen's record.
    plain = provision(tmp_path / "plain")
    with SaveContext.from_config(plain.config) as ctx:
        d = make_draft(3)
        d.auxiliary_id, d.captured_by, d.activation = "", CAPTURED_BY_CITIZEN, code.text
        with pytest.raises(SaveError) as e:
            save_draft(d, ctx)
        assert e.value.msg.code == "save.not_self_service" and ctx.counts().put_total == 0
