"""The capture flow as a small state machine, with no Qt and no I/O.

The UI forwards what the user did and what the workers found (camera,
vision, save) as method calls; the flow answers by moving to a new `Step`
and exposing what the screen should say (`notice`: a message code, rendered by kiosk.i18n). Time is
passed in (`now` in seconds, monotonic) so lockout and idle lock are testable.

    FIRST_RUN                       (no device config: enrollment)
    LOCKED -> HOME -> [CARD_MODEL] -> FRONT -> CARD_PHOTO -> BACK -> SELFIE
           -> SIGNATURE -> EMAIL -> REVIEW -> SAVING -> FOLIO -> HOME
    HOME -> COORDINATOR (coordinator PIN) -> HOME
    cancel() from any capture step -> HOME, the draft dropped from memory
    REFUSED: the capture ended with a reason (no QR, old model, expired...)

A self-service device runs `kiosk.capture.citizen.CitizenFlow` instead: it rests at
CITIZEN_START and adds the activation steps (ACT_*, CODE_ENTRY, CITIZEN_PROCESS) before the same
capture steps.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kiosk.capture.lockouts import LockoutStore, MemoryLockouts
from kiosk.i18n import render
from sync.common.msg import Msg
from sync.wire.record import valid_email


class Step(enum.StrEnum):
    FIRST_RUN = "first_run"
    LOCKED = "locked"
    HOME = "home"
    CARD_MODEL = "card_model"
    FRONT = "front"
    CARD_PHOTO = "card_photo"
    BACK = "back"
    SELFIE = "selfie"
    SIGNATURE = "signature"
    EMAIL = "email"
    REVIEW = "review"
    SAVING = "saving"
    FOLIO = "folio"
    REFUSED = "refused"
    COORDINATOR = "coordinator"
    # Self-service (kiosk.capture.citizen): the start, asking for a code, typing it, the process.
    CITIZEN_START = "citizen_start"
    ACT_BACK = "act_back"
    ACT_EMAIL = "act_email"
    ACT_SENDING = "act_sending"
    ACT_SENT = "act_sent"
    CODE_ENTRY = "code_entry"
    CITIZEN_PROCESS = "citizen_process"


CAPTURE_STEPS = frozenset({Step.CARD_MODEL, Step.FRONT, Step.CARD_PHOTO, Step.BACK, Step.SELFIE,
                           Step.SIGNATURE, Step.EMAIL, Step.REVIEW, Step.REFUSED})


def liveness_outcome(liveness: Any) -> str:
    """"passed", "failed" or "not_done" (no verdict: the challenge never ran or never ended)."""
    verdict = getattr(liveness, "verdict", None)
    return str(verdict) if verdict in ("passed", "failed") else "not_done"


NO_LIVENESS = Msg("capture.no_liveness")


class FlowError(RuntimeError):
    """A call that the current step does not accept (a UI bug, not a user error)."""


@dataclass
class Draft:
    """One citizen's capture, in memory only until "Guardar"."""

    process_id: str
    aspirant_id: str
    auxiliary_id: str
    model: str | None = None
    front: Any = None            # straightened front crop (RGB ndarray)
    front_reading: Any = None    # what vision read on the front (face crop, integrity)
    card_photo_confirmed: bool = False
    back: Any = None             # straightened back crop
    back_reading: Any = None     # vision.credential.BackReading
    back_integrity: Any = None   # vision.integrity.IntegrityResult of `back`, measured at capture
    selfie: Any = None
    selfie_quality: Any = None   # vision's SelfieQuality of `selfie`, measured at capture
    liveness: Any = None         # liveness verdict, or None when not performed
    signature: Any = None        # sync.wire.record.Signature
    email: str | None = None
    consent: bool = False
    retakes: Any = None          # the capture's guided-retake budget (capture.analysis.RetakeBudget)
    captured_by: str = ""        # "ciudadano" on a self-service device (auxiliary_id then "")
    activation: str = ""         # the activation code the citizen typed, normalised


@dataclass
class Notice:
    """Something the screen shows: a message (kiosk.i18n catalogues) and whether it is an error.

    A plain `str` is a text already in the chosen language (a layer that hands up rendered
    text); everything the flow itself says is a `Msg`."""

    msg: Msg | str
    error: bool = False
    register: str = "auxiliar"   # whom it speaks to: "ciudadano" on a self-service device

    @property
    def text(self) -> str:
        return self.msg if isinstance(self.msg, str) else render(self.msg, self.register)

    @property
    def code(self) -> str:
        return "" if isinstance(self.msg, str) else self.msg.code


@dataclass
class Operator:
    auxiliary_id: str
    name: str
    coordinator: bool = False


