"""The self-service flow ("modo ciudadano"): the citizen captures their own support, with no Qt.

A device whose config has ``[self_service] enabled = true`` runs this flow instead of the
auxiliary's: no PIN, it rests at "Dar mi apoyo" (CITIZEN_START), and every notice speaks to the
citizen ("usted"). Time is passed in: `now` in monotonic seconds for the idle timeout, `now_ms`
on the server-corrected clock for expiries and collection periods.

    CITIZEN_START -> ACT_BACK -> ACT_EMAIL -> ACT_SENDING -> ACT_SENT      (ask for a code)
    CITIZEN_START | ACT_SENT -> CODE_ENTRY -> CITIZEN_PROCESS -> FRONT -> [CARD_MODEL]
        -> CARD_PHOTO -> BACK (the same card) -> SELFIE -> SIGNATURE -> REVIEW -> SAVING -> FOLIO
    REVIEW -> REFUSED ("Guardar" after the code expired: no folio for a support that won't count)
    CITIZEN_START -> COORDINATOR (coordinator PIN) -> CITIZEN_START
    cancel(), finish(), idle: -> CITIZEN_START, everything of that citizen dropped

The e-mail step of the auxiliary's flow is skipped: the activation's address is the record's
(for the acuse). The record says `captured_by` "ciudadano", `auxiliary_id` "", and carries the
code typed (`activation`); the pending activation is marked used only once saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from kiosk.capture.activations import Activations, CodeRefused, Pending
from kiosk.capture.flow import CAPTURE_STEPS, Draft, Flow, FlowError, Notice, Step
from kiosk.cardread.credential import check_scope
from sync.agent import freeze
from sync.common.msg import Msg
from sync.device.config import DeviceConfig, Process
from sync.wire.activation import CAPTURED_BY_CITIZEN
from sync.wire.record import valid_email

CITIZEN = "ciudadano"  # the register of every text this flow gives
ACTIVATION_STEPS = frozenset({Step.ACT_BACK, Step.ACT_EMAIL, Step.ACT_SENT, Step.CODE_ENTRY,
                              Step.CITIZEN_PROCESS})
# No idle discard while the device itself is busy (a save, the server's answer).
NO_IDLE = frozenset({Step.FIRST_RUN, Step.CITIZEN_START, Step.SAVING, Step.ACT_SENDING})
MODELS = ("E", "F", "G", "H")
CODE_EXPIRED_AT_SAVE = Msg("citizen.code_expired_at_save")
OUT_OF_SCOPE = "fuera_de_ambito"  # check_scope's flag for a sección the table places elsewhere


@dataclass(frozen=True)
class ActivationRequest:
    """What the activation request sends: the card's back as read, and the e-mail."""

    cic: str
    seccion: str
    model: str
    email: str = ""


def processes_for(cfg: DeviceConfig | None, seccion: str, server_ms: int) -> list[Process]:
    """The processes a citizen of `seccion` may support now: in their collection period (home's
    rule, `sync.agent.freeze.in_period`) and not placed outside their scope by the device's
    sección table (`kiosk.cardread.credential.check_scope`). A sección the table does not know,
    or no table at all (a device enrolled through the server gets none), keeps the process: the
    server checks the scope of every record, so only a known sección out of scope is left out."""
    if cfg is None:
        return []
    try:
        number = int(seccion)
    except ValueError:
        return []
    table = cfg.seccion_table()
    return [p for p in cfg.processes
            if freeze.in_period(p, server_ms) and check_scope(number, table, p.scope) != OUT_OF_SCOPE]


def _model(reading: Any) -> str:
    model = str(getattr(reading, "model", "") or "")
    return model if model in MODELS else ""


