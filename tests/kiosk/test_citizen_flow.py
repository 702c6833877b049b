"""The self-service flow without Qt (kiosk.capture.citizen, kiosk.capture.activations): every
step, the refusals of a typed code, the card that must be the activation's, the processes a
sección is offered, the idle discard, unlimited selfie retries; and "Guardar" of a citizen's
draft into a real outbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.capture.activations import CODE_EXPIRED, CODE_UNKNOWN, CODE_USED, Activations, Pending
from kiosk.capture.flow import NO_LIVENESS, Flow, FlowError, Step
from kiosk.capture.save import SaveContext, SaveError, save_draft
from kiosk.i18n import render
from sync.common.msg import Msg
from sync.device.config import DeviceConfig
from sync.wire.activation import CAPTURED_BY_CITIZEN, CODE_TTL_MS, new_code, parse_code
from tests.helpers.citizen import (
    CIC,
    EMAIL,
    NOW_MS,
    Fields,
    Live,
    Reading,
    ask_code,
    flow_for,
    self_service,
    to_review,
)
from tests.helpers.kiosk import SaveDevice, make_draft, provision


@pytest.fixture
def device(tmp_path: Path) -> SaveDevice:
    return self_service(tmp_path / "dev")


@pytest.fixture
def cfg(device: SaveDevice) -> DeviceConfig:
    return device.config


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
