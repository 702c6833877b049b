"""The capture flow without Qt: every transition, lockout, idle lock, cancel."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kiosk.capture.flow import NO_LIVENESS, Flow, FlowError, Step
from kiosk.capture.lockouts import LOCKOUT_SECONDS, MAX_PIN_FAILURES

PINS = {"aux-1": "1234", "coord": "9999"}


def make_flow(**kw) -> Flow:
    return Flow(verify_pin=lambda aux, pin: PINS.get(aux) == pin, **kw)


def unlocked(now: float = 0.0) -> Flow:
    f = make_flow()
    assert f.unlock("aux-1", "Auxiliar Uno", "1234", now)
    return f


@dataclass
class Live:
    """What the flow reads of a liveness state: its verdict."""

    verdict: str = "passed"


def run_to_review(f: Flow, liveness: Live | None = None) -> None:
    assert f.start_capture("proc-1", "asp-1")
    f.front_captured("front", {"face": 1}, "G")
    assert f.step == Step.CARD_PHOTO
    f.confirm_card_photo(True)
    f.back_captured("back", {"qr": 1})
    f.selfie_captured("selfie", liveness or Live())
    assert not f.signature_done(None, problem="La firma está vacía.")
    assert f.step == Step.SIGNATURE and f.notice and f.notice.error
    assert f.signature_done("sig")
    assert not f.email_done("not-an-email")
    assert f.email_done("persona@example.org")
    assert f.step == Step.REVIEW


def test_happy_path_to_folio_and_home() -> None:
    f = unlocked()
    seen: list[Step] = []
    f.listeners.append(seen.append)
    run_to_review(f)
    assert not f.save(consent=False) and f.step == Step.REVIEW
    assert f.save(consent=True) and f.step == Step.SAVING
    assert f.draft is not None and f.draft.consent and f.draft.email == "persona@example.org"
    f.saved("M7-00001-K")
    assert f.step == Step.FOLIO and f.folio == "M7-00001-K" and f.draft is None
    assert "M7-00001-K" in f.notice.text
    f.finish()
    assert f.step == Step.HOME
    assert seen[:3] == [Step.FRONT, Step.CARD_PHOTO, Step.BACK]


def test_save_failure_keeps_the_draft_for_a_retry() -> None:
    f = unlocked()
    run_to_review(f)
    f.save(consent=True)
    f.save_failed("disco lleno")
    assert f.step == Step.REVIEW and f.draft is not None and "disco lleno" in f.notice.text


def test_model_chooser_and_old_models_are_refused() -> None:
    f = unlocked()
    f.start_capture("p", "a")
    f.front_captured("front", None, None)
    assert f.step == Step.CARD_MODEL
    f.choose_model("E")
    assert f.step == Step.CARD_PHOTO and f.draft.model == "E"
    f.cancel()
    f.start_capture("p", "a")
    f.front_captured("front", None, "D")
    assert f.step == Step.REFUSED and f.draft is None
    f.finish()
    assert f.step == Step.HOME


def test_no_qr_back_ends_the_capture_with_ines_message() -> None:
    f = unlocked()
    f.start_capture("p", "a")
    f.front_captured("front", None, "G")
    f.confirm_card_photo(True)
    msg = "Sólo será posible captar las credenciales que cuenten al reverso con código QR"
    f.back_captured("back", None, refusal=msg)
    assert f.step == Step.REFUSED and f.notice.text == msg and f.draft is None


def test_vision_may_end_the_capture_at_either_card_step() -> None:
    # Not the original beyond doubt (integrity policy), at the front as at the back.
    f = unlocked()
    f.start_capture("p", "a")
    f.capture_refused("Lo que se presentó no es la credencial original")
    assert f.step == Step.REFUSED and f.draft is None and f.notice.error
    f.finish()
    f.start_capture("p", "a")
    f.front_captured("front", None, "G")
    f.confirm_card_photo(True)
    f.capture_refused("No se pudo leer el reverso después de varios intentos")
    assert f.step == Step.REFUSED and f.draft is None
    f.finish()
    with pytest.raises(FlowError):
        f.capture_refused("fuera de una captura")


ACTIONS = [lambda f: f.front_captured("x", None, "H"), lambda f: f.confirm_card_photo(True),
           lambda f: f.back_captured("b", None), lambda f: f.selfie_captured("s", None),
           lambda f: f.signature_done("sig"), lambda f: f.email_done("")]


@pytest.mark.parametrize("steps", range(len(ACTIONS) + 1))
def test_cancel_anywhere_drops_the_draft(steps: int) -> None:
    f = unlocked()
    f.start_capture("p", "a")
    for act in ACTIONS[:steps]:
        act(f)
    f.cancel()
    assert f.step == Step.HOME and f.draft is None


def test_pin_lockout_with_countdown_and_doubling() -> None:
    f = make_flow()
    for _ in range(MAX_PIN_FAILURES - 1):
        assert not f.unlock("aux-1", "A", "0000", 10.0)
        assert "intento" in f.notice.text
    assert not f.unlock("aux-1", "A", "0000", 10.0)
    assert f.lockout_remaining("aux-1", 10.0) == LOCKOUT_SECONDS
    # The right PIN is refused during the lockout.
    assert not f.unlock("aux-1", "A", "1234", 20.0) and "Espere" in f.notice.text
    assert f.unlock("aux-1", "A", "1234", 10.0 + LOCKOUT_SECONDS + 1)
    f.lock()
    for _ in range(MAX_PIN_FAILURES):
        f.unlock("aux-1", "A", "0000", 100.0)
    assert f.lockout_remaining("aux-1", 100.0) == 2 * LOCKOUT_SECONDS
    f.clear_lockout("aux-1")
    assert f.unlock("aux-1", "A", "1234", 100.0)


def test_idle_lock_drops_the_capture() -> None:
    f = make_flow(idle_lock_seconds=120)
    f.unlock("aux-1", "A", "1234", 0.0)
    f.start_capture("p", "a")
    f.touch(100.0)
    assert not f.tick(200.0)
    assert f.tick(221.0)
    assert f.step == Step.LOCKED and f.draft is None and f.operator is None


def test_a_refusal_keeps_home() -> None:
    # The reason comes from sync.agent.freeze (tests/kiosk/test_ui_gate.py); the flow only keeps home.
    f = unlocked()
    assert not f.start_capture("p", "a", refusal="Captura detenida: hay 3 apoyos sin enviar (máximo 2).")
    assert f.step == Step.HOME and f.notice.error


def test_first_run_and_coordinator_menu() -> None:
    f = make_flow(enrolled=False)
    assert f.step == Step.FIRST_RUN
    with pytest.raises(FlowError):
        f.unlock("aux-1", "A", "1234", 0.0)
    f.enrolled_now()
    assert f.step == Step.LOCKED
    assert f.unlock("coord", "Coordinación", "9999", 1.0, coordinator=True)
    assert f.step == Step.COORDINATOR
    f.leave_coordinator()
    assert f.step == Step.LOCKED
    f.unlock("aux-1", "A", "1234", 2.0)
    f.unlock("coord", "Coordinación", "9999", 3.0, coordinator=True)
    f.leave_coordinator()
    assert f.step == Step.HOME and f.operator.auxiliary_id == "aux-1"


def test_wrong_step_is_a_flow_error() -> None:
    f = unlocked()
    with pytest.raises(FlowError):
        f.save(consent=True)
    with pytest.raises(FlowError):
        f.saved("X")


@pytest.mark.parametrize("liveness", [Live("failed"), Live("pending"), None])
def test_save_refused_plainly_without_passed_liveness(liveness: Live | None) -> None:
    """A support whose liveness did not pass would be classed an inconsistency by the server: it
    would not count. The flow refuses to save it and says so, and the draft stays for a retake."""
    f = unlocked()
    run_to_review(f)
    assert f.draft is not None
    f.draft.liveness = liveness
    assert not f.save(True)
    assert f.step == Step.REVIEW and f.notice is not None and f.notice.error
    assert f.notice.msg == NO_LIVENESS and "no contaría" in f.notice.text
    f.back_to(Step.SELFIE)
    f.selfie_captured("selfie-2", Live())
    assert f.draft is not None and f.draft.selfie == "selfie-2"
