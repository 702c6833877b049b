"""Every kiosk screen in each of its states, as (name, builder): one registry that the touch
geometry test and the screenshot gallery both walk.

A builder returns a screen built from `kiosk.ui` classes with synthetic data (no window, no
camera, no flow) in the state named, the flow's notice included as the window would show it.
Build it after `Scale.set_for(...)` and the style sheet are set, as `kiosk.app.start` does:
sizes are taken at construction. What happens to a screen once it is up (a notice or an error
appears, a signature is drawn at the pad's real size) is left on a zero timer with
`_after_layout`, and `host` runs it on the shown window: an error that appears on a laid-out
screen is what grew the window past the panel, where one set before showing did not.

Adding a state is one line in STATES: `("name", lambda: ...)`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import cache
from typing import TypeVar

import cv2
import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QStackedWidget, QVBoxLayout, QWidget

from hardware.camera.errors import MESSAGES as CAMERA_MESSAGES
from kiosk.app.card_pictures import card_pictures
from kiosk.app.screens import status_texts
from kiosk.capture.selfie import RETRY, UNAVAILABLE
from kiosk.capture.warnings import HomeWarning
from kiosk.i18n import render
from kiosk.testdata import variants as V
from kiosk.testdata.cards import sample_card
from kiosk.testdata.selfies import make_selfie
from kiosk.testdata.signatures import make_signature
from kiosk.ui.capture import CaptureScreen
from kiosk.ui.cards import CardModelScreen, CardPhotoScreen
from kiosk.ui.coordinator import CoordinatorScreen
from kiosk.ui.done import BusyScreen, FolioScreen, RefusedScreen
from kiosk.ui.failure import FailureScreen
from kiosk.ui.first_run import FirstRunScreen
from kiosk.ui.home import HomeScreen
from kiosk.ui.lock import LockScreen
from kiosk.ui.review import ReviewData, ReviewScreen
from kiosk.ui.sign import EmailScreen, SignatureScreen
from kiosk.ui.theme import Scale, style_sheet
from sync.agent.freeze import SOFTWARE_DATE_MS, judge_clock, span
from sync.common.msg import Msg
from sync.device.enroll import MESSAGES as ENROLL_MESSAGES
from sync.wire.imaging import render_signature

Builder = Callable[[], QWidget]
W = TypeVar("W", bound=QWidget)

DEVICE = render(Msg("diag.device", {"id": "fk-muestra-0001"}))
SERVER = "https://enrolamiento.apoyo-ciudadano.example.mx:8443/v1"
PROCESS = ("ci-2027-df-0901", "Candidatura independiente, diputación federal 01 (MUESTRA)",
           "ASPIRANTE MUESTRA UNO")
AUXILIARIES = [("aux-01", "ANA MUESTRA"), ("aux-02", "LUIS EJEMPLO"), ("aux-03", "SOFÍA PRUEBA")]


# -- synthetic material (cached: the same arrays for every state and size) ----------------------
@cache
def _card() -> tuple[np.ndarray, np.ndarray, dict]:
    return sample_card(3)


@cache
def _camera_frame(side: str) -> tuple[np.ndarray, np.ndarray]:
    """A 1280x720 camera frame of the card's `side` and the card's corners in it."""
    front, back, _truth = _card()
    seed = 3 if side == "front" else 4
    v = V.photograph(front if side == "front" else back, side, "genuine", side,
                     random.Random(seed), np.random.default_rng(seed), [])
    return v.image, np.asarray(v.corners, np.float32)


@cache
def _selfie() -> np.ndarray:
    return make_selfie(1, size=(1280, 720))


@cache
def _signature_image() -> np.ndarray:
    png = render_signature(make_signature(5))
    g = cv2.imdecode(np.frombuffer(png.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert g is not None  # our own PNG
    return cv2.cvtColor(g, cv2.COLOR_GRAY2RGB)


def _citizen() -> str:
    c = _card()[2]["citizen"]
    return f"{c['nombres']} {c['apellido_paterno']} {c['apellido_materno']}"


def _after_layout(screen: W, fn: Callable[[W], object]) -> W:
    QTimer.singleShot(0, screen, lambda: fn(screen))
    return screen


def _noticed(screen: W, text: str | Msg, error: bool = False) -> W:
    """The flow's notice on the shown `screen`, as KioskWindow.show_notice puts it there."""
    shown = render(text) if isinstance(text, Msg) else text
    return _after_layout(screen, lambda s: s.notice.show_text(shown, error))  # type: ignore[attr-defined]


