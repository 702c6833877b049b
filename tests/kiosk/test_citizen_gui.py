"""The self-service kiosk offscreen (pytest-qt): the real window on a self-service config, the
replay camera over a generated MUESTRA card and the synthetic live face, a code asked for and
typed on the code's keyboard, the capture, the idle discard after consent, the folio and the
record in the outbox (captured_by "ciudadano", the code typed). The server's side of the
activation is a small in-process issuer here (tests/server covers the endpoint).

FK_SCREENS=1 writes the citizen's screens to docs/screens/citizen-<screen>-<W>x<H>.png."""

from __future__ import annotations

import dataclasses
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QWidget

from hardware.camera import Camera
from hardware.camera.replay import ReplayBackend
from kiosk.capture.citizen import CitizenFlow
from kiosk.capture.flow import Step
from kiosk.capture.save import SaveContext, read_front
from kiosk.i18n import render
from kiosk.testdata.selfies import make_selfie
from kiosk.testdata.signatures import make_signature
from kiosk.vision.liveness import Challenge, LivenessState, Verdict
from server_stub.deploy import keys as server_keys
from sync.common.msg import Msg
from sync.device.config import load_config
from sync.wire.activation import CODE_TTL_MS, ActivationCode, mask_email, new_code, new_ref, valid_cic
from sync.wire.envelope_open import open_envelope
from sync.wire.record import Record, valid_email
from tests.helpers.citizen import as_self_service
from tests.helpers.kiosk import back_reading, card
from tests.helpers.ui import (
    IN_PERIOD_MS,
    find,
    make_window,
    offline_device,
    replay_camera,
    replay_folder,
    tablet_stroke,
    unlock,
    wave,
)

REPO = Path(__file__).resolve().parents[2]
EMAIL = "ana@gmail.com"


class Refused(Exception):
    """What sync.device.activation raises: the refusal as a message code."""

    def __init__(self, msg: Msg) -> None:
        super().__init__(msg.code)
        self.msg = msg


@dataclass(frozen=True)
class Answer:
    ref: str
    expires_ms: int
    sent_to: str


@dataclass
class Issuer:
    """The server's answer to POST /v1/activations, in process: a code per request, e-mailed
    here (`mailed`), or a refusal."""

    refuse: Msg | None = None
    asked: list[tuple[str, str, str, str]] = field(default_factory=list)
    mailed: list[ActivationCode] = field(default_factory=list)

    def __call__(self, config: Any, cic: str, email: str, seccion: str, model: str, *,
                 timeout_s: float = 15.0) -> Answer:
        self.asked.append((cic, email, seccion, model))
        if self.refuse is not None:
            raise Refused(self.refuse)
        if not valid_cic(cic) or not valid_email(email):
            raise Refused(Msg("activation.bad_request"))
        code = new_code(new_ref({c.ref for c in self.mailed}))
        self.mailed.append(code)
        return Answer(code.ref, IN_PERIOD_MS + CODE_TTL_MS, mask_email(email))


def citizen_device(root: Path) -> Path:
    cfg = offline_device(root)
    cfg.write_text(as_self_service(cfg.read_text()))
    return cfg


def citizen_window(qtbot: Any, root: Path, camera: Camera | None, issuer: Issuer,
                   size: tuple[int, int] = (800, 480)) -> Any:
    w = make_window(qtbot, citizen_device(root / "dev"), camera, size=size)
    w.sv.request_activation = issuer   # the composition root's request_activation, in process
    return w


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("frames")
    return d, replay_folder(d)


class Shooter:
    """Grabs the window at its size (nothing may grow it past the panel); with FK_SCREENS=1 the
    picture goes to docs/screens/citizen-<name>-<W>x<H>.png."""

    def __init__(self, tmp_path: Path, size: tuple[int, int]) -> None:
        self.size = size
        self.out = REPO / "docs" / "screens" if os.environ.get("FK_SCREENS") == "1" else tmp_path
        self.names: list[str] = []

    def __call__(self, w: QWidget, name: str) -> None:
        for _ in range(3):
            QApplication.processEvents()
        img = w.grab()
        assert (img.width(), img.height()) == self.size, f"{name} does not fit {self.size}: {img.size()}"
        from PIL import Image
        from PySide6.QtCore import QBuffer, QIODevice

        buf = QBuffer()
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        img.save(buf, "PNG")
        pic = Image.open(io.BytesIO(bytes(buf.data()))).convert("RGB")
        pic.quantize(256, method=Image.Quantize.MEDIANCUT).save(
            self.out / f"citizen-{name}-{self.size[0]}x{self.size[1]}.png", optimize=True)
        self.names.append(name)


