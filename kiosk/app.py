"""The kiosk window: drives `kiosk.flow` from the screens in `kiosk.ui`.

Camera frames are polled from a QTimer (latest-frame, never queued); vision,
PIN checks, saving and status run on worker threads (`kiosk.ui.jobs`); the
UI thread only shows and forwards. Screens are rebuilt on every step, so a
language change is a rebuild.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QStackedWidget, QVBoxLayout, QWidget

from hardware.camera import Camera, CameraError, CameraState
from kiosk.flow import Flow, Notice, Step
from kiosk.save import SaveContext, read_front, save_draft, signature_problem
from kiosk.ui import i18n
from kiosk.ui.jobs import Jobs
from kiosk.ui.screens import ScreenFactory
from kiosk.vision.card import straighten
from kiosk.vision.credential import BackReading, read_back
from kiosk.vision.face import find_card_photo
from kiosk.vision.liveness import PROMPTS, LivenessChecker, LivenessState, assess_selfie
from kiosk.vision.quality import CaptureTracker
from sync.config import DeviceConfig
from sync.pin import verify_pin

_log = logging.getLogger("fieldkit.kiosk")
CAPTURE = (Step.FRONT, Step.BACK, Step.SELFIE)
SHOW_FRONT = "Muestre el FRENTE de la credencial (el lado con la fotografía)"
SHOW_BACK = "Voltee la credencial: muestre el REVERSO (el lado con el código QR)"


# -- what the analysers answer ----------------------------------------------------------------
@dataclass
class Guidance:
    text: str
    quad: np.ndarray | None = None
    good: bool = False
    challenge: str = ""


@dataclass
class Captured:
    image: np.ndarray
    reading: Any = None


@dataclass
class Refused:
    reason: str


class CardAnalyser:
    """Front or back: steady-and-good tracking, then the side's reading. Worker thread only."""

    def __init__(self, side: str, now_year: int, cfg: DeviceConfig | None, process_id: str) -> None:
        self.side, self.now_year, self.cfg, self.process_id = side, now_year, cfg, process_id
        self.tracker = CaptureTracker()
        self.no_qr = 0

    def __call__(self, image: np.ndarray, _t: float, force: bool = False) -> Guidance | Captured | Refused:
        v = self.tracker.update(image)
        if v.find is None or not (v.steady or (force and not v.find.touches_border)):
            text = "Mantenga firme la credencial…" if v.quality.ok else v.quality.message
            return Guidance(text, None if v.find is None else v.find.corners, v.quality.ok)
        crop = straighten(image, v.find.corners)
        photo = find_card_photo(crop)
        if self.side == "front":
            if photo is None:
                self.tracker.reset()
                return Guidance(SHOW_FRONT, v.find.corners)
            return Captured(crop, read_front(crop))
        if photo is not None:
            self.tracker.reset()
            return Guidance(SHOW_BACK, v.find.corners)
        scope = secciones = None
        if self.cfg is not None:
            scope, secciones = self.cfg.process(self.process_id).scope, self.cfg.seccion_table()
        r = read_back(image, now_year=self.now_year, secciones=secciones, scope=scope, find=v.find)
        if r.refusal is not None and r.refusal.code == "sin_qr":
            self.no_qr += 1  # INE's refusal only on a second steady look, never on one frame
            if self.no_qr >= 2:
                return Refused(r.refusal.message)
            self.tracker.reset()
            return Guidance("Revisando el reverso…", v.find.corners)
        self.no_qr = 0
        if r.refusal is not None:
            self.tracker.reset()
            return Guidance(r.refusal.message, v.find.corners)
        if any(f.code == "vencida" for f in r.flags):
            return Refused("La credencial ya no está vigente; no se puede captar el apoyo.")
        return Captured(r.card if r.card is not None else crop, r)