# -- first run ----------------------------------------------------------------------------------
def _first_run(code: str = "", server: str = "", notice: str = "", error: bool = False) -> FirstRunScreen:
    s = FirstRunScreen(DEVICE, True)
    if code or server:
        s.focus_buttons["focus_server"].click()
        s.server.setText(server)
        s.focus_buttons["focus_code"].click()     # typing the server ended: its start shows
        s.code.setText(code)
    return _noticed(s, notice, error) if notice else s


def _first_run_busy() -> FirstRunScreen:
    def busy(s: FirstRunScreen) -> None:
        s.set_busy(True)
        s.set_progress(render(Msg("enroll.step.connect")), 0.4)

    return _after_layout(_first_run("7KQ2-M9XB-T4RP-3HDA-8WNC", SERVER), busy)


def _first_run_scanning() -> FirstRunScreen:
    def scanning(s: FirstRunScreen) -> None:
        s.set_scanning(True)
        s.show_frame(_camera_frame("back")[0])

    return _after_layout(_first_run(notice="Muestre a la cámara el QR de inscripción del coordinador."),
                         scanning)


def _not_enrollable() -> FirstRunScreen:
    return FirstRunScreen(DEVICE, False)


# -- lock and home ------------------------------------------------------------------------------
def _lock(notice: str | Msg = "", lockout: float = 0.0) -> LockScreen:
    s = LockScreen(AUXILIARIES)
    s.select(*AUXILIARIES[0])
    if notice:
        _noticed(s, notice, True)
    if lockout:
        _after_layout(s, lambda s: s.set_lockout(lockout))
    return s


def _coordinator_pin(people: list[tuple[str, str]]) -> LockScreen:
    s = LockScreen(people, "PIN del coordinador")
    s.coord_button.setText("Volver")
    if not people:
        _noticed(s, "Este dispositivo no tiene coordinador configurado.", True)
    return s


WARNINGS = (  # as kiosk.capture.warnings and sync.agent.freeze produce them
    HomeWarning("disk_low", Msg("warn.disk_low", n=12), "error"),
    HomeWarning("unsent_old", Msg("warn.unsent_old", {"since": span(2 * 86_400_000)})),
    HomeWarning("battery_low", Msg("warn.battery_low", {"percent": "14 %"})),
    HomeWarning("clock_offset", judge_clock(SOFTWARE_DATE_MS + 10**10, 3 * 3_600_000).msg),  # type: ignore[union-attr]
)


def _home(processes: int = 1, warnings: tuple[str | HomeWarning, ...] = (), notice: str = "") -> HomeScreen:
    procs = [(f"{PROCESS[0]}-{i}", PROCESS[1] if i == 0 else f"Proceso de ejemplo {i + 1} (MUESTRA)",
              PROCESS[2]) for i in range(processes)]
    s = HomeScreen("ANA MUESTRA", procs)
    # As the window turns the agent's status into the bar's texts (in the chosen language).
    s.status.set_status(status_texts({"pending": 3, "sent_today": 12, "connection": "online",
                                      "transport": "mqtt", "battery": 64.0, "on_ac": False,
                                      "last_success_age_s": 21 * 60}, 20.0))
    s.set_warnings(list(warnings))
    return _noticed(s, notice) if notice else s


# -- capture --------------------------------------------------------------------------------------
def _capture(kind: str, guidance: str, good: bool = False, camera_error: str = "") -> CaptureScreen:
    s = CaptureScreen(kind)
    if kind == "selfie":
        s.show_frame(_selfie())
        s.set_guidance(guidance, None, good)
        s.set_challenge(render(Msg("liveness.turn_left"), register="ciudadano"))
    else:
        frame, quad = _camera_frame(kind)
        s.show_frame(frame)
        s.set_guidance(guidance, quad, good)
    if camera_error:
        _after_layout(s, lambda s: s.set_camera_error(CAMERA_MESSAGES[camera_error]))
    return s


def _selfie_liveness(state: str) -> CaptureScreen:
    """The selfie step once the liveness check has a verdict (timed out, or no models here)."""
    text = {"failed": Msg("liveness.failed_retry", {"reason": Msg("liveness.timeout"), "retry": RETRY}),
            "unavailable": UNAVAILABLE}[state]
    s = _capture("selfie", text)
    s.set_liveness_state(state)
    return s