def tap(qtbot: Any, w: Any, name: str) -> None:
    """A press and release on the screen's widget: the window's input filter sees it as a touch."""
    qtbot.mouseClick(find(w.screen, name), Qt.MouseButton.LeftButton)


def texts(w: QWidget) -> str:
    """Everything the window's widgets hold as text (labels, fields, buttons)."""
    parts = [lab.text() for lab in w.findChildren(QLabel)] + [e.text() for e in w.findChildren(QLineEdit)]
    return "\n".join(parts)


def type_code(qtbot: Any, w: Any, code: str) -> None:
    for ch in code.replace("-", ""):
        tap(qtbot, w, f"ck_{ch}")


def ask_code(qtbot: Any, w: Any, issuer: Issuer) -> ActivationCode:
    """From the start: the back read by the camera, the e-mail typed, the code "mailed"."""
    tap(qtbot, w, "request_code")
    assert w.flow.step == Step.ACT_BACK
    qtbot.waitUntil(lambda: w.flow.step == Step.ACT_EMAIL, timeout=40000)
    for ch in "ana":
        tap(qtbot, w, f"kb_{ch}")
    tap(qtbot, w, "kb_@gmail.com")
    tap(qtbot, w, "email_done")
    qtbot.waitUntil(lambda: w.flow.step == Step.ACT_SENT, timeout=10000)
    _front, _back, truth = card(3)
    assert issuer.asked[-1] == (truth["citizen"]["cic"], EMAIL, "0164", "")
    sent = find(w.screen, "code_sent").text()
    assert "a•••@g•••.com" in sent and "24 horas" in sent and "sólo en este dispositivo" in sent
    return issuer.mailed[-1]


def code_to_capture(qtbot: Any, w: Any, code: ActivationCode) -> None:
    """The code typed, the aspirant chosen: the capture starts at the front."""
    assert w.flow.step == Step.CODE_ENTRY
    type_code(qtbot, w, code.display)
    tap(qtbot, w, "code_done")
    assert w.flow.step == Step.CITIZEN_PROCESS
    # Only the open process whose scope holds sección 164 (district 01), not district 02's.
    assert w.screen.findChild(QWidget, "process_ci-2027-df-0902") is None
    tap(qtbot, w, "process_ci-2027-df-0901")
    qtbot.waitUntil(lambda: w.flow.step == Step.FRONT, timeout=10000)


def capture_to_review(qtbot: Any, w: Any, shot: Shooter | None = None) -> None:
    qtbot.waitUntil(lambda: w.flow.step == Step.CARD_PHOTO, timeout=40000)
    assert find(w.screen, "same_person").text() == "Sí, soy yo"
    if shot:
        shot(w, "card-photo")
    tap(qtbot, w, "same_person")
    qtbot.waitUntil(lambda: w.flow.step == Step.SELFIE, timeout=40000)
    if shot:
        qtbot.waitUntil(lambda: w.screen.challenge.text() != "", timeout=10000)
        shot(w, "selfie")
    qtbot.waitUntil(lambda: w.flow.step == Step.SIGNATURE, timeout=30000)
    pad = find(w.screen, "signature_pad")
    tablet_stroke(pad, wave(pad.width(), pad.height()), pressure=0.7)
    if shot:
        shot(w, "signature")
    tap(qtbot, w, "signature_done")
    assert w.flow.step == Step.REVIEW                     # no e-mail step
    assert w.screen.findChild(QWidget, "redo_email") is None
    find(w.screen, "consent_support").setChecked(True)
    find(w.screen, "consent_biometric").setChecked(True)
    assert find(w.screen, "save").isEnabled()


def open_record(root: Path, w: Any) -> Record:
    kdir = root / "dev" / "keys"
    seal = server_keys.load_seal_private(kdir / "server-seal.key")
    sign = serialization.load_pem_private_key((kdir / "device-sign.key").read_bytes(), None)
    pub = sign.public_key()
    ctx = w.sv.save_ctx
    with ctx._lock:
        envelope = ctx.outbox.next_batch(1)[0].envelope
    return open_envelope(envelope, [seal], lambda _d: pub).record  # type: ignore[arg-type]