class SelfieAnalyser:
    """Selfie quality plus the random liveness challenge; captures itself once both pass."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.checker = LivenessChecker()
        self.state: LivenessState | None = None
        self.last_good: np.ndarray | None = None

    def __call__(self, image: np.ndarray, t: float, force: bool = False) -> Guidance | Captured:
        q = assess_selfie(image)
        self.state = self.checker.update(image, t)
        prompt = self.state.message
        if q.ok:
            self.last_good = image
            if self.state.verdict == "passed" or force:
                return Captured(np.array(image), self.state)
        elif force and self.last_good is not None:
            return Captured(np.array(self.last_good), self.state)
        if self.state.verdict == "failed":
            text = self.state.message + ". " + "Toque «Otra prueba» o «Tomar foto»."
        else:
            text = q.reasons[0] if q.reasons else prompt
        return Guidance(text, None, q.ok, challenge=PROMPTS[self.checker.challenge])


# -- services ---------------------------------------------------------------------------------
@dataclass
class Services:
    """What the window talks to outside Qt; built by kiosk.cli from the config."""

    config: DeviceConfig | None
    camera: Camera | None
    save_ctx: SaveContext | None = None
    status: Callable[[], dict[str, Any]] | None = None  # local channel client's status
    send_now: Callable[[], str] | None = None
    enroll: Callable[[str], str] | None = None
    coordinators: list[tuple[str, str, str]] = field(default_factory=list)  # id, name, pin_hash
    today: Callable[[], date] = date.today
    device_text: str = ""


class _Activity(QObject):
    def __init__(self, on_input: Callable[[], None]) -> None:
        super().__init__()
        self.on_input = on_input
        self.kinds = {
            QEvent.Type.MouseButtonPress,
            QEvent.Type.TouchBegin,
            QEvent.Type.TabletPress,
            QEvent.Type.KeyPress,
        }

    def eventFilter(self, _obj: QObject, e: QEvent) -> bool:
        if e.type() in self.kinds:
            self.on_input()
        return False


class KioskWindow(QWidget):
    def __init__(self, services: Services, lang: str = "es") -> None:
        super().__init__()
        self.sv = services
        cfg = services.config
        i18n.set_language(lang or (cfg.locale if cfg else "es"))
        self.jobs, self.cam_jobs = Jobs(2), Jobs(1)
        self.flow = Flow(
            verify_pin=self._verify,
            enrolled=cfg is not None,
            idle_lock_seconds=(cfg.idle_lock_minutes * 60.0) if cfg else 300.0,
        )
        self.flow.listeners.append(self._on_step)
        self.screens = ScreenFactory(self)
        self.stack = QStackedWidget()
        QVBoxLayout(self).addWidget(self.stack)
        self.layout().setContentsMargins(0, 0, 0, 0)
        self.screen: QWidget | None = None
        self.coordinator_pin = False  # the lock screen asks for a coordinator's PIN
        self.pin_verdict = False
        self.status_data: dict[str, Any] = {}
        self.preview_frames = 0
        self.analysed_frames = 0
        self._analyser: Any = None
        self._gen = 0
        self._analysing = False
        self._force = False
        self._last_index: int | None = None
        self._cam_lost = False
        self._acked_base: tuple[date, int] | None = None  # acked_total seen first today
        self._frame_timer = QTimer(self, interval=33, timeout=self._poll_frame)
        self._tick_timer = QTimer(self, interval=1000, timeout=self._tick)
        self._status_timer = QTimer(self, interval=5000, timeout=self.refresh_status)
        self._folio_timer = QTimer(self, singleShot=True, interval=30000, timeout=self._folio_timeout)
        self._activity = _Activity(lambda: self.flow.touch(time.monotonic()))
        QApplication.instance().installEventFilter(self._activity)
        self._tick_timer.start()
        self._status_timer.start()
        self._on_step(self.flow.step)
        self.refresh_status()
        # The model chooser's pictures are drawn by the card generator: ready them early, off-thread.
        QTimer.singleShot(500, lambda: self.jobs.run(card_pictures, self._pictures_ready))

    def _pictures_ready(self, pictures: dict[str, np.ndarray]) -> None:
        self.screens.pictures = pictures
        if self.flow.step == Step.CARD_MODEL:
            self.rebuild()

    # -- flow -> screens ------------------------------------------------------------------
    def _on_step(self, step: Step) -> None:
        if step not in CAPTURE:
            self._frame_timer.stop()
        if step in (Step.LOCKED, Step.FIRST_RUN):
            self._camera(False)
        self.show_screen(self.screens.build(step))
        if step in CAPTURE:
            self._begin_capture(step)
        if step == Step.FOLIO:
            self._folio_timer.start()
        if step == Step.HOME:
            self.refresh_status()

    def show_screen(self, w: QWidget) -> None:
        old = self.screen
        self.screen = w
        self.stack.addWidget(w)
        self.stack.setCurrentWidget(w)
        if old is not None:
            self.stack.removeWidget(old)
            old.deleteLater()
        self.show_notice()

    def show_notice(self, notice: Notice | None = None) -> None:
        n = notice or self.flow.notice
        target = getattr(self.screen, "notice", None)
        if target is not None and hasattr(target, "show_text"):
            target.show_text(n.text if n else None, n.error if n else False)

    def rebuild(self) -> None:
        self.show_screen(self.screens.build(self.flow.step))

    # -- lock -------------------------------------------------------------------------------
    def _verify(self, _aux: str, _pin: str) -> bool:
        return self.pin_verdict  # computed off the UI thread just before unlock()

    def try_unlock(self, aux_id: str, name: str, pin: str) -> None:
        coordinator = self.coordinator_pin
        people = (
            self.sv.coordinators
            if coordinator
            else [(a.id, a.name, a.pin_hash) for a in (self.sv.config.auxiliaries if self.sv.config else [])]
        )
        stored = next((h for i, _n, h in people if i == aux_id), "")

        def done(ok: bool) -> None:
            if self.flow.step not in (Step.LOCKED, Step.HOME):
                return
            self.pin_verdict = ok
            unlocked = self.flow.unlock(aux_id, name, pin, time.monotonic(), coordinator=coordinator)
            self.pin_verdict = False
            if unlocked:
                self.coordinator_pin = False
                if not coordinator:
                    self._camera(True)
            else:
                self.show_notice()
                self._tick()

        if self.flow.lockout_remaining(aux_id, time.monotonic()) > 0:
            done(False)
        else:
            self.jobs.run(lambda: verify_pin(pin, stored), done)

    def toggle_coordinator_pin(self) -> None:
        self.coordinator_pin = not self.coordinator_pin
        self.rebuild()

    def _tick(self) -> None:
        now = time.monotonic()
        if self.flow.tick(now):
            self.show_notice()
        lock = getattr(self.screen, "set_lockout", None)
        sel = getattr(self.screen, "selected", None)
        if lock is not None and sel:
            lock(self.flow.lockout_remaining(sel[0], now))

    # -- home -----------------------------------------------------------------------------
    def period_refusal(self, process_id: str) -> str | None:
        p = self.sv.config.process(process_id) if self.sv.config else None
        today = self.sv.today()
        if p is None:
            return None
        if today < date.fromisoformat(p.start):
            return f"El periodo de captación empieza el {p.start}."
        if today > date.fromisoformat(p.end):
            return f"El periodo de captación terminó el {p.end}."
        return None

    def warnings(self, process_ids: list[str]) -> list[str]:
        out, today = [], self.sv.today()
        pending = self.status_data.get("pending") or 0
        for pid in process_ids:
            p = self.sv.config.process(pid) if self.sv.config else None
            if p is None:
                continue
            end = date.fromisoformat(p.end)
            days = (end - today).days
            if 0 <= days <= 3:
                out.append(f"La captación termina el {p.end} ({days} día(s)).")
            deadline = datetime.combine(end + timedelta(days=2), datetime.min.time())
            if end < today <= end + timedelta(days=1):
                out.append(
                    f"Periodo cerrado: envíe los {pending} apoyos pendientes antes del "
                    f"{deadline:%Y-%m-%d %H:%M} (24 h)."
                )
        return out

    def new_support(self, process_id: str) -> None:
        p = self.sv.config.process(process_id) if self.sv.config else None
        if p is None:
            return
        if not self.flow.start_capture(p.id, p.aspirant_id, refusal=self.period_refusal(p.id)):
            self.show_notice()

    def refresh_status(self) -> None:
        if self.flow.step in CAPTURE:
            return
        fn = self.sv.status
        ctx = self.sv.save_ctx
        if fn is None and ctx is None:
            return

        def snapshot() -> dict[str, Any]:
            from hardware.power import read_power

            data: dict[str, Any] = {}
            if ctx is not None:
                c = ctx.counts()
                data.update(pending=c.unacknowledged, acked_total=c.acked_total)
            if fn is not None:
                try:
                    data.update(fn())
                except Exception as e:  # the agent not answering is a state, not a crash
                    data.update(agent_error=str(e))
            power = read_power()
            data["battery"] = power.battery_percent
            data["on_ac"] = power.on_ac
            return data

        def done(data: dict[str, Any]) -> None:
            acked, today = data.get("acked_total"), self.sv.today()
            if acked is not None:
                if self._acked_base is None or self._acked_base[0] != today:
                    self._acked_base = (today, int(acked))
                data["sent_today"] = int(acked) - self._acked_base[1]
            self.status_data = data
            updater = getattr(self.screen, "set_status_data", None)
            if updater is not None:
                updater(data)

        self.jobs.run(snapshot, done)

    def send_now(self) -> None:
        fn = self.sv.send_now
        if fn is None:
            self.show_notice(Notice("El agente de sincronización no está disponible.", error=True))
            return
        self.jobs.run(
            fn,
            lambda msg: (self.show_notice(Notice(str(msg))), self.refresh_status()),
            lambda e: self.show_notice(Notice(f"No se pudo pedir el envío: {e}", error=True)),
        )

    # -- camera and analysis ---------------------------------------------------------------------
    def _camera(self, on: bool) -> None:
        cam = self.sv.camera
        if cam is not None:
            self.cam_jobs.run(cam.start if on else cam.stop)

    def _begin_capture(self, step: Step) -> None:
        self._gen += 1
        self._analysing = self._force = False
        d = self.flow.draft
        year = self.sv.today().year
        if step == Step.SELFIE:
            self._analyser = SelfieAnalyser()
        else:
            side = "front" if step == Step.FRONT else "back"
            self._analyser = CardAnalyser(side, year, self.sv.config, d.process_id if d else "")
        if self.sv.camera is None:
            self.screen.set_camera_error("No hay cámara configurada.")  # type: ignore[union-attr]
            return
        self._camera(True)
        self._frame_timer.start()

    def shutter(self) -> None:
        self._force = True

    def retry_challenge(self) -> None:
        if isinstance(self._analyser, SelfieAnalyser):
            self._gen += 1
            self._analysing = False
            self._analyser = SelfieAnalyser()

    def _poll_frame(self) -> None:
        cam, screen = self.sv.camera, self.screen
        if cam is None or not hasattr(screen, "show_frame"):
            return
        st = cam.status()
        if st.state is CameraState.ERROR:
            if not self._cam_lost:
                self._cam_lost = True
                tracker = getattr(self._analyser, "tracker", None)
                if tracker is not None:
                    tracker.reset()
            screen.set_camera_error(st.message)
            return
        try:
            frame = cam.latest_frame(0, newer_than=self._last_index)
        except CameraError:
            return
        if self._cam_lost:
            self._cam_lost = False
            screen.set_camera_error(None)
        self._last_index = frame.index
        screen.show_frame(frame.image)
        self.preview_frames += 1
        if self._analysing or self._analyser is None:
            return
        self._analysing = True
        gen, analyser, force, image, t = self._gen, self._analyser, self._force, frame.image, frame.timestamp
        self._force = False
        self.jobs.run(
            lambda: analyser(image, t, force),
            lambda r: self._analysed(gen, r),
            lambda e: self._analysis_failed(gen, e),
        )

    def _analysis_failed(self, gen: int, e: Exception) -> None:
        _log.error("analysis failed", exc_info=e)
        if gen == self._gen:
            self._analysing = False

    def _analysed(self, gen: int, r: Guidance | Captured | Refused) -> None:
        if gen != self._gen or self.flow.step not in CAPTURE:
            return
        self._analysing = False
        self.analysed_frames += 1
        step, screen = self.flow.step, self.screen
        if isinstance(r, Guidance):
            screen.set_guidance(r.text, r.quad, r.good)  # type: ignore[union-attr]
            if r.challenge:
                screen.set_challenge(r.challenge)  # type: ignore[union-attr]
            return
        self._gen += 1
        if isinstance(r, Refused):
            self.flow.back_captured(None, None, refusal=r.reason)
        elif step == Step.FRONT:
            self.flow.front_captured(r.image, r.reading, r.reading.model)
        elif step == Step.BACK:
            self.flow.back_captured(r.image, r.reading)
        else:
            self.flow.selfie_captured(r.image, r.reading)

    # -- signature, save, folio -----------------------------------------------------------------
    def signature_done(self, sig: Any, problem: str | None) -> None:
        problem = problem or signature_problem(sig)
        if not self.flow.signature_done(sig, problem):
            self.show_notice()

    def save(self, consent: bool) -> None:
        if not self.flow.save(consent):
            self.show_notice()
            return
        ctx, draft = self.sv.save_ctx, self.flow.draft
        if ctx is None:
            self.flow.save_failed("este dispositivo no tiene bandeja de salida configurada")
            return
        self.jobs.run(
            lambda: save_draft(draft, ctx),
            lambda res: self.flow.saved(res.folio),
            lambda e: self.flow.save_failed(getattr(e, "message", str(e))),
        )

    def _folio_timeout(self) -> None:
        if self.flow.step == Step.FOLIO:
            self.flow.finish()

    def citizen_name(self) -> str:
        r = self.flow.draft.back_reading if self.flow.draft else None
        f = r.fields if isinstance(r, BackReading) else None
        return " ".join(x for x in (f.nombres, f.apellido_paterno, f.apellido_materno) if x) if f else ""

    # -- coordinator --------------------------------------------------------------------------
    def open_coordinator(self) -> None:
        if self.flow.step == Step.HOME:
            self.coordinator_pin = True
            self.show_screen(self.screens.build(Step.LOCKED))
        else:
            self.toggle_coordinator_pin()

    def set_language(self, lang: str) -> None:
        i18n.set_language(lang)
        self.rebuild()

    def diagnose(self, what: str) -> None:
        out = getattr(self.screen, "show_result", None)
        self.jobs.run(
            lambda: run_diagnostic(what, self.sv),
            lambda text: out and out(text),
            lambda e: out and out(f"{what}: {e}"),
        )

    def rebuild_home(self) -> None:
        self.coordinator_pin = False
        self.rebuild()

    def enroll(self, code: str) -> None:
        fn = self.sv.enroll
        if fn is None or not code:
            return

        def done(msg: str) -> None:
            self.flow.enrolled_now()
            self.show_notice(Notice(str(msg)))

        self.jobs.run(
            lambda: fn(code),
            done,
            lambda e: self.show_notice(Notice(f"No se pudo inscribir: {e}", error=True)),
        )

    def sign_out(self) -> None:
        self.coordinator_pin = False
        self.flow.lock()

    def close_services(self) -> None:
        self._frame_timer.stop()
        QApplication.instance().removeEventFilter(self._activity)
        self.jobs.wait()
        if self.sv.camera is not None:
            self.cam_jobs.wait()
            self.sv.camera.stop()

    def closeEvent(self, e: Any) -> None:
        self.close_services()
        super().closeEvent(e)


def run_diagnostic(what: str, sv: Services) -> str:
    """Coordinator diagnostics, on a worker thread: one line of Spanish text."""
    if what == "camera":
        if sv.camera is None:
            return "Cámara: no configurada."
        sv.camera.start()
        try:
            f = sv.camera.latest_frame(3.0, fail_fast=False)
        except CameraError as e:
            return f"Cámara: ERROR. {e.message}"
        info = sv.camera.info
        name = f"{info.backend} {info.name}" if info else ""
        return f"Cámara: bien ({name}, {f.image.shape[1]}x{f.image.shape[0]})."
    if what == "connection":
        if sv.status is None:
            return "Conexión: el agente de sincronización no responde."
        return "Conexión: " + ", ".join(f"{k}={v}" for k, v in sv.status().items())
    if what == "storage":
        from hardware.storage import storage_status

        if sv.config is None:
            return "Almacenamiento: sin configuración."
        st = storage_status(sv.config.device.data_dir)
        counts = sv.save_ctx.counts() if sv.save_ctx else None
        text = f"Almacenamiento: {st.free_bytes / 1e9:.1f} GB libres de {st.total_bytes / 1e9:.1f} GB" + (
            " (SÓLO LECTURA)" if st.read_only else ""
        )
        return text + (f"; por enviar {counts.unacknowledged}" if counts else "")
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("apoyo-fieldkit")
    except PackageNotFoundError:
        v = "desconocida"
    dev = sv.config.device.id if sv.config else "no inscrito"
    return f"Versión {v}; dispositivo {dev}; Qt {__import__('PySide6').__version__}."


def card_pictures() -> dict[str, np.ndarray]:
    """The chooser's pictures: fronts of each model drawn by the synthetic card generator."""
    import random

    from kiosk.testdata.cards import render_front
    from kiosk.testdata.roll import generate_roll

    base = next(generate_roll(1, 7))
    out = {}
    for m in ("E", "F", "G", "H", "D", "C"):
        from dataclasses import replace

        img, _ = render_front(replace(base, modelo=m), random.Random(f"chooser:{m}"))
        out[m] = img
    return out