def _folio(state: str) -> FolioScreen:
    s = FolioScreen("7Q4K-2MXB")
    s.set_sending(state)
    return s


def _failure(kind: str, with_pin: bool) -> FailureScreen:
    return FailureScreen(kind, device_id="fk-muestra01" if with_pin else "",
                         diagnostics="OutboxError: file is not a database", summary="outbox_damaged",
                         check_pin=(lambda pin: pin == "9999") if with_pin else None)


def _card_photo(found: bool) -> CardPhotoScreen:
    s = _noticed(CardPhotoScreen(), "¿Es la persona presente la de la fotografía?")
    front = _card()[0]
    s.set_images(front[150:480, 40:300] if found else None, front)
    return s


# -- signature and e-mail -------------------------------------------------------------------------
def _draw(screen: SignatureScreen) -> None:
    from tests.helpers.ui import tablet_stroke, wave

    pad = screen.pad
    tablet_stroke(pad, wave(pad.width(), pad.height()), pressure=0.7)


def _email(address: str = "", notice: str = "") -> EmailScreen:
    s = EmailScreen()
    s.email.setText(address)
    s.notice.show_text("Correo electrónico para el acuse (opcional).")
    return _noticed(s, notice, True) if notice else s


# -- review ---------------------------------------------------------------------------------------
def _review(liveness: str = "passed", consent: bool = False, warnings: tuple[str, ...] = (),
            notice: str = "", saving: bool = False) -> ReviewScreen:
    c = _card()[2]["citizen"]
    shown = {"passed": "superada", "failed": "no superada"}.get(liveness, "no realizada")
    fields = [("Nombre", _citizen()), ("CIC", c["cic"]), ("OCR", c["ocr"]),
              ("Sección", str(c["seccion"])), ("Vigencia", str(c["vigencia"])),
              ("Nacimiento", c["fecha_nacimiento"]), ("Sexo", c["sexo"]), ("Modelo", "G/H"),
              ("Correo", "ana.perez@gmail.com"), ("Prueba de vida", shown)]
    front, back, _truth = _card()
    data = ReviewData(PROCESS[1], PROCESS[2], fields, front, back, _selfie(), _signature_image(),
                      list(warnings), liveness=liveness)
    s = ReviewScreen(data)
    s.support.setChecked(consent)
    s.biometric.setChecked(consent)
    _noticed(s, notice or "Revise los datos y pida el consentimiento.", bool(notice))
    if saving:
        _after_layout(s, lambda s: s.set_saving(True))
    return s


# -- coordinator ----------------------------------------------------------------------------------
def _coordinator(locked: list[tuple[str, str]], output: str = "") -> CoordinatorScreen:
    s = CoordinatorScreen(locked)
    def show(s: CoordinatorScreen) -> None:
        for line in output.splitlines():
            s.show_result(line)

    return _after_layout(s, show)


# Long enough that the diagnostics box has to scroll.
DIAGNOSTICS = "\n".join(
    [f"Prueba {i + 1}: cámara 1280x720 a 15 cuadros/s; conexión en línea (MQTT); 12.4 GB libres."
     for i in range(14)]
)