def test_the_citizen_path_with_an_idle_discard_after_consent(qtbot, tmp_path: Path, frames) -> None:  # type: ignore[no-untyped-def]
    issuer = Issuer()
    w = citizen_window(qtbot, tmp_path, replay_camera(frames[0]), issuer)
    assert isinstance(w.flow, CitizenFlow) and w.flow.step == Step.CITIZEN_START
    code = ask_code(qtbot, w, issuer)
    tap(qtbot, w, "have_code")
    code_to_capture(qtbot, w, code)
    capture_to_review(qtbot, w, Shooter(tmp_path, (800, 480)))
    name = w.capture.citizen_name()
    assert name and name in texts(w)
    # Nobody touches: the warning, then the discard (consent given or not).
    w.flow.last_activity = time.monotonic() - (w.flow.idle_seconds - w.flow.warning_seconds) - 1
    w._tick()
    overlay = find(w, "idle_overlay")
    assert overlay.isVisible()
    assert "¿Sigue ahí? Toque la pantalla para continuar" in find(w, "idle_message").text()
    w.flow.last_activity -= w.flow.idle_seconds
    w._tick()
    assert w.flow.step == Step.CITIZEN_START and not overlay.isVisible()
    assert w.flow.draft is None and w.flow.activation is None and w.flow.code_text == ""
    assert w.capture.analyser is None
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # the review screen, gone
    shown = texts(w)
    for secret in (name, EMAIL, "a•••@g•••.com", code.display, code.text[:4]):
        assert secret not in shown, secret
    assert w.sv.save_ctx.counts().put_total == 0
    # The code was not used: the citizen comes back with it, and this time saves.
    tap(qtbot, w, "have_code")
    code_to_capture(qtbot, w, code)
    capture_to_review(qtbot, w)
    tap(qtbot, w, "save")
    qtbot.waitUntil(lambda: w.flow.step == Step.FOLIO, timeout=20000)
    folio = find(w.screen, "folio").text()
    record = open_record(tmp_path, w)
    assert record.folio == folio
    assert (record.captured_by, record.auxiliary_id, record.activation) == ("ciudadano", "", code.text)
    assert record.email == EMAIL and record.credential.cic == card(3)[2]["citizen"]["cic"]
    assert code.ref in w.flow.activations.used
    tap(qtbot, w, "finish")
    assert w.flow.step == Step.CITIZEN_START
    # Used: typed again, refused.
    tap(qtbot, w, "have_code")
    type_code(qtbot, w, code.text)
    tap(qtbot, w, "code_done")
    assert w.flow.step == Step.CODE_ENTRY
    assert find(w.screen, "notice").text() == "Este código ya se usó."
    w.close_services()


