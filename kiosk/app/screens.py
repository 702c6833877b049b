"""Builds the screen for each flow step, connects its signals to the controllers and attaches the
controllers' views (`kiosk.app.shell`) to it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import cv2
import numpy as np
from PySide6.QtCore import QTimer

from kiosk.app.capture import CaptureController
from kiosk.app.card_pictures import card_pictures
from kiosk.app.citizen import CitizenController
from kiosk.app.citizen_screens import STEPS as CITIZEN_STEPS
from kiosk.app.citizen_screens import CitizenScreens
from kiosk.app.enroll import EnrollController
from kiosk.app.home import HomeController
from kiosk.app.lock import LockController
from kiosk.app.shell import Built, Shell
from kiosk.capture.flow import Step, liveness_outcome
from kiosk.capture.warnings import battery_low, sending_state
from kiosk.i18n import Msg
from kiosk.ui.capture import CaptureScreen
from kiosk.ui.cards import CardModelScreen, CardPhotoScreen
from kiosk.ui.coordinator import CoordinatorScreen
from kiosk.ui.done import BusyScreen, FolioScreen, RefusedScreen
from kiosk.ui.first_run import FirstRunScreen
from kiosk.ui.home import HomeScreen, HomeStatus
from kiosk.ui.lock import LockScreen
from kiosk.ui.review import ReviewData, ReviewScreen
from kiosk.ui.sign import EmailScreen, SignatureScreen
from kiosk.ui.texts import CITIZEN_TITLES
from kiosk.ui.theme import N_, citizen_style, tr


class Composed(Shell, Protocol):
    """The window as the screen factory sees it: the shell and its controllers."""

    capture: CaptureController
    home: HomeController
    lock: LockController
    enrollment: EnrollController
    citizen: CitizenController | None  # a self-service device's


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return tr("nunca")
    if seconds < 90:
        return tr("hace {} s", int(seconds))
    if seconds < 5400:
        return tr("hace {} min", int(seconds // 60))
    return tr("hace {} h", int(seconds // 3600))


CONNECTION = {
    "online": N_("En línea"),
    "offline": N_("Sin conexión"),
    "connecting": N_("Conectando…"),
    "stopped": N_("Agente detenido"),
}


def status_texts(data: dict[str, Any], low_battery: float) -> HomeStatus:
    """The local channel's status (plus outbox counts and battery) as the status bar's texts."""
    s = HomeStatus(pending=data.get("pending"), sent_today=data.get("sent_today"))
    state = data.get("connection")
    s.online = state == "online"
    if "agent_error" in data:
        s.connection = tr("Agente detenido")
    elif state is None:
        s.connection = tr("Sin datos")
    else:
        s.connection = tr(CONNECTION.get(state, state))
        if s.online and data.get("transport"):
            s.connection += f" ({str(data['transport']).upper()})"
    b = data.get("battery")
    s.battery = "—" if b is None else f"{b:.0f} %" + (" ⚡" if data.get("on_ac") else "")
    s.battery_low = battery_low(b, data.get("on_ac"), low_battery)  # the banner's rule too
    s.last_sync = _ago(data.get("last_success_age_s"))
    return s


def _signature_image(sig: Any) -> np.ndarray | None:
    if sig is None:
        return None
    from sync.wire.imaging import render_signature

    png = render_signature(sig)
    g = cv2.imdecode(np.frombuffer(png.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert g is not None  # our own PNG
    return cv2.cvtColor(g, cv2.COLOR_GRAY2RGB)


class _Results:
    """The coordinator screen's result line as a notice target (send now, diagnostics)."""

    def __init__(self, screen: CoordinatorScreen) -> None:
        self.screen = screen

    def show_text(self, text: str | None, error: bool = False) -> None:
        if text:
            self.screen.show_result(text)