def camera_spec(spec: str) -> str:
    """`picamera[:N]` is the Pi camera (hardware calls it `pi[:N]`); the rest passes through."""
    kind, sep, arg = spec.partition(":")
    return ("pi" + sep + arg) if kind.lower() == "picamera" else spec


def build_services(cfg: DeviceConfig | None, camera: str, config_path: str = "") -> Services:
    """Camera, outbox and the local channel client from the config (no Qt)."""
    from hardware.camera import open_camera

    cam = open_camera(camera_spec(camera))
    if cfg is None:
        return Services(None, cam, device_text=f"Configuración esperada en: {config_path}")
    from sync.local_channel import LocalChannelClient

    client = LocalChannelClient.for_data_dir(cfg.device.data_dir)

    def send_now() -> str:
        n = client.send_now()
        return f"Envío solicitado ({n} por enviar)." if n is not None else "Envío solicitado."

    return Services(
        cfg,
        cam,
        SaveContext.from_config(cfg),
        client.status,
        send_now,
        device_text=f"Dispositivo {cfg.device.id}",
    )


def run(
    *,
    camera: str,
    config: DeviceConfig | None,
    config_path: str = "",
    lang: str | None = None,
    size: str = "800x480",
    windowed: bool = False,
) -> int:
    import sys

    from kiosk.ui.theme import Scale, style_sheet

    t0 = time.perf_counter()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    w, h = (int(x) for x in size.lower().split("x"))
    Scale.set_for(w, h)
    app.setStyleSheet(style_sheet())
    win = KioskWindow(
        build_services(config, camera, config_path), lang or (config.locale if config else "es")
    )
    if windowed:
        win.resize(w, h)
        win.show()
    else:
        win.showFullScreen()
    QTimer.singleShot(
        0, lambda: _log.info("lock screen shown %.0f ms after start", (time.perf_counter() - t0) * 1000)
    )
    app.aboutToQuit.connect(win.close_services)
    return app.exec()