@dataclass
class Flow:
    """Drive it from the UI; read `step`, `draft`, `notice`, `operator`."""

    citizen: ClassVar[bool] = False              # a self-service flow (kiosk.capture.citizen)
    unlock_from: ClassVar[tuple[Step, ...]] = (Step.LOCKED, Step.HOME)

    verify_pin: Callable[[str, str], bool]          # (auxiliary_id, pin) -> ok
    enrolled: bool = True
    idle_lock_seconds: float = 300.0
    step: Step = Step.LOCKED
    draft: Draft | None = None
    notice: Notice | None = None
    operator: Operator | None = None
    folio: str | None = None
    last_activity: float = 0.0
    lockouts: LockoutStore = field(default_factory=MemoryLockouts)
    _before_coordinator: Step = Step.LOCKED
    listeners: list[Callable[[Step], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.enrolled:
            self.step = Step.FIRST_RUN

    # -- plumbing -------------------------------------------------------
    def _go(self, step: Step, notice: Notice | None = None) -> None:
        self.step = step
        self.notice = notice
        for listener in list(self.listeners):
            listener(step)

    def _expect(self, *steps: Step) -> None:
        if self.step not in steps:
            raise FlowError(f"{self.step} no acepta esta acción (se esperaba {', '.join(steps)})")

    def touch(self, now: float) -> None:
        """Any user input: postpones the idle lock."""
        self.last_activity = now

    # -- lock -----------------------------------------------------------
    def lockout_remaining(self, auxiliary_id: str, now: float) -> float:
        return self.lockouts.remaining(auxiliary_id, now)

    def unlock(self, auxiliary_id: str, name: str, pin: str, now: float, *, coordinator: bool = False
               ) -> bool:
        self._expect(*self.unlock_from)
        remaining = self.lockouts.remaining(auxiliary_id, now)
        if remaining > 0:
            self.notice = Notice(Msg("pin.locked", {"seconds": int(remaining) + 1}), error=True)
            return False
        if not self.verify_pin(auxiliary_id, pin):
            wait, left = self.lockouts.failure(auxiliary_id, now)
            if wait > 0:
                self.notice = Notice(Msg("pin.locked", {"seconds": int(wait)}), error=True)
            else:
                self.notice = Notice(Msg("pin.wrong", n=left), error=True)
            return False
        self.lockouts.success(auxiliary_id)
        self.last_activity = now
        if coordinator:
            # The coordinator menu returns to where it was opened from.
            self._before_coordinator = self.step
            self._go(Step.COORDINATOR)
        else:
            self.operator = Operator(auxiliary_id, name)
            self._go(Step.HOME)
        return True

    def clear_lockout(self, auxiliary_id: str) -> None:
        """Coordinator action: unlock an auxiliary who ran out of attempts."""
        self.lockouts.clear(auxiliary_id)

    def lock(self) -> None:
        """Sign out (or idle): whatever was captured and not saved is dropped."""
        if self.step == Step.FIRST_RUN:
            return
        self.draft = None
        self.operator = None
        self.folio = None
        self._go(Step.LOCKED)

    def tick(self, now: float) -> bool:
        """Called periodically; locks after idle time. True when it locked."""
        if self.step in (Step.LOCKED, Step.FIRST_RUN, Step.SAVING):
            return False
        if now - self.last_activity >= self.idle_lock_seconds:
            self.lock()
            self.notice = Notice(Msg("session.idle"))
            return True
        return False

    def enrolled_now(self) -> None:
        self._expect(Step.FIRST_RUN)
        self.enrolled = True
        self._go(Step.LOCKED, Notice(Msg("device.enrolled")))

    # -- capture ----------------------------------------------------------
    def start_capture(self, process_id: str, aspirant_id: str, *, refusal: Msg | str | None = None) -> bool:
        """`refusal` is the freeze policy's or the period's reason to refuse, if any."""
        self._expect(Step.HOME)
        if refusal:
            self.notice = Notice(refusal, error=True)
            return False
        assert self.operator is not None
        self.draft = Draft(process_id, aspirant_id, self.operator.auxiliary_id)
        self.folio = None
        self._go(Step.FRONT, Notice(Msg("capture.place_front")))
        return True

    def cancel(self) -> None:
        if self.step in CAPTURE_STEPS:
            self.draft = None
            self._go(Step.HOME, Notice(Msg("capture.cancelled")))

    def ask_model(self) -> None:
        """Front capture could not tell the model: show the chooser."""
        self._expect(Step.FRONT)
        self._go(Step.CARD_MODEL, Notice(Msg("capture.choose_model")))

    def choose_model(self, model: str) -> None:
        self._expect(Step.CARD_MODEL)
        assert self.draft is not None
        if model in ("C", "D"):
            self._refuse(Msg("capture.old_model"))
            return
        self.draft.model = model
        self._go(Step.CARD_PHOTO if self.draft.front is not None else Step.FRONT)

    def front_captured(self, crop: Any, reading: Any, model: str | None) -> None:
        self._expect(Step.FRONT, Step.CARD_PHOTO)
        assert self.draft is not None
        self.draft.front, self.draft.front_reading = crop, reading
        self.draft.card_photo_confirmed = False
        if model in ("C", "D"):
            self._refuse(Msg("capture.old_model"))
            return
        if model:
            self.draft.model = model
            self._go(Step.CARD_PHOTO, Notice(Msg("capture.same_person")))
        else:
            self._go(Step.CARD_MODEL, Notice(Msg("capture.choose_model")))

    def confirm_card_photo(self, same_person: bool) -> None:
        self._expect(Step.CARD_PHOTO)
        assert self.draft is not None
        if not same_person:
            self._refuse(Msg("capture.not_same_person"))
            return
        self.draft.card_photo_confirmed = True
        self._go(Step.BACK, Notice(Msg("capture.place_back")))

    def retake_front(self) -> None:
        self._expect(Step.CARD_PHOTO)
        self._go(Step.FRONT)

    def back_captured(self, crop: Any, reading: Any, refusal: Msg | str | None = None,
                      integrity: Any = None) -> None:
        """`refusal`: vision's reason to refuse (no QR, old model) — ends the capture.
        `integrity`: the crop's integrity result if capture measured it (save needs not redo it)."""
        self._expect(Step.BACK)
        assert self.draft is not None
        if refusal:
            self._refuse(refusal)
            return
        self.draft.back, self.draft.back_reading, self.draft.back_integrity = crop, reading, integrity
        self._go(Step.SELFIE, Notice(Msg("capture.selfie")))

    def capture_refused(self, reason: Msg | str) -> None:
        """Vision ended the capture of a card side (no QR, not the original, unreadable…)."""
        self._expect(Step.FRONT, Step.BACK)
        self._refuse(reason)

    def selfie_captured(self, image: Any, liveness: Any, quality: Any = None) -> None:
        self._expect(Step.SELFIE)
        assert self.draft is not None
        self.draft.selfie, self.draft.liveness, self.draft.selfie_quality = image, liveness, quality
        self._go(Step.SIGNATURE, Notice(Msg("capture.sign")))

    def retake_selfie(self) -> None:
        self._expect(Step.SIGNATURE, Step.REVIEW)
        self._go(Step.SELFIE)

    def signature_done(self, signature: Any, problem: Msg | str | None = None) -> bool:
        """`problem`: why the signature is refused (empty, trivial); stays on the pad."""
        self._expect(Step.SIGNATURE)
        assert self.draft is not None
        if problem:
            self.notice = Notice(problem, error=True)
            return False
        self.draft.signature = signature
        self._after_signature()
        return True

    def _after_signature(self) -> None:
        self._go(Step.EMAIL, Notice(Msg("capture.email")))

    def email_done(self, email: str | None) -> bool:
        self._expect(Step.EMAIL)
        assert self.draft is not None
        email = (email or "").strip() or None
        if email is not None and not valid_email(email):
            self.notice = Notice(Msg("capture.email_invalid"), error=True)
            return False
        self.draft.email = email
        self._go(Step.REVIEW, Notice(Msg("capture.review")))
        return True

    def back_to(self, step: Step) -> None:
        """From review, go back to redo one part (keeps the rest of the draft)."""
        self._expect(Step.REVIEW)
        if step not in (Step.FRONT, Step.BACK, Step.SELFIE, Step.SIGNATURE, Step.EMAIL):
            raise FlowError(f"no se puede volver a {step}")
        self._go(step)

    def save(self, consent: bool) -> bool:
        """"Guardar": the UI then runs the save off the UI thread and reports back."""
        self._expect(Step.REVIEW)
        assert self.draft is not None
        if not consent:
            self.notice = Notice(Msg("capture.no_consent"), error=True)
            return False
        missing = tuple(Msg(f"capture.part.{part}") for part, v in (
            ("front", self.draft.front), ("back", self.draft.back), ("selfie", self.draft.selfie),
            ("signature", self.draft.signature)) if v is None)
        if missing:
            self.notice = Notice(Msg("capture.missing", {"parts": missing}), error=True)
            return False
        # A support without a passed liveness check is classed as an inconsistency by the server:
        # it would not count. Refuse plainly here rather than save one that silently does not.
        if liveness_outcome(self.draft.liveness) != "passed":
            self.notice = Notice(NO_LIVENESS, error=True)
            return False
        self.draft.consent = True
        self._go(Step.SAVING, Notice(Msg("capture.saving")))
        return True

    def saved(self, folio: str) -> None:
        self._expect(Step.SAVING)
        self.draft = None  # the plaintext leaves memory once it is sealed
        self.folio = folio
        self._go(Step.FOLIO, Notice(Msg("capture.saved", {"folio": folio})))

    def save_failed(self, reason: Msg | str) -> None:
        """Nothing was stored: back to review with the reason; the draft stays for a retry."""
        self._expect(Step.SAVING)
        self._go(Step.REVIEW, Notice(Msg("capture.save_failed", {"reason": reason}), error=True))

    def finish(self) -> None:
        self._expect(Step.FOLIO, Step.REFUSED)
        self.draft = None
        self._go(Step.HOME)

    def _refuse(self, reason: Msg | str) -> None:
        self.draft = None
        self._go(Step.REFUSED, Notice(reason, error=True))

    # -- coordinator ------------------------------------------------------
    def leave_coordinator(self) -> None:
        self._expect(Step.COORDINATOR)
        back = self._before_coordinator
        self._go(back if back == Step.HOME and self.operator else Step.LOCKED)