STATES: list[tuple[str, Builder]] = [
    ("first_run", lambda: _first_run()),
    ("first_run_typed", lambda: _first_run("7KQ2-M9XB-T4RP-3HDA-8WNC", SERVER)),
    ("first_run_error", lambda: _first_run("7KQ2-M9XB-T4RP-3HDA", SERVER, ENROLL_MESSAGES["bad_code"], True)),
    ("first_run_busy", _first_run_busy),
    ("first_run_scanning", _first_run_scanning),
    ("first_run_not_enrollable", _not_enrollable),
    ("lock", lambda: _lock()),
    ("lock_pin_wrong", lambda: _lock(Msg("pin.wrong", n=2))),
    ("lock_no_name", lambda: _lock("Primero toque su nombre.")),
    ("lock_lockout", lambda: _lock(lockout=24.0)),
    ("coordinator_pin", lambda: _coordinator_pin([("coord-01", "COORDINACIÓN MUESTRA")])),
    ("coordinator_pin_none", lambda: _coordinator_pin([])),
    ("home", lambda: _home()),
    ("home_processes", lambda: _home(3)),
    ("home_no_process", lambda: _home(0)),
    ("home_notice", lambda: _home(notice="Captura cancelada; no se guardó nada.")),
    ("home_frozen", lambda: _home(warnings=("Captura detenida: hay 200 apoyos sin enviar (máximo 200). "
                                            "Conéctese a internet para sincronizar.",))),
    ("card_model", lambda: _noticed(CardModelScreen(card_pictures()),
                                    "Toque la imagen de la credencial que se parezca a la suya.")),
    ("card_photo", lambda: _card_photo(True)),
    ("card_photo_not_found", lambda: _card_photo(False)),
    ("capture_front", lambda: _capture("front", "Mantenga firme la credencial…", good=True)),
    ("capture_front_searching", lambda: _capture("front", "Coloque la credencial dentro del recuadro")),
    ("capture_front_untrusted", lambda: _capture("front", render(Msg("card.acomode_credencial")))),
    ("capture_back", lambda: _capture("back", "No mueva la credencial")),
    ("capture_camera_error", lambda: _capture("front", "Buscando…", camera_error="disconnected")),
    ("capture_selfie", lambda: _capture("selfie", "Centre el rostro en el recuadro")),
    ("capture_selfie_liveness_failed", lambda: _selfie_liveness("failed")),
    ("capture_selfie_liveness_unavailable", lambda: _selfie_liveness("unavailable")),
    ("signature", lambda: SignatureScreen(_citizen())),
    ("signature_refused", lambda: _noticed(
        SignatureScreen(_citizen()), "Falta la firma: pida a la persona que firme en el recuadro.", True)),
    ("signature_drawn", lambda: _after_layout(SignatureScreen(_citizen()), _draw)),
    ("signature_no_name", lambda: SignatureScreen("")),
    ("email", lambda: _email()),
    ("email_typed", lambda: _email("ana.perez.gonzalez.hernandez@gmail.com")),
    ("email_invalid", lambda: _email("ana.perez@", "El correo no parece válido; corríjalo o déjelo vacío.")),
    ("review_consent_missing", lambda: _review()),
    ("review_ready", lambda: _review(consent=True)),
    ("review_liveness_failed", lambda: _review("failed", consent=True)),
    ("review_liveness_not_done", lambda: _review("not_done")),
    ("review_warnings", lambda: _review(consent=True, warnings=(
        "La sección de la credencial no está en la tabla del dispositivo",))),
    # After a failed save the flow is back at the review, rebuilt: the boxes are empty again.
    ("review_save_failed", lambda: _review(notice="No se pudo guardar: no queda espacio en disco")),
    ("review_saving", lambda: _review(consent=True, saving=True)),
    ("saving", lambda: BusyScreen("Guardando…")),
    ("folio", lambda: FolioScreen("7Q4K-2MXB")),
    ("folio_sent", lambda: _folio("sent")),
    ("folio_sending", lambda: _folio("pending_online")),
    ("folio_offline", lambda: _folio("offline")),
    ("home_warnings", lambda: _home(warnings=WARNINGS)),
    ("failure_outbox", lambda: _failure("outbox_damaged", True)),
    ("failure_config_no_pin", lambda: _failure("config", False)),
    ("refused", lambda: RefusedScreen("La credencial ya no está vigente; no se puede captar el apoyo.")),
    ("coordinator", lambda: _coordinator([])),
    ("coordinator_locked_out", lambda: _coordinator(AUXILIARIES[:2], "Cámara: lista.")),
    ("coordinator_diagnostics", lambda: _coordinator([], DIAGNOSTICS)),
]


def host(builder: Builder, size: tuple[int, int]) -> tuple[QWidget, QWidget]:
    """A window of `size` holding the built screen as KioskWindow does (a stack, no margins),
    scaled as `kiosk.app.start` scales it, shown and laid out. Returns (window, screen); the
    caller closes the window (qtbot.addWidget does)."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    Scale.set_for(*size)
    app.setStyleSheet(style_sheet())
    screen = builder()
    win = QWidget()
    stack = QStackedWidget()
    layout = QVBoxLayout(win)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(stack)
    stack.addWidget(screen)
    win.resize(*size)
    win.show()
    for _ in range(3):   # layout, what builders left for after it, the layout that follows
        QApplication.processEvents()
    return win, screen