class ScreenFactory:
    def __init__(self, win: Composed) -> None:
        self.win = win
        self.pictures: dict[str, np.ndarray] = {}
        self.citizen_screens = CitizenScreens(win)

    def build(self, step: Step) -> Built:
        """The step's screen; the window detached the controllers' views before."""
        if step in CITIZEN_STEPS:
            return self.citizen_screens.build(step)
        built: Built = getattr(self, f"_{step.value}")()
        # The citizen's larger text on the shared screens too; not on the staff's, nor on the
        # review, whose notice scrolls (it zooms its body only).
        if self.win.flow.citizen and step not in (Step.LOCKED, Step.COORDINATOR, Step.REVIEW):
            citizen_style(built.widget)
        return built

    def _first_run(self) -> Built:
        w = self.win
        s = FirstRunScreen(w.sv.device_text, w.sv.enroll is not None)
        s.enroll.connect(w.enrollment.enroll)
        s.scan.connect(w.enrollment.scan_qr)
        w.enrollment.view = s
        return Built(s, s.notice)

    def _locked(self) -> Built:
        w, lock = self.win, self.win.lock
        if lock.coordinator_pin:
            people = [(i, n) for i, n, _h in lock.people(coordinator=True)]
            s = LockScreen(people, N_("PIN del coordinador"))
            s.coord_button.setText(tr("Volver"))
            if not people:
                s.notice.show_text(tr("Este dispositivo no tiene coordinador configurado."), error=True)
        else:
            s = LockScreen([(i, n) for i, n, _h in lock.people(coordinator=False)])
        s.unlock.connect(lock.try_unlock)
        s.coordinator.connect(lock.toggle_coordinator_pin if w.flow.step == Step.LOCKED else lock.back_home)
        lock.view = s
        return Built(s, s.notice)

    def _home(self) -> Built:
        w, home = self.win, self.win.home
        cfg, op = w.sv.config, w.flow.operator
        aux = next((a for a in cfg.auxiliaries if op and a.id == op.auxiliary_id), None) if cfg else None
        procs = [cfg.process(pid) for pid in aux.processes] if aux and cfg else []
        offered = [p.id for p in home.offered(procs)]
        s = HomeScreen(op.name if op else "",
                       [(p.id, p.name, p.aspirant_name) for p in procs if p.id in offered])
        s.new_support.connect(home.new_support)
        s.send_now.connect(home.send_now)
        s.coordinator.connect(home.open_coordinator)
        s.sign_out.connect(w.lock.sign_out)
        low_battery = cfg.warnings.low_battery_percent if cfg else 20.0

        def status_changed(data: dict[str, Any]) -> None:
            s.status.set_status(status_texts(data, low_battery))
            s.set_warnings(home.warnings([p.id for p in procs]))
            # The agent's clock offset arrived (or the day changed): offer what is open now.
            if [p.id for p in home.offered(procs)] != offered and w.flow.step == Step.HOME:
                QTimer.singleShot(0, s, w.rebuild)

        home.status_view = _StatusHook(status_changed)
        status_changed(home.status_data)
        return Built(s, s.notice)

    def _card_model(self) -> Built:
        w = self.win
        if not self.pictures:
            def ready(p: dict[str, np.ndarray]) -> None:
                self.pictures = p
                if w.flow.step == Step.CARD_MODEL:
                    w.rebuild()

            w.jobs.run(card_pictures, ready)
            return Built(BusyScreen(N_("Cargando…")))
        s = CardModelScreen(self.pictures)
        s.chosen.connect(w.flow.choose_model)
        s.cancel.connect(w.flow.cancel)
        return Built(s, s.notice)

    def _capture(self, kind: str) -> Built:
        w, cap = self.win, self.win.capture
        citizen = w.flow.citizen
        s = CaptureScreen(kind, CITIZEN_TITLES[kind] if citizen else None, citizen=citizen)
        s.shutter.connect(cap.shutter)
        s.cancel.connect(w.flow.cancel)
        s.retry_challenge.connect(cap.retry_challenge)
        cap.view = s
        return Built(s, s.notice)

    def _front(self) -> Built:
        return self._capture("front")

    def _back(self) -> Built:
        return self._capture("back")

    def _selfie(self) -> Built:
        return self._capture("selfie")

    def _card_photo(self) -> Built:
        w = self.win
        d = w.flow.draft
        s = CardPhotoScreen(citizen=w.flow.citizen)
        photo = getattr(getattr(d.front_reading, "photo", None), "crop", None) if d else None
        s.set_images(photo, d.front if d else None)
        s.same.connect(w.flow.confirm_card_photo)
        s.retake.connect(w.flow.retake_front)
        s.cancel.connect(w.flow.cancel)
        return Built(s, s.notice)

    def _signature(self) -> Built:
        w = self.win
        s = SignatureScreen(w.capture.citizen_name(), citizen=w.flow.citizen)
        s.done.connect(w.capture.signature_done)
        s.cancel.connect(w.flow.cancel)
        s.retake_selfie.connect(w.flow.retake_selfie)
        return Built(s, s.notice)

    def _email(self) -> Built:
        w = self.win
        s = EmailScreen()
        d = w.flow.draft
        if d and d.email:
            s.email.setText(d.email)
        def done(text: str) -> None:
            if not w.flow.email_done(text):
                w.show_notice()

        s.done.connect(done)
        s.cancel.connect(w.flow.cancel)
        return Built(s, s.notice)

    def _review(self) -> Built:
        w = self.win
        d = w.flow.draft
        assert d is not None
        cfg = w.sv.config
        p = cfg.process(d.process_id) if cfg else None
        r = d.back_reading
        f = getattr(r, "fields", None)
        live = liveness_outcome(d.liveness)
        fields = [
            (N_("Nombre"), w.capture.citizen_name()),
            ("CIC", f.cic if f else ""),
            ("OCR", f.ocr if f else ""),
            (N_("Sección"), f.seccion if f else ""),
            (N_("Vigencia"), str(f.vigencia) if f else ""),
            (N_("Nacimiento"), f.fecha_nacimiento if f else ""),
            (N_("Sexo"), f.sexo if f else ""),
            (N_("Modelo"), str(d.model or getattr(r, "model", "") or "")),
            (N_("Correo"), d.email or tr("(ninguno)")),
        ]
        data = ReviewData(
            p.name if p else d.process_id,
            p.aspirant_name if p else d.aspirant_id,
            fields,
            d.front,
            d.back,
            d.selfie,
            _signature_image(d.signature),
            [Msg(n.msg_code) for n in getattr(r, "flags", [])],  # kiosk.cardread's reasons
            liveness=live,
        )
        s = ReviewScreen(data, citizen=w.flow.citizen)
        s.save.connect(w.capture.save)
        s.redo.connect(lambda k: w.flow.back_to(Step(k)))
        s.cancel.connect(w.flow.cancel)
        return Built(s, s.notice)

    def _saving(self) -> Built:
        return Built(BusyScreen(N_("Guardando…")))

    def _folio(self) -> Built:
        w = self.win
        s = FolioScreen(w.flow.folio or "", citizen=w.flow.citizen)
        s.finish.connect(w.flow.finish)

        def status_changed(data: dict[str, Any]) -> None:
            queued = data.get("folio_queued")  # absent: the snapshot was taken before this folio
            s.set_sending(sending_state(data, queued if isinstance(queued, bool) else None))

        w.home.status_view = _StatusHook(status_changed)
        return Built(s)

    def _refused(self) -> Built:
        n = self.win.flow.notice
        s = RefusedScreen(n.text if n else "", citizen=self.win.flow.citizen)
        s.finish.connect(self.win.flow.finish)
        return Built(s)

    def _coordinator(self) -> Built:
        w, home, lock = self.win, self.win.home, self.win.lock
        now = time.monotonic()
        locked = [(i, n) for i, n, _h in lock.people(coordinator=False)
                  if w.flow.lockout_remaining(i, now) > 0]
        s = CoordinatorScreen(locked)
        s.send_now.connect(home.send_now)
        s.diagnose.connect(home.diagnose)
        s.set_language.connect(home.set_language)
        def clear_lockout(aux_id: str) -> None:
            w.flow.clear_lockout(aux_id)
            w.rebuild()

        s.clear_lockout.connect(clear_lockout)
        s.sign_out.connect(lock.sign_out)
        s.leave.connect(w.flow.leave_coordinator)
        home.result_view = s
        return Built(s, _Results(s))


class _StatusHook:
    """The home screen's reaction to a new status snapshot, as the controller's StatusView."""

    def __init__(self, fn: Callable[[dict[str, Any]], None]) -> None:
        self.fn = fn

    def set_status_data(self, data: dict[str, Any]) -> None:
        self.fn(data)