def test_refusals_on_screen_and_the_coordinator(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    issuer = Issuer()
    w = citizen_window(qtbot, tmp_path, None, issuer)
    # A code this device never asked for.
    tap(qtbot, w, "have_code")
    type_code(qtbot, w, new_code("ZZ").text)
    tap(qtbot, w, "code_done")
    assert w.flow.step == Step.CODE_ENTRY
    notice = find(w.screen, "notice")
    assert notice.isVisible() and notice.text() == "Este código no se pidió en este dispositivo."
    tap(qtbot, w, "ck_<")                                     # correcting it: the refusal goes
    assert not notice.isVisible()
    tap(qtbot, w, "cancel")
    assert w.flow.step == Step.CITIZEN_START
    # The server refuses: its message, in the citizen's words, and the way back.
    issuer.refuse = Msg("activation.too_many", {"minutes": 30}, n=30)
    w.flow.request_code()
    w.flow.activation_back(back_reading(3), IN_PERIOD_MS)
    type_into_email(qtbot, w, "ana")
    tap(qtbot, w, "email_done")
    qtbot.waitUntil(lambda: w.flow.step == Step.REFUSED, timeout=10000)
    assert find(w.screen, "refusal").text() == render(issuer.refuse, "ciudadano")
    tap(qtbot, w, "finish")
    assert w.flow.step == Step.CITIZEN_START
    # The coordinator's PIN opens the existing menu; leaving it returns to the start.
    tap(qtbot, w, "coordinator")
    tap(qtbot, w, "aux_coord-01")
    for d in "9999":
        tap(qtbot, w, f"key_{d}")
    tap(qtbot, w, "key_ok")
    qtbot.waitUntil(lambda: w.flow.step == Step.COORDINATOR, timeout=5000)
    tap(qtbot, w, "leave")
    assert w.flow.step == Step.CITIZEN_START and find(w.screen, "request_code").isVisible()
    w.close_services()


def type_into_email(qtbot: Any, w: Any, user: str) -> None:
    for ch in user:
        tap(qtbot, w, f"kb_{ch}")
    tap(qtbot, w, "kb_@gmail.com")


def drive_to_review(w: Any) -> None:
    """The capture's steps given what the camera would have given (the same card, seed 3); an
    auxiliary's flow then asks for the e-mail."""
    front, _back, _truth = card(3)
    reading = back_reading(3)
    w.flow.front_captured(front, read_front(front, "G"), "G")
    w.flow.confirm_card_photo(True)
    w.flow.back_captured(reading.card, reading)
    passed = LivenessState(Verdict.PASSED, "liveness.passed", 1.0, Challenge.BLINK)
    w.flow.selfie_captured(make_selfie(3), passed)
    assert w.flow.signature_done(make_signature(3))


CODE_CHECKED = "El servidor revisará su código y le enviará el acuse por correo."


def code_to_review(qtbot: Any, w: Any, issuer: Issuer) -> ActivationCode:
    """A code asked for (the back as the camera would read it) and typed, the aspirant chosen,
    the capture given, consent ticked: "Guardar" is next."""
    w.flow.request_code()
    w.flow.activation_back(back_reading(3), IN_PERIOD_MS)
    type_into_email(qtbot, w, "ana")
    tap(qtbot, w, "email_done")
    qtbot.waitUntil(lambda: w.flow.step == Step.ACT_SENT, timeout=10000)
    code = issuer.mailed[-1]
    tap(qtbot, w, "have_code")
    code_to_capture(qtbot, w, code)
    drive_to_review(w)
    assert w.flow.step == Step.REVIEW
    find(w.screen, "consent_support").setChecked(True)
    find(w.screen, "consent_biometric").setChecked(True)
    return code


def test_the_folio_says_the_server_checks_the_code_and_an_expired_code_gets_none(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path) -> None:
    issuer = Issuer()
    w = citizen_window(qtbot, tmp_path, None, issuer)
    code_to_review(qtbot, w, issuer)
    tap(qtbot, w, "save")
    qtbot.waitUntil(lambda: w.flow.step == Step.FOLIO, timeout=20000)
    # The device only caught typos: the citizen is told the server checks the code, and where
    # its verdict arrives.
    said = find(w.screen, "code_check")
    assert said.isVisible() and said.text() == CODE_CHECKED
    tap(qtbot, w, "finish")
    # Another code, whose expiry passes during the capture (the server-corrected clock): "Guardar"
    # ends on the reason, with no folio and nothing stored.
    code = code_to_review(qtbot, w, issuer)
    expires = IN_PERIOD_MS + CODE_TTL_MS
    assert w.flow.activation.expires_ms == expires
    w.sv = dataclasses.replace(w.sv, now_ms=lambda: expires + 1)
    tap(qtbot, w, "save")
    assert w.flow.step == Step.REFUSED and w.flow.folio is None and w.flow.draft is None
    assert find(w.screen, "refusal").text() == "Su código venció mientras capturaba: pida uno nuevo."
    assert w.screen.findChild(QWidget, "folio") is None and CODE_CHECKED not in texts(w)
    assert w.sv.save_ctx.counts().put_total == 1 and code.ref not in w.flow.activations.used
    tap(qtbot, w, "finish")
    assert w.flow.step == Step.CITIZEN_START
    w.close_services()


def test_the_auxiliarys_folio_says_nothing_of_a_code(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w: Any = make_window(qtbot, offline_device(tmp_path / "dev"), None)
    unlock(qtbot, w)
    assert w.flow.start_capture("ci-2027-df-0901", "asp-0001")
    drive_to_review(w)
    assert w.flow.email_done(EMAIL) and w.flow.step == Step.REVIEW
    find(w.screen, "consent_support").setChecked(True)
    find(w.screen, "consent_biometric").setChecked(True)
    tap(qtbot, w, "save")
    qtbot.waitUntil(lambda: w.flow.step == Step.FOLIO, timeout=20000)
    assert find(w.screen, "folio").text() == w.flow.folio
    assert w.screen.findChild(QWidget, "code_check") is None
    shown = texts(w)
    assert "Dígale el folio a la persona" in shown and CODE_CHECKED not in shown
    w.close_services()


@pytest.mark.parametrize("size", [(800, 480), (1280, 800)], ids=["800x480", "1280x800"])
def test_citizen_screens_fit(qtbot, tmp_path: Path, frames, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """Each citizen screen at both panel sizes (the flow driven directly, the camera's part
    from the generated card): nothing grows the window, nothing is cut."""
    shot = Shooter(tmp_path, size)
    issuer = Issuer()
    # The front only: the activation's back screen guides ("Voltee…") and never reads by itself.
    w = citizen_window(qtbot, tmp_path, Camera(ReplayBackend(frames[0] / "front", 15, (1280, 720))),
                       issuer, size)
    shot(w, "start")
    tap(qtbot, w, "request_code")
    qtbot.waitUntil(lambda: "Voltee" in w.screen.guide.text(), timeout=20000)
    shot(w, "activation-back")
    w.flow.activation_back(back_reading(3), IN_PERIOD_MS)
    type_into_email(qtbot, w, "ana")
    shot(w, "email")
    tap(qtbot, w, "email_done")
    qtbot.waitUntil(lambda: w.flow.step == Step.ACT_SENT, timeout=10000)
    shot(w, "code-sent")
    code = issuer.mailed[-1]
    tap(qtbot, w, "have_code")
    type_code(qtbot, w, new_code("ZZ").text)
    tap(qtbot, w, "code_done")
    shot(w, "code-refused")
    for _ in range(12):
        tap(qtbot, w, "ck_<")
    type_code(qtbot, w, code.text[:9])
    shot(w, "code-entry")
    type_code(qtbot, w, code.text[9:])
    tap(qtbot, w, "code_done")
    shot(w, "process")
    w.flow.choose_process("ci-2027-df-0901")
    drive_to_review(w)
    assert w.flow.step == Step.REVIEW
    shot(w, "review")
    w.flow.last_activity = time.monotonic() - (w.flow.idle_seconds - w.flow.warning_seconds) - 1
    w._tick()
    shot(w, "idle-warning")
    qtbot.mouseClick(find(w, "idle_overlay"), Qt.MouseButton.LeftButton)   # a touch: it goes on
    assert not find(w, "idle_overlay").isVisible() and w.flow.step == Step.REVIEW
    find(w.screen, "consent_support").setChecked(True)
    find(w.screen, "consent_biometric").setChecked(True)
    tap(qtbot, w, "save")
    qtbot.waitUntil(lambda: w.flow.step == Step.FOLIO, timeout=20000)
    shot(w, "folio")
    tap(qtbot, w, "finish")
    # A card with no QR: the capture's refusal, on the citizen's screen.
    tap(qtbot, w, "request_code")
    w.flow.capture_refused(Msg("card.sin_qr"))
    shot(w, "refused")
    w.close_services()
    assert len(shot.names) == 11



def test_a_device_enrolled_as_self_service_starts_at_dar_mi_apoyo(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Enrollment writes a self-service config: from then on the citizen's flow, no PIN screen."""
    w = make_window(qtbot, None, None)
    assert w.flow.step == Step.FIRST_RUN and w.citizen is None
    cfg = load_config(citizen_device(tmp_path / "dev"))
    w.sv = dataclasses.replace(w.sv, config=cfg, save_ctx=SaveContext.from_config(cfg))
    w.flow.enrolled_now()                     # what EnrollController does once the config loads
    assert isinstance(w.flow, CitizenFlow) and w.flow.step == Step.CITIZEN_START
    assert w.citizen is not None and find(w.screen, "request_code").isVisible()
    assert find(w.screen, "notice").text() == render(Msg("device.enrolled"))
    tap(qtbot, w, "have_code")
    assert w.flow.step == Step.CODE_ENTRY
    w.close_services()