@dataclass
class CitizenFlow(Flow):
    """The flow of a self-service device; read `request`, `activation`, `offered` besides."""

    citizen: ClassVar[bool] = True
    unlock_from: ClassVar[tuple[Step, ...]] = (Step.CITIZEN_START,)

    config: DeviceConfig | None = None
    idle_seconds: float = 90.0
    warning_seconds: float = 15.0
    activations: Activations = field(default_factory=Activations)
    request: ActivationRequest | None = None  # the card read and the e-mail, until the answer
    activation: Pending | None = None         # the activation whose code this citizen typed
    code_text: str = ""                       # that code, normalised (the record's `activation`)
    offered: list[Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.enrolled:
            self.step = Step.CITIZEN_START

    def __setattr__(self, name: str, value: Any) -> None:
        # Every notice this flow gives, the base flow's included, speaks to the citizen.
        if name == "notice" and isinstance(value, Notice):
            value.register = CITIZEN
        super().__setattr__(name, value)

    # -- the start, idle, the coordinator -------------------------------------------------------
    def _to_start(self, notice: Notice | None = None) -> None:
        """Back to "Dar mi apoyo" with nothing of the last citizen kept (but the pending
        activations, which belong to the device until used or expired)."""
        self.draft = None
        self.folio = None
        self.operator = None
        self.request = None
        self.activation = None
        self.code_text = ""
        self.offered = []
        self._go(Step.CITIZEN_START, notice)

    def lock(self) -> None:
        if self.step != Step.FIRST_RUN:
            self._to_start()

    def idle_left(self, now: float) -> float | None:
        """Seconds left before the idle discard, while the warning shows; None otherwise."""
        if self.step in NO_IDLE:
            return None
        left = self.idle_seconds - (now - self.last_activity)
        return max(0.0, left) if left <= self.warning_seconds else None

    def tick(self, now: float) -> bool:
        """Idle for `idle_seconds`: the citizen's capture (consent given or not) is discarded."""
        if self.step in NO_IDLE or now - self.last_activity < self.idle_seconds:
            return False
        self._to_start()
        return True

    def unlock(self, auxiliary_id: str, name: str, pin: str, now: float, *, coordinator: bool = False
               ) -> bool:
        if not coordinator:
            raise FlowError("un dispositivo de autoservicio no abre sesión de auxiliar")
        return super().unlock(auxiliary_id, name, pin, now, coordinator=True)

    def leave_coordinator(self) -> None:
        self._expect(Step.COORDINATOR)
        self._to_start()

    # -- asking for a code ------------------------------------------------------------------------
    def request_code(self, now: float | None = None) -> None:
        """`now`: leaving the start is activity (the idle timeout counts from here)."""
        self._expect(Step.CITIZEN_START)
        if now is not None:
            self.touch(now)
        self._go(Step.ACT_BACK, Notice(Msg("citizen.show_back")))

    def activation_back(self, reading: Any, server_ms: int) -> None:
        """The back was read (QR and MRZ, the same refusals as a capture's back)."""
        self._expect(Step.ACT_BACK)
        fields = getattr(reading, "fields", None)
        if fields is None:
            self._refuse(Msg("save.back_data"))
            return
        seccion = str(fields.seccion)
        # A code for a sección no process open now takes would only be refused later.
        if not processes_for(self.config, seccion, server_ms):
            self._refuse(Msg("citizen.no_process"))
            return
        self.request = ActivationRequest(str(fields.cic), seccion, _model(reading))
        self._go(Step.ACT_EMAIL, Notice(Msg("citizen.email")))

    def capture_refused(self, reason: Msg | str) -> None:
        self._expect(Step.FRONT, Step.BACK, Step.ACT_BACK)
        self._refuse(reason)

    def activation_email(self, email: str) -> bool:
        """The e-mail typed: valid, the request goes (the window sends `request` on a worker)."""
        self._expect(Step.ACT_EMAIL)
        assert self.request is not None
        email = (email or "").strip()
        if not valid_email(email):
            self.notice = Notice(Msg("citizen.email_invalid"), error=True)
            return False
        self.request = ActivationRequest(self.request.cic, self.request.seccion, self.request.model, email)
        self._go(Step.ACT_SENDING, Notice(Msg("citizen.sending")))
        return True

    def activation_requested(self, ref: str, expires_ms: int, sent_to: str, server_ms: int | None = None
                             ) -> None:
        """The server e-mailed a code: kept in memory by its ref."""
        self._expect(Step.ACT_SENDING)
        req = self.request
        assert req is not None
        self.activations.add(Pending(ref, req.cic, req.seccion, req.model, req.email, expires_ms,
                                     sent_to), server_ms)
        self.request = None
        self._go(Step.ACT_SENT, Notice(Msg("citizen.code_sent", {"to": sent_to})))

    def activation_refused(self, msg: Msg | str) -> None:
        """The request was refused (`activation.*`): an address the server refuses is typed
        again; anything else ends the request with its reason."""
        self._expect(Step.ACT_SENDING)
        if isinstance(msg, Msg) and msg.code in ("activation.bad_email", "citizen.email_invalid"):
            self._go(Step.ACT_EMAIL, Notice(msg, error=True))
            return
        self.request = None
        self._refuse(msg)

    # -- typing the code --------------------------------------------------------------------------
    def have_code(self, now: float | None = None) -> None:
        self._expect(Step.CITIZEN_START, Step.ACT_SENT)
        if now is not None:
            self.touch(now)
        self._go(Step.CODE_ENTRY, Notice(Msg("citizen.type_code")))

    def enter_code(self, typed: str, server_ms: int) -> bool:
        """The code typed: a typo, a code not asked for here, expired or used stays on the screen
        with its reason; else the processes this citizen's sección may support now."""
        self._expect(Step.CODE_ENTRY)
        try:
            code, pending = self.activations.match(typed, server_ms)
        except CodeRefused as e:
            self.notice = Notice(e.msg, error=True)
            return False
        offered = processes_for(self.config, pending.seccion, server_ms)
        if not offered:
            self._refuse(Msg("citizen.no_process"))
            return False
        self.activation, self.code_text, self.offered = pending, code.text, offered
        self._go(Step.CITIZEN_PROCESS, Notice(Msg("citizen.choose_process")))
        return True

    def choose_process(self, process_id: str, *, refusal: Msg | str | None = None) -> bool:
        """`refusal`: the device's reason not to capture now (home's gate: revoked, freeze,
        period or clock, disk), if any."""
        self._expect(Step.CITIZEN_PROCESS)
        p = next((p for p in self.offered if p.id == process_id), None)
        if p is None:
            raise FlowError(f"el proceso {process_id} no se ofrece a esta sección")
        if refusal:
            self.notice = Notice(refusal, error=True)
            return False
        assert self.activation is not None
        self.draft = Draft(p.id, p.aspirant_id, "", email=self.activation.email,
                           captured_by=CAPTURED_BY_CITIZEN, activation=self.code_text)
        self.folio = None
        self._go(Step.FRONT, Notice(Msg("capture.place_front")))
        return True

    # -- the capture: the base flow's, with the citizen's differences ------------------------------
    def start_capture(self, process_id: str, aspirant_id: str, *, refusal: Msg | str | None = None) -> bool:
        raise FlowError("en autoservicio la captura empieza con el código de activación")

    def back_captured(self, crop: Any, reading: Any, refusal: Msg | str | None = None,
                      integrity: Any = None) -> None:
        """The back must be the card the code was asked for."""
        self._expect(Step.BACK)
        fields = getattr(reading, "fields", None)
        if not refusal and self.activation is not None and fields is not None \
                and str(fields.cic) != self.activation.cic:
            self._refuse(Msg("citizen.other_card"))
            return
        super().back_captured(crop, reading, refusal, integrity)

    def _after_signature(self) -> None:
        """No e-mail step: the activation's address is the record's."""
        self._go(Step.REVIEW, Notice(Msg("capture.review")))

    def email_done(self, email: str | None) -> bool:
        raise FlowError("en autoservicio el correo es el de la activación")

    def back_to(self, step: Step) -> None:
        if step == Step.EMAIL:
            raise FlowError("en autoservicio el correo es el de la activación")
        super().back_to(step)

    def save(self, consent: bool, server_ms: int | None = None) -> bool:
        """"Guardar", with the code's expiry checked again on the server-corrected clock
        (`server_ms`): the server would judge a support captured after it `caducada` and not count
        it, so the capture ends here with the reason rather than with a folio."""
        self._expect(Step.REVIEW)
        if server_ms is not None and self.activation is not None and server_ms > self.activation.expires_ms:
            self.activation, self.code_text, self.offered = None, "", []
            self._refuse(CODE_EXPIRED_AT_SAVE)
            return False
        return super().save(consent)

    def saved(self, folio: str) -> None:
        super().saved(folio)
        if self.activation is not None:
            self.activations.mark_used(self.activation.ref)
        self.activation, self.code_text, self.offered = None, "", []

    def cancel(self) -> None:
        if self.step in CAPTURE_STEPS or self.step in ACTIVATION_STEPS:
            self._to_start(Notice(Msg("capture.cancelled")))

    def finish(self) -> None:
        self._expect(Step.FOLIO, Step.REFUSED, Step.ACT_SENT)
        self._to_start()
